from __future__ import annotations

from typing import Any

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core import clock
from argus_plugins.core.graphql.connections import CountableConnection
from registry.graphql.types import PluginType, PluginVersionType

from ..authorization import AuthorizationDecision, authorize, resolve_version, suspension_reason
from ..error_codes import RefusalCode
from ..models import Capability, CapabilityGrant, Installation, RiskLevel

RiskLevelEnum = graphene.Enum.from_enum(RiskLevel, name="RiskLevel")
RefusalCodeEnum = graphene.Enum.from_enum(RefusalCode, name="RefusalCode")


class CapabilityType(DjangoObjectType):
    risk_level = graphene.Field(RiskLevelEnum, required=True)

    class Meta:
        model = Capability
        name = "Capability"
        fields = ("name", "description", "risk_level")


class CapabilityGrantType(DjangoObjectType):
    capability = graphene.String(required=True)
    active = graphene.Boolean(required=True, description="Not revoked and not expired, right now (UTC).")
    granted_by = graphene.String(required=True)
    revoked_by = graphene.String()
    metadata = graphene.JSONString(required=True)

    class Meta:
        model = CapabilityGrant
        name = "CapabilityGrant"
        fields = ("id", "granted_at", "expires_at", "revoked_at", "revoke_reason")

    @staticmethod
    def resolve_capability(grant: CapabilityGrant, info: graphene.ResolveInfo) -> str:
        return grant.capability.name

    @staticmethod
    def resolve_active(grant: CapabilityGrant, info: graphene.ResolveInfo) -> bool:
        return grant.is_active_at(clock.now())

    @staticmethod
    def resolve_granted_by(grant: CapabilityGrant, info: graphene.ResolveInfo) -> str:
        return grant.granted_by.username

    @staticmethod
    def resolve_revoked_by(grant: CapabilityGrant, info: graphene.ResolveInfo) -> str | None:
        return grant.revoked_by.username if grant.revoked_by_id else None


class RefusalType(graphene.ObjectType):
    code = graphene.Field(RefusalCodeEnum, required=True)
    message = graphene.String(required=True)
    capability = graphene.String()


class AuthorizationType(graphene.ObjectType):
    allowed = graphene.Boolean(required=True)
    capabilities = graphene.List(graphene.NonNull(graphene.String), required=True)
    refusals = graphene.List(graphene.NonNull(RefusalType), required=True)
    warnings = graphene.List(graphene.NonNull(graphene.String), required=True)

    @staticmethod
    def resolve_allowed(decision: AuthorizationDecision, info: graphene.ResolveInfo) -> bool:
        return decision.allowed


class InstallationType(DjangoObjectType):
    plugin = graphene.Field(PluginType, required=True)
    pinned_version = graphene.Field(PluginVersionType, description="Null when following the latest version.")
    version = graphene.Field(PluginVersionType, description="The version runs use now (pin or latest).")
    active = graphene.Boolean(required=True)
    config = graphene.JSONString(required=True)
    installed_by = graphene.String(required=True)
    grants = graphene.List(
        graphene.NonNull(CapabilityGrantType),
        required=True,
        description="Every grant, newest first, with history.",
    )
    missing_capabilities = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Capabilities the version requests that have no active grant.",
    )
    authorization = graphene.Field(AuthorizationType, required=True, description="Could it run right now?")
    suspended = graphene.Boolean(
        required=True,
        description="Installed, but its tenant's entitlement to this paid plugin has lapsed: runs are "
        "refused until the tenant is entitled again (nothing is deleted).",
    )
    suspension_reason = graphene.String(description="Why the installation is suspended, or null.")

    class Meta:
        model = Installation
        name = "Installation"
        fields = ("id", "tenant", "installed_at", "uninstalled_at")

    @staticmethod
    def resolve_version(installation: Installation, info: graphene.ResolveInfo) -> Any:
        return resolve_version(installation)

    @staticmethod
    def resolve_active(installation: Installation, info: graphene.ResolveInfo) -> bool:
        return installation.is_active

    @staticmethod
    def resolve_installed_by(installation: Installation, info: graphene.ResolveInfo) -> str:
        return installation.installed_by.username

    @staticmethod
    def resolve_grants(installation: Installation, info: graphene.ResolveInfo) -> list[CapabilityGrant]:
        return list(
            installation.grants.select_related("capability", "granted_by", "revoked_by").order_by(
                "-granted_at", "id"
            )
        )

    @staticmethod
    def resolve_missing_capabilities(installation: Installation, info: graphene.ResolveInfo) -> list[str]:
        return authorize(installation).missing_capabilities

    @staticmethod
    def resolve_authorization(
        installation: Installation, info: graphene.ResolveInfo
    ) -> AuthorizationDecision:
        return authorize(installation)

    @staticmethod
    def resolve_suspended(installation: Installation, info: graphene.ResolveInfo) -> bool:
        return suspension_reason(installation) is not None

    @staticmethod
    def resolve_suspension_reason(installation: Installation, info: graphene.ResolveInfo) -> str | None:
        return suspension_reason(installation)


class InstallationConnection(CountableConnection):
    class Meta:
        node = InstallationType
