"""Read-only ledger browser for operators: entries, checkpoints, cosignatures and witness alarms; verify
the whole chain (the same check as ``manage.py verify_ledger``; needs ``ledger.verify_ledger``).

Nothing can be added, changed or deleted here; entries are only ever written by ``ledger.services``. An
execution entry's page links to the execution's receipt, downloaded exactly as the API serves it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from argus_plugins.audit import services as audit
from argus_plugins.core.admin_mixins import AuditedAdminMixin, ReadOnlyMixin
from argus_plugins.core.errors import CommonErrorCode, DomainError

from .models import LedgerAlarm, LedgerCheckpoint, LedgerCosignature, LedgerEntry, LedgerHead
from .proofs import execution_receipt_for
from .receipts import EXECUTION_ENTRY_TYPE
from .verification import verify_chain

VERIFY_PERMISSION = "ledger.verify_ledger"


class ReadOnlyAdmin(AuditedAdminMixin, ReadOnlyMixin, admin.ModelAdmin):
    pass


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "entry_type", "tenant", "created_at", "short_hash")
    list_filter = ("entry_type", "tenant")
    # "^" = prefix match, so a hash can be searched by its first characters (uses the index).
    search_fields = ("^entry_hash", "^prev_hash")
    list_select_related = ("tenant",)
    ordering = ("-sequence",)
    # COUNT(*) over a long ledger on every page view is wasted work.
    show_full_result_count = False
    fields = (
        "sequence",
        "entry_type",
        "tenant",
        "created_at",
        "prev_hash",
        "entry_hash",
        "record",
        "receipt",
    )
    readonly_fields = fields

    change_list_template = "admin/ledger/ledgerentry/change_list.html"

    @admin.display(description="entry hash")
    def short_hash(self, entry: LedgerEntry) -> str:
        return entry.entry_hash[:16] + "…"

    @admin.display(description="receipt")
    def receipt(self, entry: LedgerEntry) -> str:
        if entry.entry_type != EXECUTION_ENTRY_TYPE:
            return "—"
        url = reverse("admin:ledger_ledgerentry_receipt", args=[entry.pk])
        return format_html('<a href="{}" download>Download the execution receipt (JSON)</a>', url)

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(require_POST(self.verify_view))
        verify = path("verify/", view, name="ledger_ledgerentry_verify")
        receipt = path(
            "<uuid:entry_id>/receipt/",
            self.admin_site.admin_view(self.receipt_view),
            name="ledger_ledgerentry_receipt",
        )
        return [verify, receipt, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = {**(extra_context or {}), "can_verify_ledger": request.user.has_perm(VERIFY_PERMISSION)}
        return super().changelist_view(request, context)

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm(VERIFY_PERMISSION):
            raise PermissionDenied
        report = verify_chain()
        audit.record(
            "admin.ledger.ledgerentry.verify",
            actor=request.user,
            request=request,
            target=None,
            changes={"ok": report.ok, "entries_checked": report.entries_checked},
        )
        self.message_user(request, report.summary(), messages.SUCCESS if report.ok else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:ledger_ledgerentry_changelist"))

    def receipt_view(self, request: HttpRequest, entry_id: Any) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        entry = get_object_or_404(LedgerEntry, pk=entry_id, entry_type=EXECUTION_ENTRY_TYPE)
        execution_id = str(entry.record.get("execution_id", ""))
        try:
            document = execution_receipt_for(request.user, execution_id)
        except DomainError as exc:
            status = 404 if exc.code == CommonErrorCode.NOT_FOUND else 409  # e.g. not yet checkpointed
            return HttpResponse(exc.message, status=status, content_type="text/plain")
        response = HttpResponse(document.encode("utf-8"), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="receipt-{execution_id}.json"'
        return response


@admin.register(LedgerHead)
class LedgerHeadAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "entry_hash")
    exclude = ("frontier",)


class CosignatureInline(admin.TabularInline):
    model = LedgerCosignature
    fields = ("witness_name", "key_id", "signature_line", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdmin):
    list_display = ("tree_size", "root_hash", "created_at", "key_name")
    ordering = ("-tree_size",)
    fields = ("origin", "tree_size", "root_hash", "key_name", "key_id", "created_at", "note")
    readonly_fields = fields
    inlines = (CosignatureInline,)


@admin.register(LedgerAlarm)
class LedgerAlarmAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "witness_name", "detail")
    fields = ("created_at", "witness_name", "detail", "accepted_note", "offending_note")
    readonly_fields = fields
