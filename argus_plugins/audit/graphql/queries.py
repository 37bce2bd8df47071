from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.connections import connection_args, resolve_connection

from ..queries import events_visible_to
from .types import AuditEventConnection


class AuditQueries(graphene.ObjectType):
    audit_events = graphene.Field(
        AuditEventConnection,
        required=True,
        description="Tenant admins: their tenant's events (tenantId required). Staff: all, or one tenant's.",
        **connection_args(
            tenant_id=graphene.ID(),
            action=graphene.String(),
            actor=graphene.String(description="Username."),
            target_id=graphene.String(),
            since=graphene.DateTime(),
            until=graphene.DateTime(),
        ),
    )

    @staticmethod
    def resolve_audit_events(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        target_id: str | None = None,
        since: Any = None,
        until: Any = None,
        **page: Any,
    ) -> AuditEventConnection:
        events = events_visible_to(info.context.user, tenant_id=tenant_id)
        if action:
            events = events.filter(action=action[:120])
        if actor:
            events = events.filter(actor_username=actor[:150])
        if target_id:
            events = events.filter(target_id=target_id[:64])
        if since:
            events = events.filter(at__gte=since)
        if until:
            events = events.filter(at__lt=until)
        return resolve_connection(AuditEventConnection, events.order_by("-at", "id"), **page)
