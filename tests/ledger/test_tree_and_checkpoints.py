"""The stored tree equals the reference tree; proofs read O(log n) rows; checkpoints are signed and stored."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.server
import io
import json
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from argus_plugins.core import clock
from ledger import checkpoints, tasks, tree
from ledger.hashing import stored_preimage
from ledger.merkle import MemoryTree, ProofError, leaf_hash, verify_consistency, verify_inclusion
from ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead
from ledger.notes import NoteError, load_public_key, parse_checkpoint, split_note, verify_note
from ledger.services import append_entry
from ledger.verification import verify_chain

from .conftest import LOG_ORIGIN
from .support import build_chain

pytestmark = pytest.mark.django_db


def reference_tree() -> MemoryTree:
    """The tree recomputed from the stored entries' preimages, independently of the stored hashes."""
    reference = MemoryTree()
    for entry in LedgerEntry.objects.order_by("sequence"):
        _, data = stored_preimage(
            entry.sequence, entry.entry_type, json.dumps(entry.record), entry.prev_hash, entry.created_at
        )
        assert hashlib.sha256(data).hexdigest() == entry.entry_hash
        reference.append_hash(leaf_hash(data))
    return reference


def test_stored_tree_is_the_rfc9162_tree_of_the_preimages(world):
    build_chain(37, tenant_id=world.tenant_a.pk)
    for _ in range(3):  # single appends too, not only batches
        append_entry("grant.created", {"grant_id": "g"}, tenant_id=world.tenant_a.pk)
    reference = reference_tree()
    assert reference.size == 40
    assert tree.current_head().root == reference.root()
    for size in (1, 2, 3, 7, 8, 16, 33, 40):
        assert tree.root_at(size) == reference.root(size)
    for sequence, size in [(1, 1), (1, 40), (17, 40), (40, 40), (5, 8), (33, 37)]:
        proof = tree.inclusion_proof(sequence, size)
        assert proof == reference.inclusion_proof(sequence - 1, size)
        verify_inclusion(sequence - 1, size, reference.node(0, sequence - 1), proof, reference.root(size))
    for old, new in [(1, 40), (7, 8), (8, 40), (13, 37), (40, 40)]:
        proof = tree.consistency_proof(old, new)
        assert proof == reference.consistency_proof(old, new)
        verify_consistency(old, new, reference.root(old), reference.root(new), proof)
    assert verify_chain().root_hash == base64.b64encode(reference.root()).decode()


def test_a_proof_reads_one_query_of_at_most_log_n_rows(world):
    build_chain(1000)
    with CaptureQueriesContext(connection) as queries:
        tree.inclusion_proof(377, 1000)
    # The size check (head row) and one fetch of the entries holding the needed nodes.
    assert len(queries) == 2
    fetched = LedgerEntry.objects.filter(
        sequence__in=[(index + 1) << level for level, index in tree_nodes_of_proof(377, 1000)]
    ).count()
    assert fetched <= 2 * (1000).bit_length()


def tree_nodes_of_proof(sequence: int, size: int):
    from ledger.merkle import inclusion_nodes, nodes_of

    return nodes_of(inclusion_nodes(sequence - 1, size))


def test_an_append_that_rolls_back_leaves_the_tree_as_it_was(world):
    build_chain(5)
    before = LedgerHead.objects.get().frontier
    with pytest.raises(RuntimeError), transaction.atomic():
        append_entry("grant.created", {"grant_id": "g"})
        raise RuntimeError("the caller's transaction fails after the append")
    assert bytes(LedgerHead.objects.get().frontier) == bytes(before)
    append_entry("grant.created", {"grant_id": "g"})
    assert verify_chain().ok


def test_proof_sizes_beyond_the_ledger_are_refused(world):
    build_chain(3)
    with pytest.raises(ProofError):
        tree.inclusion_proof(1, 4)
    with pytest.raises(ProofError):
        tree.inclusion_proof(4, 3)
    with pytest.raises(ProofError):
        tree.consistency_proof(2, 4)


# --- Checkpoints ---------------------------------------------------------------------------------------------


def test_checkpoint_is_a_signed_c2sp_note(world, log_key):
    build_chain(11)
    checkpoint = checkpoints.issue_checkpoint()
    text, signatures = split_note(checkpoint.note)
    assert text == f"{LOG_ORIGIN}\n11\n{checkpoint.root_hash}\n"
    assert base64.b64decode(checkpoint.root_hash) == tree.root_at(11)
    (signature,) = signatures
    assert checkpoint.note.endswith(signature.line) and signature.line.startswith(f"\u2014 {LOG_ORIGIN} ")
    # Key ID of signature type 0x02: SHA-256 of the DER SubjectPublicKeyInfo, first four bytes.
    public = load_public_key(log_key)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert signature.key_id == hashlib.sha256(der).digest()[:4] == bytes.fromhex(checkpoint.key_id)
    assert verify_note(checkpoint.note, LOG_ORIGIN, public)[0] == text
    assert parse_checkpoint(text).size == 11
    # Any change of the text breaks the signature.
    with pytest.raises(NoteError):
        verify_note(checkpoint.note.replace("\n11\n", "\n12\n"), LOG_ORIGIN, public)


def test_a_checkpoint_is_issued_only_when_the_tree_grew(world, log_key):
    assert checkpoints.issue_checkpoint() is None  # empty ledger
    build_chain(2)
    first = checkpoints.issue_checkpoint()
    assert checkpoints.issue_checkpoint() == first
    build_chain(1)
    second = checkpoints.issue_checkpoint()
    assert (first.tree_size, second.tree_size) == (2, 3)
    assert list(LedgerCheckpoint.objects.values_list("tree_size", flat=True)) == [3, 2]


def test_the_beat_task_issues_at_most_one_checkpoint_per_interval(world, log_key, settings):
    settings.ARGUS_LEDGER_CHECKPOINT_INTERVAL_SECONDS = 60
    t0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    build_chain(3)
    with clock.frozen(t0):
        assert tasks.issue_checkpoint() == 3
    build_chain(1)
    with clock.frozen(t0 + dt.timedelta(seconds=30)):
        assert tasks.issue_checkpoint() is None
    with clock.frozen(t0 + dt.timedelta(seconds=60)):
        assert tasks.issue_checkpoint() == 4
        assert tasks.issue_checkpoint() is None  # redelivered: nothing new
    assert settings.CELERY_BEAT_SCHEDULE["ledger-checkpoint"]["task"] == "ledger.issue_checkpoint"


def test_without_a_log_key_nothing_is_signed(world, settings, tmp_path):
    settings.ARGUS_LEDGER_LOG_KEY = ""
    settings.ARGUS_LEDGER_LOG_KEY_FILE = str(tmp_path / "absent.pem")
    build_chain(2)
    with pytest.raises(checkpoints.LogKeyMissingError):
        checkpoints.issue_checkpoint()
    assert tasks.issue_checkpoint() is None
    assert not LedgerCheckpoint.objects.exists()


def test_the_log_key_can_come_from_a_file(world, settings, tmp_path, log_key_pem):
    settings.ARGUS_LEDGER_LOG_KEY = ""
    settings.ARGUS_LEDGER_LOG_KEY_FILE = str(tmp_path / "log.pem")
    (tmp_path / "log.pem").write_text(log_key_pem)
    build_chain(1)
    assert checkpoints.issue_checkpoint().tree_size == 1


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_checkpoints_are_exported_to_a_directory_and_a_webhook(world, log_key, settings, tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.ARGUS_LEDGER_CHECKPOINT_EXPORT_DIR = str(tmp_path / "published")
        settings.ARGUS_LEDGER_CHECKPOINT_WEBHOOK = f"http://127.0.0.1:{server.server_port}/checkpoints"
        build_chain(4)
        checkpoint = checkpoints.issue_checkpoint()
    finally:
        server.shutdown()
        server.server_close()
    published = tmp_path / "published"
    assert (published / "4.checkpoint").read_text() == checkpoint.note
    assert (published / "latest.checkpoint").read_text() == checkpoint.note
    assert _Receiver.bodies[-1] == checkpoint.note.encode()


def test_ledger_keygen_creates_a_private_key_once(settings, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.ARGUS_LEDGER_LOG_KEY_FILE = str(tmp_path / "keys" / "log.pem")
    out = io.StringIO()
    call_command(
        "ledger_keygen", public_key_out=str(tmp_path / "log-public.pem"), stdout=out, stderr=io.StringIO()
    )
    key_file = tmp_path / "keys" / "log.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = (tmp_path / "log-public.pem").read_text()
    assert out.getvalue().startswith(public) and public.startswith("-----BEGIN PUBLIC KEY-----")
    assert out.getvalue().splitlines()[-1].startswith(f"{settings.ARGUS_LEDGER_ORIGIN}+")
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("ledger_keygen", stdout=io.StringIO())
    before = key_file.read_bytes()
    call_command("ledger_keygen", if_missing=True, stdout=io.StringIO())
    assert key_file.read_bytes() == before
    assert (tmp_path / "keys" / "log.public.pem").read_text() == public  # the default: beside the key


def test_ledger_checkpoint_command_issues_prints_and_exports(world, log_key, tmp_path):
    from django.core.management import call_command

    build_chain(3)
    out = io.StringIO()
    call_command("ledger_checkpoint", export_dir=str(tmp_path / "out"), stdout=out)
    checkpoint = LedgerCheckpoint.objects.get()
    assert out.getvalue() == checkpoint.note == (tmp_path / "out" / "latest.checkpoint").read_text()


def test_the_migration_builds_the_tree_of_an_existing_ledger(world):
    """Entries appended before the tree existed get their subtree hashes and the head its frontier."""
    import importlib

    from django.db.migrations.executor import MigrationExecutor

    build_chain(23)
    expected_root = tree.current_head().root
    expected_nodes = dict(LedgerEntry.objects.values_list("sequence", "subtree_hashes"))
    sql_reset = "UPDATE ledger_ledgerentry SET subtree_hashes = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql_reset, [b""])
        cursor.execute("UPDATE ledger_ledgerhead SET frontier = %s", [b""])
    assert verify_chain().reason is not None  # the tree is missing now
    state = MigrationExecutor(connection).loader.project_state(("ledger", "0005_backfill_merkle_tree"))
    migration = importlib.import_module("ledger.migrations.0005_backfill_merkle_tree")
    migration.backfill(state.apps, None)
    assert tree.current_head().root == expected_root
    assert {k: bytes(v) for k, v in LedgerEntry.objects.values_list("sequence", "subtree_hashes")} == {
        k: bytes(v) for k, v in expected_nodes.items()
    }
    assert verify_chain().ok
