"""THE authorisation function. Every path that may start plugin code asks it: execution enqueue, the
worker right before the container starts, schedules and event triggers. No other module re-implements
these rules; callers only read the decision.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import semver
from django.conf import settings

from argus_plugins.core import clock
from argus_plugins.core.hooks import run_hooks
from argus_plugins.core.prepared import PreparedQuery
from registry.models import PluginStatus, PluginVersion, VersionStatus

from .error_codes import RefusalCode
from .hooks import AUTHORIZATION_POLICIES
from .models import CapabilityGrant, Installation


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    message: str
    capability: str | None = None


@dataclass(frozen=True)
class AuthorizationDecision:
    installation: Installation
    version: PluginVersion | None
    checked_at: dt.datetime
    grants: tuple[CapabilityGrant, ...] = ()
    refusals: tuple[Refusal, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @property
    def capabilities(self) -> list[str]:
        """Names of the capabilities the run holds (its active grants)."""
        return sorted(grant.capability.name for grant in self.grants)

    @property
    def missing_capabilities(self) -> list[str]:
        return sorted(r.capability for r in self.refusals if r.capability is not None)

    def summary(self) -> str:
        return "; ".join(refusal.message for refusal in self.refusals)


def resolve_version(installation: Installation) -> PluginVersion | None:
    """The version an installation runs: its pin, or the newest PUBLISHED version."""
    if installation.pinned_version_id is not None:
        return installation.pinned_version
    return newest_published_version(installation.plugin_id)


def newest_published_version(plugin_id: Any) -> PluginVersion | None:
    return _NEWEST_PUBLISHED.first(plugin_id)


_NEWEST_PUBLISHED = PreparedQuery(
    lambda plugin_id: (
        PluginVersion.objects.filter(plugin_id=plugin_id, status=VersionStatus.PUBLISHED)
        .select_related("signing_key", "plugin")
        .order_by("-precedence_key")[:1]
    ),
    PluginVersion._meta.get_field("plugin"),
)


def platform_range_fits(version: PluginVersion) -> bool:
    platform = semver.Version.parse(settings.PLATFORM_VERSION)
    if version.min_platform_version and platform < semver.Version.parse(version.min_platform_version):
        return False
    return not (
        version.max_platform_version and platform > semver.Version.parse(version.max_platform_version)
    )


def version_refusals(version: PluginVersion) -> list[Refusal]:
    """Is this version code we may run at all (regardless of tenant and grants)?"""
    refusals = []
    if version.status == VersionStatus.ARCHIVED:
        refusals.append(Refusal(RefusalCode.VERSION_ARCHIVED, f"Version {version.version} is archived."))
    elif version.status not in (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED):
        refusals.append(
            Refusal(
                RefusalCode.VERSION_NOT_PUBLISHED,
                f"Version {version.version} is {version.status}, not published.",
            )
        )
    if version.plugin.status == PluginStatus.ARCHIVED:
        refusals.append(Refusal(RefusalCode.PLUGIN_ARCHIVED, f"Plugin '{version.plugin.slug}' is archived."))
    if version.signing_key.is_revoked or version.signature_verified_at is None:
        refusals.append(
            Refusal(
                RefusalCode.VERSION_UNTRUSTED, "The version's signing key has been revoked: it is untrusted."
            )
        )
    if not platform_range_fits(version):
        refusals.append(
            Refusal(
                RefusalCode.PLATFORM_INCOMPATIBLE,
                f"Platform {settings.PLATFORM_VERSION} is outside the version's range "
                f"{version.min_platform_version or '*'}…{version.max_platform_version or '*'}.",
            )
        )
    return refusals


def _capability_refusal(name: str, grants: list[CapabilityGrant], at: dt.datetime) -> Refusal:
    # The latest grant for the capability tells whether it was never granted, expired or revoked.
    latest = max(grants, key=lambda g: g.granted_at, default=None)
    if latest is None:
        return Refusal(RefusalCode.CAPABILITY_MISSING, f"Capability '{name}' has not been granted.", name)
    if latest.revoked_at is not None:
        return Refusal(
            RefusalCode.CAPABILITY_REVOKED,
            f"Capability '{name}' was revoked: {latest.revoke_reason or 'no reason given'}.",
            name,
        )
    return Refusal(
        RefusalCode.CAPABILITY_EXPIRED, f"Capability '{name}' expired at {latest.expires_at}.", name
    )


def authorize(
    installation: Installation,
    version: PluginVersion | None = None,
    *,
    needs: Collection[str] = (),
    at: dt.datetime | None = None,
) -> AuthorizationDecision:
    """May ``installation`` run ``version`` (default: the version it resolves to) at instant ``at``?

    ``needs``: capabilities this particular run requires beyond the manifest (e.g. ``evidence:read``
    when evidence is passed); they must be requested by the manifest and actively granted too.
    """
    at = at or clock.now()
    if installation.uninstalled_at is not None:
        refusal = Refusal(RefusalCode.INSTALLATION_UNINSTALLED, "The plugin has been uninstalled.")
        return AuthorizationDecision(installation, version, at, refusals=(refusal,))
    version = version or resolve_version(installation)
    if version is None:
        refusal = Refusal(RefusalCode.NO_PUBLISHED_VERSION, "The plugin has no published version to run.")
        return AuthorizationDecision(installation, None, at, refusals=(refusal,))
    if version.plugin_id != installation.plugin_id:
        raise ValueError("version belongs to another plugin")  # a programming error, never user input

    refusals = version_refusals(version)
    warnings = []
    if version.status == VersionStatus.DEPRECATED:
        warnings.append(
            f"Version {version.version} is deprecated: {version.deprecation_reason or 'no reason given'}."
        )
    if version.plugin.status == PluginStatus.DEPRECATED:
        warnings.append(f"Plugin '{version.plugin.slug}' is deprecated.")
    # Rules higher apps own (paid plugins: the marketplace's entitlements) are applied here too.
    refusals.extend(policy_refusals(installation, at))

    requested = set(version.capabilities)
    for name in sorted(set(needs) - requested):
        refusals.append(
            Refusal(
                RefusalCode.CAPABILITY_NOT_REQUESTED,
                f"This run needs '{name}', which version {version.version} does not request.",
                name,
            )
        )
    # Most plugins request no capability: then there is nothing to look up (this runs at enqueue, and twice
    # in the worker: before its integrity checks and again right before its claim).
    all_grants = (
        list(
            CapabilityGrant.objects.filter(
                installation=installation, capability__name__in=requested
            ).select_related("capability")
        )
        if requested
        else []
    )
    active: list[CapabilityGrant] = []
    for name in sorted(requested):
        grants = [g for g in all_grants if g.capability.name == name]
        current = [g for g in grants if g.is_active_at(at)]
        if current:
            active.append(max(current, key=lambda g: g.granted_at))
        else:
            refusals.append(_capability_refusal(name, grants, at))
    return AuthorizationDecision(
        installation, version, at, grants=tuple(active), refusals=tuple(refusals), warnings=tuple(warnings)
    )


def policy_refusals(installation: Installation, at: dt.datetime) -> list[Refusal]:
    """The refusals of the registered authorization policies (``installations.authorization_policies``)."""
    return [refusal for refusal in run_hooks(AUTHORIZATION_POLICIES, installation, at) if refusal is not None]


def suspension_reason(installation: Installation, at: dt.datetime | None = None) -> str | None:
    """Why an active installation is suspended by a policy (e.g. its tenant's entitlement lapsed), or None."""
    if installation.uninstalled_at is not None:
        return None
    refusals = policy_refusals(installation, at or clock.now())
    return refusals[0].message if refusals else None

