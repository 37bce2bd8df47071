from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.mutations import BaseMutation

from .. import services
from .types import ApiTokenType, MembershipType, RoleEnum, TenantType


class CreateTenant(BaseMutation):
    tenant = graphene.Field(TenantType)

    class Arguments:
        name = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, name: str) -> CreateTenant:
        return cls(tenant=services.create_tenant(actor=info.context.user, name=name), errors=[])


class AddTenantMember(BaseMutation):
    membership = graphene.Field(MembershipType)

    class Arguments:
        tenant_id = graphene.ID(required=True)
        username = graphene.String(required=True)
        role = RoleEnum(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> AddTenantMember:
        membership = services.add_tenant_member(
            actor=info.context.user, tenant_id=data["tenant_id"], username=data["username"], role=data["role"]
        )
        return cls(membership=membership, errors=[])


class RemoveTenantMember(BaseMutation):
    tenant = graphene.Field(TenantType)

    class Arguments:
        tenant_id = graphene.ID(required=True)
        username = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> RemoveTenantMember:
        tenant = services.remove_tenant_member(
            actor=info.context.user, tenant_id=data["tenant_id"], username=data["username"]
        )
        return cls(tenant=tenant, errors=[])


class CreateApiToken(BaseMutation):
    api_token = graphene.Field(ApiTokenType)
    token = graphene.String(description="The secret. Shown only in this response: store it now.")

    class Arguments:
        name = graphene.String(required=True)
        expires_at = graphene.DateTime()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreateApiToken:
        token, raw = services.create_api_token(
            actor=info.context.user, name=data["name"], expires_at=data.get("expires_at")
        )
        return cls(api_token=token, token=raw, errors=[])


class RevokeApiToken(BaseMutation):
    api_token = graphene.Field(ApiTokenType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> RevokeApiToken:
        return cls(api_token=services.revoke_api_token(actor=info.context.user, token_id=id), errors=[])


class TenancyMutations(graphene.ObjectType):
    create_tenant = CreateTenant.Field()
    add_tenant_member = AddTenantMember.Field()
    remove_tenant_member = RemoveTenantMember.Field()
    create_api_token = CreateApiToken.Field()
    revoke_api_token = RevokeApiToken.Field()
