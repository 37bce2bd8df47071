from __future__ import annotations

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection

from ..models import ApiToken, InvitationStatus, Membership, Role, Tenant, TenantInvitation, User

RoleEnum = graphene.Enum.from_enum(Role, name="Role")
InvitationStatusEnum = graphene.Enum.from_enum(InvitationStatus, name="InvitationStatus")


class UserType(DjangoObjectType):
    class Meta:
        model = User
        name = "User"
        fields = ("id", "username", "email", "is_staff")


class MembershipType(DjangoObjectType):
    role = graphene.Field(RoleEnum, required=True)

    class Meta:
        model = Membership
        name = "Membership"
        fields = ("id", "user", "role", "created_at")


class TenantInvitationType(DjangoObjectType):
    """An invitation to join a tenant. The invited user sees the tenant's name, not its data."""

    role = graphene.Field(RoleEnum, required=True)
    status = graphene.Field(InvitationStatusEnum, required=True)
    expired = graphene.Boolean(required=True, description="Past its expiry: it can no longer be accepted.")
    tenant_id = graphene.ID(required=True)
    tenant_name = graphene.String(required=True)
    invited_by = graphene.String(description="Username of the admin who sent it.")

    class Meta:
        model = TenantInvitation
        name = "TenantInvitation"
        fields = ("id", "username", "role", "status", "created_at", "expires_at", "responded_at")

    @staticmethod
    def resolve_expired(invitation: TenantInvitation, info: graphene.ResolveInfo) -> bool:
        return invitation.is_expired()

    @staticmethod
    def resolve_tenant_name(invitation: TenantInvitation, info: graphene.ResolveInfo) -> str:
        return invitation.tenant.name

    @staticmethod
    def resolve_invited_by(invitation: TenantInvitation, info: graphene.ResolveInfo) -> str | None:
        return invitation.invited_by.username if invitation.invited_by_id else None


class TenantInvitationConnection(CountableConnection):
    class Meta:
        node = TenantInvitationType


class TenantType(DjangoObjectType):
    my_role = graphene.Field(RoleEnum, description="The caller's role in this tenant.")
    members = graphene.List(graphene.NonNull(MembershipType), required=True)
    invitations = graphene.List(
        graphene.NonNull(TenantInvitationType),
        required=True,
        description="Invitations waiting for an answer (not expired). Shown to the tenant's admins only; "
        "other members get an empty list.",
    )

    class Meta:
        model = Tenant
        name = "Tenant"
        fields = ("id", "name", "slug", "created_at")

    @staticmethod
    def resolve_my_role(tenant: Tenant, info: graphene.ResolveInfo) -> str | None:
        # Prefetched by the root resolvers as ``my_memberships`` to avoid a query per tenant.
        memberships = getattr(tenant, "my_memberships", None)
        if memberships is None:
            memberships = list(tenant.memberships.filter(user=info.context.user))
        return memberships[0].role if memberships else None

    @staticmethod
    def resolve_members(tenant: Tenant, info: graphene.ResolveInfo) -> list[Membership]:
        return list(tenant.memberships.select_related("user").order_by("created_at", "id"))

    @staticmethod
    def resolve_invitations(tenant: Tenant, info: graphene.ResolveInfo) -> list[TenantInvitation]:
        if TenantType.resolve_my_role(tenant, info) != Role.ADMIN:
            return []
        invitations = TenantInvitation.objects.open().filter(tenant=tenant)
        return list(invitations.select_related("tenant", "invited_by").order_by("-created_at", "id"))


class TenantConnection(CountableConnection):
    class Meta:
        node = TenantType


class ApiTokenType(DjangoObjectType):
    active = graphene.Boolean(required=True)

    class Meta:
        model = ApiToken
        name = "ApiToken"
        fields = ("id", "name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")

    @staticmethod
    def resolve_active(token: ApiToken, info: graphene.ResolveInfo) -> bool:
        return token.is_active()


class ApiTokenConnection(CountableConnection):
    class Meta:
        node = ApiTokenType
