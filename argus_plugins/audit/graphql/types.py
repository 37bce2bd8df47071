import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection

from ..models import AuditEvent


class AuditEventType(DjangoObjectType):
    changes = graphene.JSONString(required=True, description='{"field": [before, after]}')
    tenant_id = graphene.ID()

    class Meta:
        model = AuditEvent
        name = "AuditEvent"
        fields = (
            "id",
            "at",
            "actor_username",
            "action",
            "target_type",
            "target_id",
            "request_id",
            "client_address",
        )

    @staticmethod
    def resolve_tenant_id(event: AuditEvent, info: graphene.ResolveInfo) -> str | None:
        return str(event.tenant_id) if event.tenant_id else None


class AuditEventConnection(CountableConnection):
    class Meta:
        node = AuditEventType
