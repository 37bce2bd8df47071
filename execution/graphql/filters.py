"""The ``executions`` list's triage filters, as a django-filter FilterSet (its form validates the values)."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.validation import parse_uuid

from ..models import Execution, ExecutionStatus, Trigger

#: Longest accepted ``errorReasonContains`` text.
MAX_REASON_SEARCH_CHARS = 200

#: FilterSet field name → the GraphQL argument it comes from (for the error's ``field``).
ARGUMENT_NAMES = {
    "statuses": "statuses",
    "since": "since",
    "until": "until",
    "plugin_id": "pluginId",
    "installation_id": "installationId",
    "trigger": "trigger",
    "error_reason_contains": "errorReasonContains",
}


class ExecutionFilter(django_filters.FilterSet):
    statuses = django_filters.MultipleChoiceFilter(field_name="status", choices=ExecutionStatus.choices)
    since = django_filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="lt")
    plugin_id = django_filters.UUIDFilter(field_name="plugin_version__plugin_id")
    installation_id = django_filters.UUIDFilter(field_name="installation_id")
    trigger = django_filters.ChoiceFilter(choices=Trigger.choices)
    error_reason_contains = django_filters.CharFilter(
        field_name="error_reason", lookup_expr="icontains", max_length=MAX_REASON_SEARCH_CHARS
    )

    class Meta:
        model = Execution
        fields: list[str] = []


def filter_executions(queryset: QuerySet[Execution], **arguments: Any) -> QuerySet[Execution]:
    """Apply the given filters (None = not filtered); a bad value raises a typed error naming its argument."""
    data = {name: value for name, value in arguments.items() if value not in (None, "")}
    if len(data.get("statuses", ())) > len(ExecutionStatus):
        raise DomainError(
            CommonErrorCode.LIMIT_EXCEEDED, f"At most {len(ExecutionStatus)} statuses.", "statuses"
        )
    for name in ("plugin_id", "installation_id"):  # the same typed error as every other id argument
        if name in data:
            data[name] = parse_uuid(data[name], field=ARGUMENT_NAMES[name])
    since, until = data.get("since"), data.get("until")
    if since is not None and until is not None and since >= until:
        raise DomainError(CommonErrorCode.INVALID, "'since' must be earlier than 'until'.", "until")
    filters = ExecutionFilter(data, queryset=queryset)
    if not filters.is_valid():
        name, messages = next(iter(filters.errors.items()))
        code = CommonErrorCode.TOO_LONG if name == "error_reason_contains" else CommonErrorCode.INVALID
        raise DomainError(code, " ".join(messages), ARGUMENT_NAMES.get(name, name))
    return filters.qs
