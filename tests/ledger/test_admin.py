"""The admin shows the ledger read-only: list, filters, hash search; no add, change or delete."""

from __future__ import annotations

import pytest

from ledger.models import LedgerEntry
from ledger.services import append_entry

pytestmark = pytest.mark.django_db


def test_list_filter_and_search_by_hash(operator_client, world):
    first = append_entry("execution.completed", {"n": 1}, tenant_id=world.tenant_a.pk)
    second = append_entry("grant.created", {"n": 2})
    page = operator_client.get("/admin/ledger/ledgerentry/")
    assert page.status_code == 200
    assert first.entry_hash[:16].encode() in page.content and second.entry_hash[:16].encode() in page.content
    found = operator_client.get("/admin/ledger/ledgerentry/", {"q": second.entry_hash[:12]})
    assert (
        second.entry_hash[:16].encode() in found.content
        and first.entry_hash[:16].encode() not in found.content
    )
    by_type = operator_client.get("/admin/ledger/ledgerentry/", {"entry_type": "execution.completed"})
    assert first.entry_hash[:16].encode() in by_type.content
    assert second.entry_hash[:16].encode() not in by_type.content
    by_tenant = operator_client.get(
        "/admin/ledger/ledgerentry/", {"tenant__id__exact": str(world.tenant_a.pk)}
    )
    assert by_tenant.status_code == 200 and first.entry_hash[:16].encode() in by_tenant.content


def test_nothing_can_be_added_changed_or_deleted(operator_client):
    entry = append_entry("execution.completed", {"n": 1})
    base = "/admin/ledger/ledgerentry/"
    assert operator_client.get(f"{base}add/").status_code == 403
    assert operator_client.get(f"{base}{entry.pk}/delete/").status_code == 403
    detail = operator_client.get(f"{base}{entry.pk}/change/")
    assert detail.status_code == 200 and b'name="entry_type"' not in detail.content  # read-only view
    operator_client.post(f"{base}{entry.pk}/change/", {"entry_type": "execution.forged"})
    operator_client.post(
        base, {"action": "delete_selected", "_selected_action": [str(entry.pk)], "post": "yes"}
    )
    assert LedgerEntry.objects.get(pk=entry.pk).entry_type == "execution.completed"
