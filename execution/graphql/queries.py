from __future__ import annotations

from collections.abc import Collection
from typing import Any

import graphene
from django.db.models import Prefetch, QuerySet
from graphql.language import FieldNode, FragmentSpreadNode, InlineFragmentNode

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.tenancy.permissions import require_tenant_role

from ..models import Evidence, Execution
from ..services import get_evidence, get_execution
from ..waiting import MAX_WAIT_SECONDS, wait_for_execution
from .filters import MAX_REASON_SEARCH_CHARS, filter_executions
from .types import (
    EvidenceConnection,
    EvidenceType,
    ExecutionConnection,
    ExecutionStatusEnum,
    ExecutionType,
    TriggerEnum,
)

#: What each Execution field needs loaded with the execution (so resolving it costs no further query).
_RELATED_BY_FIELD: dict[str, tuple[str, ...]] = {
    "pluginVersion": ("plugin_version__plugin__publisher", "plugin_version__signing_key"),
    "installation": (
        "installation__plugin",
        "installation__tenant",
        "installation__pinned_version",
        "installation__installed_by",
    ),
    "triggeredBy": ("triggered_by",),
    "tenant": ("tenant",),
    "ledgerEntry": ("ledger_entry",),
}
_PREFETCHED_FIELDS = frozenset({"evidence", "artifacts"})


def execution_queryset(fields: Collection[str] | None = None) -> QuerySet[Execution]:
    """Executions with what resolving ``fields`` (GraphQL names) needs; every relation when None."""
    wanted = (_RELATED_BY_FIELD.keys() | _PREFETCHED_FIELDS) if fields is None else set(fields)
    queryset = Execution.objects.all()
    related = [path for name, paths in _RELATED_BY_FIELD.items() if name in wanted for path in paths]
    if related:
        queryset = queryset.select_related(*related)
    if "evidence" in wanted:
        queryset = queryset.prefetch_related(
            Prefetch("evidence", queryset=Evidence.objects.select_related("uploaded_by"))
        )
    if "artifacts" in wanted:
        queryset = queryset.prefetch_related("artifacts")
    return queryset


def _selected_fields(info: graphene.ResolveInfo) -> set[str]:
    """Names of the fields selected on the resolved field's object, through fragments too.

    Directives are ignored: a field under ``@skip`` is still loaded, which costs a join, never a result.
    """
    names: set[str] = set()
    pending = [node.selection_set for node in info.field_nodes if node.selection_set is not None]
    seen_fragments: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen_fragments:
                seen_fragments.add(selection.name.value)
                fragment = info.fragments.get(selection.name.value)
                if fragment is not None:
                    pending.append(fragment.selection_set)
    return names


class ExecutionQueries(graphene.ObjectType):
    execution = graphene.Field(ExecutionType, id=graphene.ID(required=True))
    wait_for_execution = graphene.Field(
        ExecutionType,
        id=graphene.ID(required=True),
        timeout_seconds=graphene.Int(
            required=True,
            default_value=MAX_WAIT_SECONDS,
            description=f"At most this long (0 to {MAX_WAIT_SECONDS} seconds; 0 answers at once).",
        ),
        description=(
            "The execution as soon as it is terminal (its ledger entry committed with it), or as it is when "
            "`timeoutSeconds` have passed: ask again until `terminal`. Answers within milliseconds of the "
            "run's end instead of a poll interval later. WAIT_UNAVAILABLE when the server cannot hold the "
            "request now (poll `execution(id)` instead). Same visibility and errors as `execution(id)`."
        ),
    )
    executions = graphene.Field(
        ExecutionConnection,
        required=True,
        description="A tenant's executions, newest first, for triage: every filter given must match.",
        **connection_args(
            tenant_id=graphene.ID(required=True),
            statuses=graphene.List(
                graphene.NonNull(ExecutionStatusEnum), description="Any of these statuses."
            ),
            status=graphene.Argument(ExecutionStatusEnum, deprecation_reason="Use `statuses`."),
            since=graphene.DateTime(description="Queued at or after this time."),
            until=graphene.DateTime(description="Queued before this time."),
            plugin_id=graphene.ID(),
            installation_id=graphene.ID(),
            trigger=TriggerEnum(),
            error_reason_contains=graphene.String(
                description=(
                    "Case-insensitive text in the error reason "
                    f"(at most {MAX_REASON_SEARCH_CHARS} characters)."
                )
            ),
        ),
    )
    evidence = graphene.Field(EvidenceType, id=graphene.ID(required=True))
    evidence_items = graphene.Field(
        EvidenceConnection, required=True, **connection_args(tenant_id=graphene.ID(required=True))
    )

    @staticmethod
    def resolve_execution(root: Any, info: graphene.ResolveInfo, id: str) -> Execution:
        # Polled often with a handful of fields: join and prefetch only what the query selects.
        return get_execution(info.context.user, id, queryset=execution_queryset(_selected_fields(info)))

    @staticmethod
    def resolve_wait_for_execution(
        root: Any, info: graphene.ResolveInfo, id: str, timeout_seconds: int = MAX_WAIT_SECONDS
    ) -> Execution:
        return wait_for_execution(
            info.context.user,
            id,
            timeout_seconds=timeout_seconds,
            # A server that gives each request a thread of its own (gunicorn's gthread workers) may hold one.
            can_block=bool(info.context.META.get("wsgi.multithread")),
            queryset=execution_queryset(_selected_fields(info)),
        )

    @staticmethod
    def resolve_executions(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str,
        statuses: list[str] | None = None,
        status: str | None = None,
        first: int | None = None,
        after: str | None = None,
        **filters: Any,
    ) -> ExecutionConnection:
        membership = require_tenant_role(info.context.user, tenant_id)
        if status is not None:  # deprecated single-status form
            if statuses is not None:
                raise DomainError(CommonErrorCode.INVALID, "Give 'statuses' or 'status', not both.", "status")
            statuses = [status]
        executions = filter_executions(
            execution_queryset().filter(tenant=membership.tenant), statuses=statuses, **filters
        )
        return resolve_connection(
            ExecutionConnection, executions.order_by("-queued_at", "id"), first=first, after=after
        )

    @staticmethod
    def resolve_evidence(root: Any, info: graphene.ResolveInfo, id: str) -> Evidence:
        return get_evidence(info.context.user, id)

    @staticmethod
    def resolve_evidence_items(root: Any, info: graphene.ResolveInfo, tenant_id: str, **page: Any):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = Evidence.objects.filter(tenant=membership.tenant).select_related("uploaded_by")
        return resolve_connection(EvidenceConnection, items.order_by("-uploaded_at", "id"), **page)
