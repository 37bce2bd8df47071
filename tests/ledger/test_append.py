"""Appending: the hash preimage, write-time refusals, transactions, append-only ORM, the other apps' hooks."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import random

import pytest
import rfc8785
from django.db import transaction

from argus_plugins.canonical import NotCanonicalizable, canonical_json
from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError
from installations import services as installation_services
from ledger.hashing import (
    GENESIS_HASH,
    canonical_record,
    format_timestamp,
    hash_stored_entry,
    is_timestamp,
    parse_stored_record,
    preimage,
)
from ledger.models import LedgerEntry, LedgerHead, LedgerImmutableError
from ledger.services import append_entries, append_entry
from ledger.verification import verify_chain

from .support import T0, build_chain

pytestmark = pytest.mark.django_db


def expected_hash(entry: LedgerEntry) -> str:
    """The documented preimage, computed with the reference RFC 8785 library directly."""
    preimage_object = {
        "sequence": entry.sequence,
        "entry_type": entry.entry_type,
        "record": entry.record,
        "prev_hash": entry.prev_hash,
        "created_at": entry.created_at,
    }
    return hashlib.sha256(rfc8785.dumps(preimage_object)).hexdigest()


def test_first_entries_chain_from_genesis_with_documented_preimage():
    with clock.frozen(T0):
        first = append_entry("execution.completed", {"execution_id": "e1", "cpus": 0.5})
    second = append_entry("grant.created", {"grant_id": "g1", "note": "😂 ünï"})
    assert (first.sequence, first.prev_hash) == (1, GENESIS_HASH)
    assert first.created_at == "2026-11-25T15:31:17.123456Z"
    assert (second.sequence, second.prev_hash) == (2, first.entry_hash)
    assert is_timestamp(second.created_at)
    for entry in (first, second):
        stored = LedgerEntry.objects.get(pk=entry.pk)
        assert stored.entry_hash == entry.entry_hash == expected_hash(stored)
    assert LedgerHead.objects.get().sequence == 2
    assert LedgerHead.objects.get().entry_hash == second.entry_hash


def test_timestamp_format_is_fixed_width_utc_with_microseconds():
    assert format_timestamp(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)) == "2026-01-02T03:04:05.000000Z"
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert (
        format_timestamp(dt.datetime(2026, 1, 2, 5, 4, 5, 7, tzinfo=plus_two))
        == "2026-01-02T03:04:05.000007Z"
    )
    with pytest.raises(ValueError):
        format_timestamp(dt.datetime(2026, 1, 2))  # naive: which zone? refuse


def random_value(rng: random.Random, depth: int = 0):
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 2**53 - 1, -(2**53 - 1), rng.randint(-(10**12), 10**12)])
    if kind == "float":
        return rng.choice([0.5, -0.0, 1e-7, 123.456, 1e15 + 0.5, 56.0, rng.uniform(-1e6, 1e6), 1e-5])
    if kind == "str":
        alphabet = 'aZ09 "\\\n\t\x01\x7f\u2028é€\ue000\ufb33😂𝄞'
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["a", "B", "é", "\ue000", "😂", "1", "10", "", "\x01"]
    return {rng.choice(keys) + str(i % 2): random_value(rng, depth + 1) for i in range(rng.randint(0, 5))}


def test_fast_canonicalisation_and_preimage_equal_rfc8785():
    """Verification's fast path must be byte-identical to RFC 8785 on everything the ledger can store."""
    rng = random.Random(8785)
    for _ in range(3000):
        record = {"r": random_value(rng)}
        reference = rfc8785.dumps(record)
        for stored_text in (json.dumps(record), json.dumps(record, ensure_ascii=False, indent=1)):
            parsed, fast = parse_stored_record(stored_text)
            assert canonical_record(parsed, fast) == reference, record
            expected = hashlib.sha256(preimage(7, "grant.created", reference, "0" * 64, "x")).hexdigest()
            assert hash_stored_entry(7, "grant.created", stored_text, "0" * 64, "x") == (parsed, expected)
        sequence = rng.randint(1, 2**53 - 1)
        fields = {
            "sequence": sequence,
            "entry_type": "execution.completed",
            "record": record,
            "prev_hash": "ab" * 32,
            "created_at": "2026-11-25T15:31:17.123456Z",
        }
        assert preimage(sequence, "execution.completed", reference, "ab" * 32, fields["created_at"]) == (
            rfc8785.dumps(fields)
        )


@pytest.mark.parametrize(
    ("record", "where"),
    [
        ({"duration": float("nan")}, "$.duration"),
        ({"n": [1, 2**60]}, "$.n[1]"),
        ({"at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}, "$.at"),
        ({"amount": decimal.Decimal("1.10")}, "$.amount"),
        ({"big": 2.0**60}, "$.big"),
        ({"text": "nul\x00byte"}, "$.text"),
        ({1: "int key"}, "$"),
        (["not", "an", "object"], ""),
    ],
)
def test_record_outside_the_domain_raises_at_write_time_and_writes_nothing(record, where):
    append_entry("execution.completed", {"ok": True})
    head_before = LedgerHead.objects.get()
    with pytest.raises(NotCanonicalizable) as raised:
        append_entry("execution.completed", record)
    assert where in str(raised.value)
    assert LedgerEntry.objects.count() == 1
    assert LedgerHead.objects.get().entry_hash == head_before.entry_hash
    # A batch with one bad record writes none of them.
    with pytest.raises(NotCanonicalizable):
        append_entries([("execution.completed", {"i": 1}, None), ("execution.completed", record, None)])
    assert LedgerEntry.objects.count() == 1
    assert append_entry("execution.completed", {"after": True}).sequence == 2
    assert verify_chain().ok


@pytest.mark.parametrize("entry_type", ["", "execution", "Execution.Completed", "a..b", "x" * 70 + ".y", 5])
def test_entry_type_must_be_a_dotted_name(entry_type):
    with pytest.raises(ValueError):
        append_entry(entry_type, {})
    assert not LedgerEntry.objects.exists()


def test_append_rolled_back_with_its_transaction_leaves_no_entry_and_no_gap():
    append_entry("execution.completed", {"n": 1})

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        append_entry("execution.completed", {"n": 2})
        raise Boom
    assert list(LedgerEntry.objects.values_list("sequence", flat=True)) == [1]
    assert LedgerHead.objects.get().sequence == 1
    assert append_entry("execution.completed", {"n": 3}).sequence == 2
    assert verify_chain().ok


def test_orm_refuses_updates_and_deletes():
    entry = append_entry("execution.completed", {"n": 1})
    original = LedgerEntry.objects.values().get(pk=entry.pk)
    entry.entry_type = "execution.forged"
    with pytest.raises(LedgerImmutableError):
        entry.save()
    with pytest.raises(LedgerImmutableError):
        entry.delete()
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.filter(pk=entry.pk).update(entry_type="execution.forged")
    with pytest.raises(LedgerImmutableError):
        LedgerEntry.objects.all().delete()
    # Both run inside Django's own atomic blocks; ours gives the test a savepoint to roll back to.
    with pytest.raises(LedgerImmutableError), transaction.atomic():
        LedgerEntry.objects.bulk_update([entry], ["entry_type"])
    with pytest.raises(LedgerImmutableError), transaction.atomic():
        LedgerEntry.objects.update_or_create(pk=entry.pk, defaults={"entry_type": "execution.forged"})
    assert LedgerEntry.objects.values().get(pk=entry.pk) == original
    assert verify_chain().ok


def test_tenant_is_copied_into_the_record_and_must_agree(world):
    tenant_id = world.tenant_a.pk
    entry = append_entry("execution.completed", {"n": 1}, tenant_id=tenant_id)
    assert entry.record["tenant_id"] == str(tenant_id)
    assert LedgerEntry.objects.get(pk=entry.pk).tenant_id == tenant_id
    # A record naming its tenant scopes the entry without the keyword.
    assert append_entry("execution.completed", {"tenant_id": str(tenant_id)}).tenant_id == tenant_id
    with pytest.raises(ValueError):
        append_entry("execution.completed", {"tenant_id": str(world.tenant_b.pk)}, tenant_id=tenant_id)
    with pytest.raises(ValueError):
        append_entry("execution.completed", {"tenant_id": str(tenant_id).upper()})
    assert LedgerEntry.objects.count() == 2
    assert verify_chain().ok


def test_ten_thousand_entries_verify_with_progress():
    entries = build_chain(10_000)
    calls = []
    report = verify_chain(progress=lambda checked, total: calls.append((checked, total)), progress_every=2500)
    assert report.ok, report
    assert report.entries_checked == 10_000
    assert report.head_hash == entries[-1].entry_hash == LedgerHead.objects.get().entry_hash
    assert calls == [(2500, 10_000), (5000, 10_000), (7500, 10_000), (10_000, 10_000)]
    # Spot-check stored entries against the documented preimage with the reference library.
    for entry in LedgerEntry.objects.filter(sequence__in=[1, 2, 4999, 10_000]):
        assert entry.entry_hash == expected_hash(entry)


def test_empty_ledger_verifies():
    report = verify_chain()
    assert (report.ok, report.entries_checked, report.head_hash) == (True, 0, GENESIS_HASH)


# --- The other apps' entries -------------------------------------------------------------------------------


def test_grant_created_and_revoked_are_recorded_in_the_same_transaction(world, installation):
    expires = clock.now() + dt.timedelta(days=3)
    grant = installation_services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read", expires_at=expires
    )
    created = LedgerEntry.objects.get(entry_type="grant.created")
    assert created.tenant_id == world.tenant_a.pk
    assert created.record == {
        "grant_id": str(grant.pk),
        "tenant_id": str(world.tenant_a.pk),
        "installation_id": str(installation.pk),
        "plugin_slug": "reader",
        "capability": "evidence:read",
        "granted_by_id": str(world.admin_a.pk),
        "granted_by": "alice-admin",
        "granted_at": format_timestamp(grant.granted_at),
        "expires_at": format_timestamp(expires),
    }
    grant = installation_services.revoke_capability_grant(
        actor=world.admin_a, grant_id=grant.pk, reason="done"
    )
    revoked = LedgerEntry.objects.get(entry_type="grant.revoked")
    assert revoked.record == {
        "grant_id": str(grant.pk),
        "tenant_id": str(world.tenant_a.pk),
        "installation_id": str(installation.pk),
        "capability": "evidence:read",
        "revoked_by_id": str(world.admin_a.pk),
        "revoked_by": "alice-admin",
        "revoked_at": format_timestamp(grant.revoked_at),
        "reason": "done",
    }
    assert revoked.sequence == created.sequence + 1
    assert verify_chain().ok


def test_refused_grant_writes_no_entry(world, installation):
    before = LedgerEntry.objects.count()
    with pytest.raises(DomainError) as refused:
        installation_services.grant_capability(
            actor=world.viewer_a, installation_id=installation.pk, capability="evidence:read"
        )
    assert refused.value.code == CommonErrorCode.PERMISSION_DENIED
    assert LedgerEntry.objects.count() == before


def test_version_approval_is_recorded(world, published_version):
    entry = LedgerEntry.objects.get(
        entry_type="version.approved", record__version_id=str(published_version.pk)
    )
    assert entry.tenant_id is None
    assert entry.record == {
        "plugin_id": str(published_version.plugin_id),
        "plugin_slug": "echo",
        "version_id": str(published_version.pk),
        "version": "1.0.0",
        "code_sha256": published_version.code_sha256,
        "manifest_sha256": published_version.manifest_sha256,
        "signing_key_fingerprint": published_version.signing_key.fingerprint,
        "reviewer_id": str(world.staff.pk),
        "reviewer": "sam-staff",
        "notes": published_version.review_notes,
        "approved_at": format_timestamp(published_version.reviewed_at),
    }
    assert canonical_json(entry.record)  # inside the domain
    assert verify_chain().ok
