"""Operators' view of executions: read-only, filtered by status, tenant, plugin, trigger and date, with links
to the run's ledger entry and installation. A run's input, output and stdout are tenant data and are not
shown here; its error reason and the end of its stderr are, for triage."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from argus_plugins.core.admin_mixins import AuditedAdminMixin, StaffReadOnlyMixin

from .models import Execution

#: The end of stderr shown on a run's page (the whole text can be megabytes).
STDERR_TAIL_CHARS = 4000


@admin.register(Execution)
class ExecutionAdmin(AuditedAdminMixin, StaffReadOnlyMixin, admin.ModelAdmin):
    list_display = ("id", "status", "tenant", "plugin", "trigger", "queued_at", "duration_ms", "short_reason")
    list_filter = (
        "status",
        "trigger",
        ("queued_at", admin.DateFieldListFilter),
        "tenant",
        "plugin_version__plugin",
    )
    search_fields = ("=id", "error_reason", "tenant__slug", "plugin_version__plugin__slug")
    date_hierarchy = "queued_at"
    list_select_related = ("tenant", "plugin_version__plugin")
    show_full_result_count = False  # no COUNT(*) over every run on each page view
    fieldsets = (
        (
            None,
            {"fields": ("id", "status", "tenant", "plugin", "installation_link", "trigger", "triggered_by")},
        ),
        ("Outcome", {"fields": ("error_reason", "exit_code", "warnings", "stderr_tail", "ledger_link")}),
        (
            "Timing",
            {"fields": ("queued_at", "started_at", "finished_at", "duration_ms", "attempts", "timings")},
        ),
        (
            "Sandbox",
            {"fields": ("capabilities", "applied_limits", "container_id", "worker_hostname", "heartbeat_at")},
        ),
        ("Cancellation", {"fields": ("cancel_requested_at", "cancel_reason")}),
    )
    readonly_fields = (
        "id",
        "status",
        "tenant",
        "plugin",
        "installation_link",
        "trigger",
        "triggered_by",
        "error_reason",
        "exit_code",
        "warnings",
        "stderr_tail",
        "ledger_link",
        "queued_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "attempts",
        "timings",
        "capabilities",
        "applied_limits",
        "container_id",
        "worker_hostname",
        "heartbeat_at",
        "cancel_requested_at",
        "cancel_reason",
    )

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .select_related(
                "tenant",
                "plugin_version__plugin",
                "installation__plugin",
                "installation__tenant",
                "triggered_by",
            )
            .defer("input", "output", "stdout")
        )

    @admin.display(description="Plugin", ordering="plugin_version__plugin__slug")
    def plugin(self, execution: Execution) -> str:
        return str(execution.plugin_version)

    @admin.display(description="Reason")
    def short_reason(self, execution: Execution) -> str:
        reason = execution.error_reason
        return reason if len(reason) <= 80 else reason[:79] + "…"

    @admin.display(description="Installation")
    def installation_link(self, execution: Execution) -> str:
        url = reverse("admin:installations_installation_change", args=[execution.installation_id])
        return format_html('<a href="{}">{}</a>', url, execution.installation)

    @admin.display(description="Ledger entry")
    def ledger_link(self, execution: Execution) -> str:
        if execution.ledger_entry_id is None:
            return "none yet (written with the terminal status)"
        url = reverse("admin:ledger_ledgerentry_change", args=[execution.ledger_entry_id])
        return format_html('<a href="{}">{}</a>', url, execution.ledger_entry_id)

    @admin.display(description="stderr (end)")
    def stderr_tail(self, execution: Execution) -> str:
        text = execution.stderr[-STDERR_TAIL_CHARS:]
        return format_html("<pre>{}</pre>", text) if text else "-"
