from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.mutations import BaseMutation

from .. import services
from .types import ApiTokenType, MembershipType, RoleEnum, TenantInvitationType, TenantType


class CreateTenant(BaseMutation):
    tenant = graphene.Field(TenantType)

    class Arguments:
        name = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, name: str) -> CreateTenant:
        return cls(tenant=services.create_tenant(actor=info.context.user, name=name))


class InviteTenantMember(BaseMutation):
    """Invite a user by username (admins). The answer is the same whether or not the username exists;
    the user becomes a member only by accepting (acceptTenantInvitation) before it expires."""

    invitation = graphene.Field(TenantInvitationType)

    class Arguments:
        tenant_id = graphene.ID(required=True)
        username = graphene.String(required=True)
        role = RoleEnum(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> InviteTenantMember:
        invitation = services.invite_tenant_member(
            actor=info.context.user, tenant_id=data["tenant_id"], username=data["username"], role=data["role"]
        )
        return cls(invitation=invitation)


class AcceptTenantInvitation(BaseMutation):
    """Accept an invitation addressed to you: you become a member with the invited role."""

    membership = graphene.Field(MembershipType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> AcceptTenantInvitation:
        membership = services.accept_tenant_invitation(actor=info.context.user, invitation_id=id)
        return cls(membership=membership)


class DeclineTenantInvitation(BaseMutation):
    invitation = graphene.Field(TenantInvitationType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> DeclineTenantInvitation:
        invitation = services.decline_tenant_invitation(actor=info.context.user, invitation_id=id)
        return cls(invitation=invitation)


class RevokeTenantInvitation(BaseMutation):
    """Withdraw a pending invitation (the tenant's admins)."""

    invitation = graphene.Field(TenantInvitationType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> RevokeTenantInvitation:
        invitation = services.revoke_tenant_invitation(actor=info.context.user, invitation_id=id)
        return cls(invitation=invitation)


class LeaveTenant(BaseMutation):
    """End your own membership of a tenant. The last admin cannot leave (LAST_ADMIN)."""

    tenant_id = graphene.ID(description="The tenant left.")

    class Arguments:
        tenant_id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, tenant_id: str) -> LeaveTenant:
        tenant = services.leave_tenant(actor=info.context.user, tenant_id=tenant_id)
        return cls(tenant_id=tenant.pk)


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
        return cls(tenant=tenant)


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
        return cls(api_token=token, token=raw)


class RevokeApiToken(BaseMutation):
    api_token = graphene.Field(ApiTokenType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> RevokeApiToken:
        return cls(api_token=services.revoke_api_token(actor=info.context.user, token_id=id))


class TenancyMutations(graphene.ObjectType):
    create_tenant = CreateTenant.Field()
    invite_tenant_member = InviteTenantMember.Field()
    accept_tenant_invitation = AcceptTenantInvitation.Field()
    decline_tenant_invitation = DeclineTenantInvitation.Field()
    revoke_tenant_invitation = RevokeTenantInvitation.Field()
    remove_tenant_member = RemoveTenantMember.Field()
    leave_tenant = LeaveTenant.Field()
    create_api_token = CreateApiToken.Field()
    revoke_api_token = RevokeApiToken.Field()
