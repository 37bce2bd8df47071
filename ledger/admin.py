"""Read-only ledger browser for operators: list, filter by type and tenant, search by hash prefix, and
verify the whole chain (the same check as ``manage.py verify_ledger``; needs ``ledger.verify_ledger``).

Nothing can be added, changed or deleted here; entries are only ever written by ``ledger.services``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from argus_plugins.audit import services as audit
from argus_plugins.audit.admin_mixins import AuditedAdminMixin
from argus_plugins.core.admin_mixins import ReadOnlyMixin

from .models import LedgerEntry, LedgerHead
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
    fields = ("sequence", "entry_type", "tenant", "created_at", "prev_hash", "entry_hash", "record")
    readonly_fields = fields

    change_list_template = "admin/ledger/ledgerentry/change_list.html"

    @admin.display(description="entry hash")
    def short_hash(self, entry: LedgerEntry) -> str:
        return entry.entry_hash[:16] + "…"

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(require_POST(self.verify_view))
        verify = path("verify/", view, name="ledger_ledgerentry_verify")
        return [verify, *super().get_urls()]

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


@admin.register(LedgerHead)
class LedgerHeadAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "entry_hash")
