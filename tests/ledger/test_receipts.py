"""An execution's receipt verifies offline with the standalone file alone, and not after any change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from argus_plugins.tenancy import services as tenancy_services
from ledger import checkpoints, proofs, standalone_verify
from ledger.models import LedgerEntry

from .receipt_support import finished_execution

REPO = Path(__file__).resolve().parents[2]
STANDALONE = REPO / "ledger" / "standalone_verify.py"
# Without site-packages: the standard library only, so no 'cryptography'.
BARE_PYTHON = [sys.executable, "-I", "-S"]
REJECTED = (
    standalone_verify.NoteError,
    standalone_verify.ProofError,
    standalone_verify.NotCanonical,
    ValueError,
    KeyError,
    TypeError,
)


@pytest.fixture
def receipt(world, installation, log_key, tmp_path):
    """``(receipt path, log key path, execution)`` of a finished run of tenant A with two evidence items."""
    execution = finished_execution(world, installation)
    checkpoints.issue_checkpoint()
    path = tmp_path / "receipt.json"
    path.write_bytes(proofs.execution_receipt_for(world.viewer_a, execution.pk).encode("utf-8"))
    return path, tmp_path / "log-key.pem", execution


def standalone(*args, python=(sys.executable,)) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*python, str(STANDALONE), *map(str, args)], capture_output=True, text=True, timeout=60
    )


def test_receipt_verifies_offline_with_the_standalone_file(receipt):
    path, log_key, execution = receipt
    result = standalone("receipt", path, "--log-key", log_key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"OK execution {execution.pk}: entry ")
    assert "reader 1.0.0, 2 evidence item(s)" in result.stdout and "NOT checked" not in result.stdout


def test_receipt_content(receipt):
    path, log_key, execution = receipt
    document = json.loads(path.read_text())
    entry = LedgerEntry.objects.get(execution=execution)
    assert document["entry"]["entry_hash"] == entry.entry_hash
    assert document["entry"]["record"] == entry.record
    assert document["log"] == {"key_name": "argus.test/ledger", "public_key_pem": log_key.read_text()}
    version = execution.plugin_version
    assert document["plugin_version"]["signature"] == version.signature
    assert document["plugin_version"]["publisher_key_fingerprint"] == version.signing_key.fingerprint
    assert sorted(item["sha256"] for item in document["evidence"]) == sorted(
        link.sha256 for link in execution.evidence_links.all()
    )
    assert document["checkpoint"] == checkpoints.latest_checkpoint().note


def test_any_flipped_byte_fails_verification(receipt):
    path, log_key, _ = receipt
    raw = path.read_bytes()
    key = standalone_verify.read_log_key(str(log_key))
    crypto = standalone_verify.Crypto()
    assert standalone_verify.verify_receipt(raw, key, crypto).startswith("OK")
    accepted = []
    for position in range(len(raw)):
        for mask in (0x01, 0x20):
            flipped = bytearray(raw)
            flipped[position] ^= mask
            try:
                standalone_verify.verify_receipt(bytes(flipped), key, crypto)
            except REJECTED:
                continue
            accepted.append((position, mask))
    assert accepted == [], f"accepted after flipping byte(s) {accepted[:5]} of {len(raw)}"


def test_the_command_line_reports_a_tampered_receipt(receipt, tmp_path):
    path, log_key, _ = receipt
    document = json.loads(path.read_text())
    document["evidence"][0]["sha256"] = "0" * 64
    tampered = tmp_path / "tampered.json"
    tampered.write_text(standalone_verify.canonicalize(document) + "\n")
    result = standalone("receipt", tampered, "--log-key", log_key)
    assert (result.returncode, result.stdout.strip()) == (
        1,
        "FAILED: the evidence hashes differ from the entry's",
    )


def test_another_log_key_is_refused(receipt, tmp_path, log_key_pem):
    from ledger.notes import generate_private_key_pem, load_private_key, public_key_pem

    path, _, _ = receipt
    other = tmp_path / "other.pem"
    other.write_text(public_key_pem(load_private_key(generate_private_key_pem()).public_key()))
    result = standalone("receipt", path, "--log-key", other)
    assert result.returncode == 1 and "another log key" in result.stdout


def test_without_cryptography_signatures_are_skipped_only_when_asked(receipt):
    path, log_key, _ = receipt
    refused = standalone("receipt", path, "--log-key", log_key, python=BARE_PYTHON)
    assert refused.returncode == 1 and "cryptography" in refused.stdout
    skipped = standalone("receipt", path, "--log-key", log_key, "--skip-signatures", python=BARE_PYTHON)
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "signatures NOT checked" in skipped.stdout


def test_the_admin_downloads_the_receipt(receipt, world, client):
    path, _, execution = receipt
    world.staff.is_superuser = True
    world.staff.save()
    client.force_login(world.staff)
    entry = LedgerEntry.objects.get(execution=execution)
    page = client.get(f"/admin/ledger/ledgerentry/{entry.pk}/change/")
    assert f"/admin/ledger/ledgerentry/{entry.pk}/receipt/" in page.content.decode()
    download = client.get(f"/admin/ledger/ledgerentry/{entry.pk}/receipt/")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="receipt-{execution.pk}.json"'
    assert download.content == path.read_bytes()


@pytest.mark.django_db(transaction=True)
def test_the_cli_downloads_a_receipt_that_verifies(world, installation, log_key, live_server, tmp_path):
    execution = finished_execution(world, installation)
    checkpoints.issue_checkpoint()
    _, token = tenancy_services.create_api_token(actor=world.viewer_a, name="court export")
    target = tmp_path / "downloaded.json"
    url = f"{live_server.url}/graphql/"
    download = cli("receipt", execution.pk, "--url", url, "--token", token, "--output", target)
    assert download.returncode == 0, download.stderr
    assert download.stdout.strip() == str(target)
    assert standalone("receipt", target, "--log-key", tmp_path / "log-key.pem").returncode == 0
    refused = cli("receipt", execution.pk, "--url", url, "--token", "wrong")
    assert refused.returncode == 3 and "UNAUTHENTICATED" in refused.stderr  # refused by the server


def cli(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "argus_cli", *map(str, args)]
    env = {**os.environ, "ARGUS_PLUGIN_CONFIG": os.devnull}  # never the developer's own login
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
