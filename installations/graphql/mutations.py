from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.mutations import BaseMutation

from .. import services
from .types import CapabilityGrantType, InstallationType


class InstallPlugin(BaseMutation):
    installation = graphene.Field(InstallationType)

    class Arguments:
        tenant_id = graphene.ID(required=True)
        plugin_id = graphene.ID(required=True)
        version = graphene.String(description="Pin this version; omit (or 'latest') to follow new releases.")
        config = graphene.JSONString()
        allow_deprecated = graphene.Boolean(
            default_value=False, description="Pin a DEPRECATED version knowingly (refused otherwise)."
        )

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> InstallPlugin:
        return cls(installation=services.install_plugin(actor=info.context.user, **data))


class UninstallPlugin(BaseMutation):
    installation = graphene.Field(InstallationType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> UninstallPlugin:
        return cls(installation=services.uninstall_plugin(actor=info.context.user, installation_id=id))


class UpdateInstallation(BaseMutation):
    installation = graphene.Field(InstallationType)

    class Arguments:
        id = graphene.ID(required=True)
        version = graphene.String(description="A version to pin, or 'latest'.")
        config = graphene.JSONString()
        allow_deprecated = graphene.Boolean(
            default_value=False, description="Pin a DEPRECATED version knowingly (refused otherwise)."
        )

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, id: str, **data: Any
    ) -> UpdateInstallation:
        installation = services.update_installation(actor=info.context.user, installation_id=id, **data)
        return cls(installation=installation)


class GrantCapability(BaseMutation):
    grant = graphene.Field(CapabilityGrantType)

    class Arguments:
        installation_id = graphene.ID(required=True)
        capability = graphene.String(required=True)
        expires_at = graphene.DateTime(description="The grant is active strictly before this instant.")
        metadata = graphene.JSONString()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> GrantCapability:
        return cls(grant=services.grant_capability(actor=info.context.user, **data))


class RevokeCapabilityGrant(BaseMutation):
    grant = graphene.Field(CapabilityGrantType)

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String(required=True)

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, id: str, reason: str
    ) -> RevokeCapabilityGrant:
        grant = services.revoke_capability_grant(actor=info.context.user, grant_id=id, reason=reason)
        return cls(grant=grant)


class InstallationMutations(graphene.ObjectType):
    install_plugin = InstallPlugin.Field()
    uninstall_plugin = UninstallPlugin.Field()
    update_installation = UpdateInstallation.Field()
    grant_capability = GrantCapability.Field()
    revoke_capability_grant = RevokeCapabilityGrant.Field()
