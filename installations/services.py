"""Installations and capability grants: tenant admins decide what a third-party plugin may touch."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError, DomainErrors, not_found
from argus_plugins.core.hooks import run_hooks
from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.core.validation import clean_text, parse_uuid, validate_json_schema
from argus_plugins.tenancy.models import Membership, Role, TenantPolicy, User
from argus_plugins.tenancy.permissions import (
    require_caller_role,
    require_tenant_object_role,
    require_tenant_role,
    tenant_ids_of,
    with_caller_role,
    with_role_of_user,
)
from ledger import records as ledger_records
from registry.models import PluginVersion, VersionStatus
from registry.services import visible_plugins
from registry.versioning import parse_version

from .authorization import newest_published_version, policy_refusals, resolve_version, version_refusals
from .error_codes import InstallationErrorCode
from .hooks import GRANT_REVOKED, PLUGIN_INSTALLED, PLUGIN_UNINSTALLED
from .models import Capability, CapabilityGrant, Installation, InstallationEvent, InstallationEventKind

MAX_CONFIG_BYTES = 64 * 1024
LATEST = "latest"


def installations_visible_to(user: Any) -> QuerySet[Installation]:
    return Installation.objects.filter(tenant_id__in=tenant_ids_of(user))


def get_installation(
    user: Any, installation_id: Any, role: Role = Role.VIEWER, field: str = "id"
) -> Installation:
    """Load an installation the user may act on with ``role``; foreign ones are simply not found."""
    # One statement for the row and the caller's role in its tenant (runPlugin's hot path); get() rather
    # than first(): a primary-key lookup needs no ORDER BY.
    pk = parse_uuid(installation_id, field=field)
    if getattr(user, "is_authenticated", False):
        installation = _INSTALLATION_WITH_ROLE.first(pk, user.pk)
    else:
        installation = with_caller_role(_installations(), user).filter(pk=pk).first()
    if installation is None:
        raise not_found("Installation", field)
    require_caller_role(user, installation, role, "Installation", field)
    return installation


def _installations() -> QuerySet[Installation]:
    return Installation.objects.select_related("tenant", "plugin", "pinned_version__signing_key")


_INSTALLATION_WITH_ROLE = PreparedQuery(
    lambda pk, user_id: with_role_of_user(_installations(), user_id).filter(pk=pk),
    Installation._meta.pk,
    Membership._meta.get_field("user"),
)


def _pin(plugin_id: Any, version: Any, *, allow_deprecated: bool = False) -> PluginVersion | None:
    """A version string pins that version; None, "" or "latest" follows the newest published one.

    A DEPRECATED version still runs for installations already pinned to it, but pinning one anew is an
    explicit choice (``allow_deprecated``): the refusal names the version to use instead.
    """
    if version in (None, "", LATEST):
        return None
    parse_version(version)
    pinned = (
        PluginVersion.objects.select_related("signing_key", "plugin")
        .filter(plugin_id=plugin_id, version=version)
        .first()
    )
    if pinned is None or pinned.status not in (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED):
        raise DomainError(
            InstallationErrorCode.NOT_INSTALLABLE,
            f"Version {version} is not a published version of this plugin.",
            "version",
        )
    if pinned.status == VersionStatus.DEPRECATED and not allow_deprecated:
        newest = newest_published_version(plugin_id)
        instead = f"Use {newest.version} instead" if newest else "No published version replaces it"
        reason = f" ({pinned.deprecation_reason})" if pinned.deprecation_reason else ""
        raise DomainError(
            InstallationErrorCode.VERSION_DEPRECATED,
            f"Version {version} is deprecated{reason}. {instead}, or pass allowDeprecated: true to pin it.",
            "version",
        )
    return pinned


def _check_installable(version: PluginVersion | None) -> None:
    if version is None:
        raise DomainError(
            InstallationErrorCode.NOT_INSTALLABLE, "The plugin has no published version.", "version"
        )
    refusals = version_refusals(version)
    if refusals:
        raise DomainErrors(
            DomainError(InstallationErrorCode.NOT_INSTALLABLE, refusal.message, "version")
            for refusal in refusals
        )


def _check_entitled(installation: Installation) -> None:
    """The registered policies (a paid plugin needs an entitlement) apply to installs as authorize() applies
    them to runs."""
    for refusal in policy_refusals(installation, clock.now()):
        raise DomainError(refusal.code, refusal.message, "pluginId")


def _clean_config(config: Any, version: PluginVersion) -> dict[str, Any]:
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise DomainError(
            InstallationErrorCode.CONFIG_INVALID, "The configuration must be a JSON object.", "config"
        )
    if len(json.dumps(config)) > MAX_CONFIG_BYTES:
        raise DomainError(CommonErrorCode.TOO_LONG, "The configuration is too large.", "config")
    validate_json_schema(
        config,
        version.manifest.get("config_schema"),
        code=InstallationErrorCode.CONFIG_INVALID,
        field="config",
    )
    return config


@transaction.atomic
def install_plugin(
    *,
    actor: User,
    tenant_id: Any,
    plugin_id: Any,
    version: Any = None,
    config: Any = None,
    allow_deprecated: bool = False,
) -> Installation:
    membership = require_tenant_role(actor, tenant_id, Role.ADMIN)
    plugin = visible_plugins(actor).filter(pk=parse_uuid(plugin_id, field="pluginId")).first()
    if plugin is None:
        raise not_found("Plugin", "pluginId")
    pinned = _pin(plugin.pk, version, allow_deprecated=allow_deprecated)
    probe = Installation(tenant=membership.tenant, plugin=plugin, pinned_version=pinned)
    effective = resolve_version(probe)
    _check_installable(effective)
    _check_entitled(probe)
    config = _clean_config(config, effective)
    try:
        with transaction.atomic():
            installation = Installation.objects.create(
                tenant=membership.tenant,
                plugin=plugin,
                pinned_version=pinned,
                config=config,
                installed_by=actor,
            )
    except IntegrityError:
        raise DomainError(
            InstallationErrorCode.ALREADY_INSTALLED,
            "This plugin is already installed in the tenant.",
            "pluginId",
        ) from None
    InstallationEvent.objects.create(
        installation=installation,
        tenant=installation.tenant,
        plugin=plugin,
        version=effective,
        kind=InstallationEventKind.INSTALLED,
        actor=actor,
    )
    run_hooks(PLUGIN_INSTALLED, installation.pk)  # e.g. the plugin.installed event, after commit
    return installation


@transaction.atomic
def uninstall_plugin(*, actor: User, installation_id: Any) -> Installation:
    installation = get_installation(actor, installation_id, Role.ADMIN)
    if (
        Installation.objects.filter(pk=installation.pk, uninstalled_at__isnull=True).update(
            uninstalled_at=clock.now(), uninstalled_by=actor
        )
        != 1
    ):
        raise DomainError(CommonErrorCode.INVALID_STATE, "The plugin is already uninstalled.", "id")
    installation.refresh_from_db()
    InstallationEvent.objects.create(
        installation=installation,
        tenant=installation.tenant,
        plugin=installation.plugin,
        version=installation.pinned_version,
        kind=InstallationEventKind.UNINSTALLED,
        actor=actor,
    )
    run_hooks(PLUGIN_UNINSTALLED, installation.pk)
    return installation


_UNCHANGED = object()


@transaction.atomic
def update_installation(
    *,
    actor: User,
    installation_id: Any,
    version: Any = _UNCHANGED,
    config: Any = _UNCHANGED,
    allow_deprecated: bool = False,
):
    """Change the pinned version ("latest" to follow new releases) and/or the configuration.

    Grants are per capability: a new version that requests more capabilities runs only once those are
    granted too; nothing is inherited silently.
    """
    installation = get_installation(actor, installation_id, Role.ADMIN)
    if not installation.is_active:
        raise DomainError(CommonErrorCode.INVALID_STATE, "The plugin has been uninstalled.", "id")
    if version is _UNCHANGED and config is _UNCHANGED:
        raise DomainError(CommonErrorCode.REQUIRED, "Give a version or a configuration to change.", "version")
    events = []
    if version is not _UNCHANGED:
        installation.pinned_version = _pin(installation.plugin_id, version, allow_deprecated=allow_deprecated)
        _check_installable(resolve_version(installation))
        events.append(InstallationEventKind.VERSION_CHANGED)
    effective = resolve_version(installation)
    if config is not _UNCHANGED:
        installation.config = _clean_config(config, effective)
        events.append(InstallationEventKind.CONFIG_CHANGED)
    elif version is not _UNCHANGED:
        installation.config = _clean_config(installation.config, effective)
    installation.save(update_fields=["pinned_version", "config"])
    for kind in events:
        InstallationEvent.objects.create(
            installation=installation,
            tenant=installation.tenant,
            plugin=installation.plugin,
            version=effective,
            kind=kind,
            actor=actor,
        )
    return installation


def _max_lifetime(tenant_id: Any) -> dt.timedelta | None:
    policy = TenantPolicy.objects.filter(tenant_id=tenant_id).first()
    return policy.max_grant_lifetime if policy else None


@transaction.atomic
def grant_capability(
    *,
    actor: User,
    installation_id: Any,
    capability: Any,
    expires_at: dt.datetime | None = None,
    metadata: Any = None,
) -> CapabilityGrant:
    installation = get_installation(actor, installation_id, Role.ADMIN, field="installationId")
    if not installation.is_active:
        raise DomainError(CommonErrorCode.INVALID_STATE, "The plugin has been uninstalled.", "installationId")
    name = clean_text(capability, field="capability", max_length=64)
    catalog_entry = Capability.objects.filter(name=name).first()
    if catalog_entry is None:
        raise DomainError(CommonErrorCode.INVALID, f"Unknown capability '{name}'.", "capability")
    version = resolve_version(installation)
    if version is None or name not in version.capabilities:
        raise DomainError(
            InstallationErrorCode.CAPABILITY_NOT_REQUESTED,
            f"The installed version does not request '{name}'; only requested capabilities can be granted.",
            "capability",
        )
    now = clock.now()
    if expires_at is not None and expires_at.tzinfo is None:
        raise DomainError(CommonErrorCode.INVALID, "Give a time zone with the expiry.", "expiresAt")
    if expires_at is not None and expires_at <= now:
        raise DomainError(CommonErrorCode.INVALID, "The expiry must be in the future.", "expiresAt")
    lifetime = _max_lifetime(installation.tenant_id)
    if lifetime is not None:
        if expires_at is None:
            expires_at = now + lifetime
        elif expires_at > now + lifetime:
            raise DomainError(
                InstallationErrorCode.GRANT_LIFETIME_EXCEEDED,
                f"This tenant allows grants of at most {lifetime}.",
                "expiresAt",
            )
    if metadata is not None and not isinstance(metadata, dict):
        raise DomainError(CommonErrorCode.INVALID, "Metadata must be a JSON object.", "metadata")
    # Lock the installation row so two concurrent grants of the same capability cannot both pass.
    Installation.objects.select_for_update().filter(pk=installation.pk).first()
    if (
        CapabilityGrant.objects.filter(installation=installation, capability=catalog_entry)
        .active_at(now)
        .exists()
    ):
        raise DomainError(
            InstallationErrorCode.GRANT_EXISTS,
            f"'{name}' is already granted; revoke it first to change it.",
            "capability",
        )
    grant = CapabilityGrant.objects.create(
        installation=installation,
        capability=catalog_entry,
        granted_by=actor,
        granted_at=now,
        expires_at=expires_at,
        metadata=metadata or {},
    )
    ledger_records.record_grant_created(grant)  # same transaction: granted iff recorded
    return grant


@transaction.atomic
def revoke_capability_grant(*, actor: User, grant_id: Any, reason: Any) -> CapabilityGrant:
    grant = (
        CapabilityGrant.objects.select_related("installation__tenant", "capability")
        .filter(pk=parse_uuid(grant_id))
        .first()
    )
    if grant is None:
        raise not_found("Capability grant")
    require_tenant_object_role(actor, grant.installation.tenant, Role.ADMIN, "Capability grant")
    reason = clean_text(reason, field="reason", max_length=500)
    updated = CapabilityGrant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
        revoked_at=clock.now(), revoked_by=actor, revoke_reason=reason
    )
    if updated != 1:
        raise DomainError(InstallationErrorCode.GRANT_REVOKED, "This grant is already revoked.", "id")
    grant.refresh_from_db()
    ledger_records.record_grant_revoked(grant)  # same transaction: revoked iff recorded
    # Runs that need the grant stop, in this transaction.
    run_hooks(
        GRANT_REVOKED,
        grant.installation_id,
        grant.capability.name,
        f"Cancelled: the '{grant.capability.name}' grant was revoked by {actor.username} ({reason}).",
    )
    return grant
