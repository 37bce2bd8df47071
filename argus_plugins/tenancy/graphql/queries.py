from __future__ import annotations

from typing import Any

import graphene
from django.db.models import Prefetch, QuerySet

from argus_plugins.core.graphql.connections import connection_args, resolve_connection

from ..models import ApiToken, Membership, Tenant
from ..permissions import require_authenticated, require_tenant_role
from ..services import open_invitations_for
from .types import ApiTokenConnection, TenantConnection, TenantInvitationConnection, TenantType, UserType


def tenants_of(user: Any) -> QuerySet[Tenant]:
    return Tenant.objects.filter(memberships__user=user).prefetch_related(
        Prefetch("memberships", queryset=Membership.objects.filter(user=user), to_attr="my_memberships")
    )


class TenancyQueries(graphene.ObjectType):
    me = graphene.Field(UserType, required=True, description="The authenticated caller.")
    tenants = graphene.Field(
        TenantConnection, required=True, description="Tenants the caller belongs to.", **connection_args()
    )
    tenant = graphene.Field(TenantType, id=graphene.ID(required=True))
    api_tokens = graphene.Field(
        ApiTokenConnection, required=True, description="The caller's own API tokens.", **connection_args()
    )
    my_invitations = graphene.Field(
        TenantInvitationConnection,
        required=True,
        description="Invitations to join a tenant waiting for the caller's answer (not expired).",
        **connection_args(),
    )

    @staticmethod
    def resolve_me(root: Any, info: graphene.ResolveInfo) -> Any:
        require_authenticated(info.context.user)
        return info.context.user

    @staticmethod
    def resolve_tenants(root: Any, info: graphene.ResolveInfo, **page: Any) -> TenantConnection:
        require_authenticated(info.context.user)
        return resolve_connection(
            TenantConnection, tenants_of(info.context.user).order_by("name", "id"), **page
        )

    @staticmethod
    def resolve_tenant(root: Any, info: graphene.ResolveInfo, id: str) -> Tenant:
        membership = require_tenant_role(info.context.user, id, field="id")
        return tenants_of(info.context.user).get(pk=membership.tenant_id)

    @staticmethod
    def resolve_api_tokens(root: Any, info: graphene.ResolveInfo, **page: Any) -> ApiTokenConnection:
        require_authenticated(info.context.user)
        tokens = ApiToken.objects.filter(user=info.context.user).order_by("-created_at", "id")
        return resolve_connection(ApiTokenConnection, tokens, **page)

    @staticmethod
    def resolve_my_invitations(
        root: Any, info: graphene.ResolveInfo, **page: Any
    ) -> TenantInvitationConnection:
        require_authenticated(info.context.user)
        invitations = open_invitations_for(info.context.user)
        return resolve_connection(TenantInvitationConnection, invitations, **page)
