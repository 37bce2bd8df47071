"""The points where installations lets higher apps react or add rules (argus_plugins.core.hooks; the
callables are listed in ``settings.ARGUS_HOOKS``)."""

#: Extra rules of ``authorize()``: ``policy(installation, at) -> Refusal | None``. A refusal stops installs
#: and runs alike, and shows the installation as suspended (the marketplace's paid-plugin entitlement).
AUTHORIZATION_POLICIES = "installations.authorization_policies"
#: ``handler(installation_id)``, inside the install's transaction (handlers defer their work to the commit).
PLUGIN_INSTALLED = "installations.plugin_installed"
#: ``handler(installation_id)``, inside the uninstall's transaction (e.g. the marketplace's install counts).
PLUGIN_UNINSTALLED = "installations.plugin_uninstalled"
#: ``handler(installation_id, capability, reason)``, inside the revocation's transaction: runs queued or
#: running under the revoked grant are stopped in the same commit.
GRANT_REVOKED = "installations.grant_revoked"
