from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.permissions import require_authenticated, require_tenant_role

from ..models import Capability, Installation
from ..services import get_installation
from .types import CapabilityType, InstallationConnection, InstallationType


class InstallationQueries(graphene.ObjectType):
    capabilities = graphene.List(graphene.NonNull(CapabilityType), required=True, description="The catalog.")
    installations = graphene.Field(
        InstallationConnection,
        required=True,
        **connection_args(
            tenant_id=graphene.ID(required=True),
            plugin_id=graphene.ID(),
            active=graphene.Boolean(description="Only current (true) or only uninstalled (false) ones."),
        ),
    )
    installation = graphene.Field(InstallationType, id=graphene.ID(required=True))

    @staticmethod
    def resolve_capabilities(root: Any, info: graphene.ResolveInfo) -> list[Capability]:
        require_authenticated(info.context.user)
        return list(Capability.objects.order_by("name"))

    @staticmethod
    def resolve_installations(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str,
        plugin_id: str | None = None,
        active: bool | None = None,
        **page: Any,
    ) -> InstallationConnection:
        membership = require_tenant_role(info.context.user, tenant_id)
        installations = Installation.objects.filter(tenant=membership.tenant).select_related(
            "tenant", "plugin__publisher", "pinned_version__signing_key", "installed_by"
        )
        if plugin_id:
            installations = installations.filter(plugin_id=parse_uuid(plugin_id, field="pluginId"))
        if active is not None:
            installations = installations.filter(uninstalled_at__isnull=active)
        return resolve_connection(
            InstallationConnection, installations.order_by("-installed_at", "id"), **page
        )

    @staticmethod
    def resolve_installation(root: Any, info: graphene.ResolveInfo, id: str) -> Installation:
        return get_installation(info.context.user, id)
