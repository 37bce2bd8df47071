"""verify_ledger and export_ledger, and the standard-library verifier run on a real export."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785
from django.core.management import call_command

from ledger import standalone_verify
from ledger.hashing import GENESIS_HASH
from ledger.services import append_entry
from ledger.verification import verify_chain

from .support import build_chain, sql

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
STANDALONE = REPO / "ledger" / "standalone_verify.py"
TESTDATA = Path(os.environ.get("ARGUS_TESTDATA_DIR", REPO / "tests" / "data"))
JCS_NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]
# The system interpreter in isolated mode without site-packages: proves the script needs only the stdlib.
BARE_PYTHON = [sys.executable, "-I", "-S"]


def run_verify(**options):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=err, **options)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


def export(tmp_path) -> Path:
    target = tmp_path / "ledger.jsonl"
    call_command("export_ledger", output=str(target), stderr=io.StringIO())
    return target


def standalone(path: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BARE_PYTHON, str(STANDALONE), str(path), *extra], capture_output=True, text=True, timeout=60
    )


def test_verify_ledger_ok_with_progress():
    build_chain(25)
    code, out, err = run_verify(progress_every=10)
    assert code == 0
    report = verify_chain()
    assert out.strip() == f"Ledger OK: 25 entries, head {report.head_hash}, root {report.root_hash}"
    assert err.splitlines() == [
        "verified 10/25 entries (40%)",
        "verified 20/25 entries (80%)",
        "verified 25/25 entries (100%)",
    ]


def test_verify_ledger_fails_naming_sequence_and_reason():
    build_chain(12)
    sql("UPDATE ledger_ledgerentry SET created_at = %s WHERE sequence = 7", ["2026-01-01T00:00:00.000000Z"])
    code, out, err = run_verify(progress_every=0)
    assert code == 1
    assert out == ""
    assert "Ledger BROKEN at sequence 7: HASH_MISMATCH" in err
    assert "Entries 1 to 6 are intact" in err


def test_export_has_every_preimage_field_one_entry_per_line(tmp_path, world):
    append_entry(
        "execution.completed", {"cpus": 0.5, "note": "é😂\u2028", "n": 2**53 - 1}, tenant_id=world.tenant_a.pk
    )
    build_chain(4)
    lines = export(tmp_path).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    first = json.loads(lines[0])
    assert list(first) == ["sequence", "entry_type", "record", "prev_hash", "created_at", "entry_hash"]
    assert first["record"] == {
        "cpus": 0.5,
        "note": "é😂\u2028",
        "n": 2**53 - 1,
        "tenant_id": str(world.tenant_a.pk),
    }
    assert (first["sequence"], first["prev_hash"]) == (1, GENESIS_HASH)


def test_export_to_stdout():
    build_chain(3)
    out = io.StringIO()
    call_command("export_ledger", stdout=out)
    assert [json.loads(line)["sequence"] for line in out.getvalue().splitlines()] == [1, 2, 3]


def test_standalone_verifier_round_trip(tmp_path):
    build_chain(300)
    append_entry(
        "execution.completed", {"float": 1e-7, "big": 1e15 + 0.5, "whole": 56.0, "\ue000": 1, "😂": 2}
    )
    path = export(tmp_path)
    report = verify_chain()
    head = report.head_hash
    result = standalone(path)
    # The standalone file computes the same Merkle root as the platform's tree.
    expected = f"OK 301 entries, head {head}, root {report.root_hash}"
    assert (result.returncode, result.stdout.strip()) == (0, expected)
    assert standalone(path, "--head", head).returncode == 0
    # The head obtained independently is what detects a truncated export.
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(
        "".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8"
    )
    assert standalone(truncated).returncode == 0
    assert standalone(truncated, "--head", head).returncode == 1


def tamper_line(path: Path, index: int, change) -> Path:
    lines = path.read_text(encoding="utf-8").splitlines()
    change(lines, index)
    target = path.with_name("tampered.jsonl")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def set_field(field, value):
    def change(lines, index):
        entry = json.loads(lines[index])
        entry[field] = value
        lines[index] = json.dumps(entry, ensure_ascii=False)

    return change


def alter_record(lines, index):
    entry = json.loads(lines[index])
    entry["record"]["exit_code"] += 1
    lines[index] = json.dumps(entry)


def delete(lines, index):
    del lines[index]


def swap_next(lines, index):
    lines[index], lines[index + 1] = lines[index + 1], lines[index]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (alter_record, "BROKEN at sequence 8: hash mismatch"),
        (set_field("entry_type", "execution.forged"), "BROKEN at sequence 8: hash mismatch"),
        (set_field("created_at", "2020-01-01T00:00:00.000000Z"), "BROKEN at sequence 8: hash mismatch"),
        (set_field("entry_hash", "0" * 64), "BROKEN at sequence 8: hash mismatch"),
        (set_field("prev_hash", "0" * 64), "BROKEN at sequence 8: hash mismatch"),
        (set_field("sequence", 9), "BROKEN at sequence 8: gap"),
        (delete, "BROKEN at sequence 8: gap"),
        (swap_next, "BROKEN at sequence 8: gap"),
    ],
)
def test_standalone_verifier_detects_a_tampered_line(tmp_path, change, expected):
    build_chain(20)
    result = standalone(tamper_line(export(tmp_path), 7, change))
    assert result.returncode == 1
    assert result.stdout.startswith(expected), result.stdout


def test_standalone_verifier_rejects_malformed_lines(tmp_path):
    build_chain(3)

    def duplicate_key(lines, index):
        lines[index] = lines[index][:-1] + ',"sequence":2}'

    result = standalone(tamper_line(export(tmp_path), 1, duplicate_key))
    assert (result.returncode, result.stdout.split(":")[0]) == (1, "BROKEN at sequence 2")


@pytest.mark.parametrize("name", JCS_NAMES)
def test_standalone_canonicalisation_matches_the_jcs_vectors(name):
    source = (TESTDATA / "jcs" / "input" / f"{name}.json").read_bytes()
    expected = (TESTDATA / "jcs" / "output" / f"{name}.json").read_bytes()
    assert standalone_verify.canonicalize(json.loads(source)).encode("utf-8") == expected


def test_standalone_canonicalisation_matches_rfc8785_on_real_records(world, installation, published_version):
    from installations import services as installation_services

    installation_services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    build_chain(200, tenant_id=world.tenant_a.pk)
    records = [json.loads(line)["record"] for line in io.StringIO(_export_text())]
    assert {"version.approved", "grant.created"} <= {
        json.loads(line)["entry_type"] for line in _export_text().splitlines()
    }
    for record in records:
        assert standalone_verify.canonicalize(record).encode("utf-8") == rfc8785.dumps(record)


def _export_text() -> str:
    out = io.StringIO()
    call_command("export_ledger", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), 2**53, -(2**53), "\ud800", {"a": "\udfff"}],
)
def test_standalone_refuses_values_outside_rfc8785(value):
    with pytest.raises(standalone_verify.NotCanonical):
        standalone_verify.canonicalize(value)


def test_standalone_orders_keys_by_utf16_code_units():
    assert standalone_verify.canonicalize({"\ue000": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ue000":1}'
