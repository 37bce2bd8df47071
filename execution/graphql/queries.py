from __future__ import annotations

from typing import Any

import graphene
from django.db.models import Prefetch

from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.permissions import require_tenant_role

from ..models import Evidence, Execution
from ..services import get_evidence, get_execution
from .types import (
    EvidenceConnection,
    EvidenceType,
    ExecutionConnection,
    ExecutionStatusEnum,
    ExecutionType,
    TriggerEnum,
)


def execution_queryset():
    return Execution.objects.select_related(
        "plugin_version__plugin__publisher",
        "plugin_version__signing_key",
        "installation__plugin",
        "installation__tenant",
        "installation__pinned_version",
        "installation__installed_by",
        "triggered_by",
        "tenant",
        "ledger_entry",
    ).prefetch_related(
        Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by")), "artifacts"
    )


class ExecutionQueries(graphene.ObjectType):
    execution = graphene.Field(ExecutionType, id=graphene.ID(required=True))
    executions = graphene.Field(
        ExecutionConnection,
        required=True,
        **connection_args(
            tenant_id=graphene.ID(required=True),
            status=ExecutionStatusEnum(),
            plugin_id=graphene.ID(),
            installation_id=graphene.ID(),
            trigger=TriggerEnum(),
        ),
    )
    evidence = graphene.Field(EvidenceType, id=graphene.ID(required=True))
    evidence_items = graphene.Field(
        EvidenceConnection, required=True, **connection_args(tenant_id=graphene.ID(required=True))
    )

    @staticmethod
    def resolve_execution(root: Any, info: graphene.ResolveInfo, id: str) -> Execution:
        return get_execution(info.context.user, id, queryset=execution_queryset())

    @staticmethod
    def resolve_executions(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str,
        status: str | None = None,
        plugin_id: str | None = None,
        installation_id: str | None = None,
        trigger: str | None = None,
        **page: Any,
    ) -> ExecutionConnection:
        membership = require_tenant_role(info.context.user, tenant_id)
        executions = execution_queryset().filter(tenant=membership.tenant)
        if status:
            executions = executions.filter(status=status)
        if trigger:
            executions = executions.filter(trigger=trigger)
        if plugin_id:
            executions = executions.filter(plugin_version__plugin_id=parse_uuid(plugin_id, field="pluginId"))
        if installation_id:
            executions = executions.filter(
                installation_id=parse_uuid(installation_id, field="installationId")
            )
        return resolve_connection(ExecutionConnection, executions.order_by("-queued_at", "id"), **page)

    @staticmethod
    def resolve_evidence(root: Any, info: graphene.ResolveInfo, id: str) -> Evidence:
        return get_evidence(info.context.user, id)

    @staticmethod
    def resolve_evidence_items(root: Any, info: graphene.ResolveInfo, tenant_id: str, **page: Any):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = Evidence.objects.filter(tenant=membership.tenant).select_related("uploaded_by")
        return resolve_connection(EvidenceConnection, items.order_by("-uploaded_at", "id"), **page)
