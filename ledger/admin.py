"""Read-only ledger browser for operators: list, filter by type and tenant, search by hash prefix.

Nothing can be added, changed or deleted here; entries are only ever written by ``ledger.services``.
"""

from __future__ import annotations

from django.contrib import admin

from argus_plugins.audit.admin_mixins import AuditedAdminMixin
from argus_plugins.core.admin_mixins import ReadOnlyMixin

from .models import LedgerEntry, LedgerHead


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

    @admin.display(description="entry hash")
    def short_hash(self, entry: LedgerEntry) -> str:
        return entry.entry_hash[:16] + "…"


@admin.register(LedgerHead)
class LedgerHeadAdmin(ReadOnlyAdmin):
    list_display = ("sequence", "entry_hash")
