from __future__ import annotations

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection

from ..models import ApiToken, Membership, Role, Tenant, User

RoleEnum = graphene.Enum.from_enum(Role, name="Role")


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


class TenantType(DjangoObjectType):
    my_role = graphene.Field(RoleEnum, description="The caller's role in this tenant.")
    members = graphene.List(graphene.NonNull(MembershipType), required=True)

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
