"""Witnesses and the tamper cases: an altered entry, a rewritten tail, a forked checkpoint."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from argus_plugins.audit.models import AuditEvent
from argus_plugins.tenancy import services as tenancy_services
from ledger import checkpoints, tree
from ledger.export import export_jsonl
from ledger.models import LedgerAlarm, LedgerCheckpoint, LedgerCosignature
from ledger.notes import (
    Checkpoint,
    NoteSigner,
    generate_private_key_pem,
    load_private_key,
    load_public_key,
    verify_note,
)
from ledger.verification import BreakReason, verify_chain
from ledger.witness import WitnessAlarm, witness_checkpoint

from .conftest import LOG_ORIGIN
from .support import build_chain, rewrite_tail, sql

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
STANDALONE = REPO / "ledger" / "standalone_verify.py"
WITNESS_NAME = "witness.test/w1"
ALARMS: list = []


def record_alarm(alarm: LedgerAlarm) -> None:
    """An operator notification hook (ARGUS_LEDGER_ALARM_HANDLERS)."""
    ALARMS.append(alarm)


@pytest.fixture(scope="module")
def witness_pem() -> bytes:
    return generate_private_key_pem()


@pytest.fixture
def witness(tmp_path, witness_pem, settings):
    settings.ARGUS_LEDGER_ALARM_HANDLERS = ["tests.ledger.test_witness.record_alarm"]
    ALARMS.clear()
    key = tmp_path / "witness.pem"
    key.write_bytes(witness_pem)
    state = tmp_path / "witness-state.json"

    def run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(
                "ledger_witness", state=str(state), key=str(key), name=WITNESS_NAME, stdout=out, stderr=err
            )
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        return code, out.getvalue(), err.getvalue()

    run.state = state  # type: ignore[attr-defined]
    run.signer = NoteSigner(WITNESS_NAME, load_private_key(witness_pem))  # type: ignore[attr-defined]
    return run


def standalone(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, str(STANDALONE), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_witness_accepts_extends_and_cosigns(world, log_key, witness):
    build_chain(5)
    first = checkpoints.issue_checkpoint()
    code, out, _ = witness()
    assert code == 0
    # The output is the checkpoint with the witness's signature line added: both signatures verify.
    assert out.startswith(first.note)
    verify_note(out, LOG_ORIGIN, load_public_key(log_key))
    verify_note(out, WITNESS_NAME, witness.signer.public_key)
    cosignature = LedgerCosignature.objects.get(checkpoint=first)
    assert out == first.note + cosignature.signature_line
    assert json.loads(witness.state.read_text())["note"] == first.note

    build_chain(6)
    second = checkpoints.issue_checkpoint()
    assert witness()[0] == 0
    assert LedgerCosignature.objects.filter(checkpoint=second).count() == 1
    assert witness()[0] == 0  # nothing new: no second cosignature, no alarm
    assert LedgerCosignature.objects.count() == 2 and not LedgerAlarm.objects.exists()


def test_altered_middle_entry_is_caught_by_chain_and_tree(world, log_key, tmp_path):
    build_chain(20)
    checkpoint = checkpoints.issue_checkpoint()
    (tmp_path / "cp.note").write_text(checkpoint.note)
    sql("UPDATE ledger_ledgerentry SET record = %s WHERE sequence = 10", ['{"execution_id": "altered"}'])
    report = verify_chain()
    assert (report.ok, report.broken_sequence, report.reason) == (False, 10, BreakReason.HASH_MISMATCH)
    # The stored subtree hashes still hold the original leaf: proofs expose the alteration too.
    with (tmp_path / "export.jsonl").open("w") as handle:
        export_jsonl(handle)
    result = standalone(
        tmp_path / "export.jsonl", "--checkpoint", tmp_path / "cp.note", "--log-key", tmp_path / "log-key.pem"
    )
    assert result.returncode == 1 and result.stdout.startswith("BROKEN at sequence 10: hash mismatch")


def test_rewritten_tail_passes_the_chain_check_but_not_the_witness(world, log_key, witness, tmp_path):
    """The issue's acceptance case: the last 10 entries and the head rewritten as an insider would."""
    build_chain(30)
    old = checkpoints.issue_checkpoint()
    assert witness()[0] == 0
    (tmp_path / "old.note").write_text(old.note)

    rewrite_tail(10)
    sql("DELETE FROM ledger_ledgercosignature")
    sql("DELETE FROM ledger_ledgercheckpoint")  # the insider removes the signed history from the database
    # The chain check (the platform's, and the standalone file's without a checkpoint) passes.
    assert verify_chain().ok
    with (tmp_path / "export.jsonl").open("w") as handle:
        export_jsonl(handle)
    assert standalone(tmp_path / "export.jsonl").returncode == 0

    build_chain(3)
    new = checkpoints.issue_checkpoint()
    code, _, err = witness()
    assert code == 2 and "ALARM" in err and "does not extend the accepted checkpoint 30" in err
    alarm = LedgerAlarm.objects.get()
    assert (alarm.accepted_note, alarm.offending_note) == (old.note, new.note)
    assert [alarm] == ALARMS
    event = AuditEvent.objects.get(action="ledger.witness_alarm")
    assert event.target_id == str(alarm.pk)
    assert json.loads(witness.state.read_text())["note"] == old.note  # the witness still trusts the old one
    assert not LedgerCosignature.objects.filter(checkpoint=new).exists()

    # Offline, with the old note kept by anyone who saw it: consistency and the chain mode catch it too.
    (tmp_path / "new.note").write_text(new.note)
    hashes = [base64.b64encode(h).decode() for h in tree.consistency_proof(30, 33)]
    proof = {"data": {"ledgerConsistencyProof": {"hashes": hashes}}}  # the API's answer, saved as is
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    key = tmp_path / "log-key.pem"
    result = standalone(
        "consistency", tmp_path / "old.note", tmp_path / "new.note", tmp_path / "proof.json", "--log-key", key
    )
    assert result.returncode == 1 and "does not extend" in result.stdout
    result = standalone(tmp_path / "export.jsonl", "--checkpoint", tmp_path / "old.note", "--log-key", key)
    assert result.returncode == 1 and "do not have the checkpoint's root" in result.stdout


def test_rewritten_tail_with_checkpoints_kept_is_caught_by_verify_chain(world, log_key):
    build_chain(30)
    checkpoints.issue_checkpoint()
    rewrite_tail(10)
    report = verify_chain()
    assert (report.ok, report.broken_sequence, report.reason) == (False, 30, BreakReason.CHECKPOINT_MISMATCH)


def test_consistency_between_honest_checkpoints_verifies_offline(world, log_key, tmp_path):
    build_chain(13)
    old = checkpoints.issue_checkpoint()
    build_chain(8)
    new = checkpoints.issue_checkpoint()
    (tmp_path / "old.note").write_text(old.note)
    (tmp_path / "new.note").write_text(new.note)
    hashes = [base64.b64encode(h).decode() for h in tree.consistency_proof(13, 21)]
    (tmp_path / "proof.txt").write_text("\n".join(hashes) + "\n")
    key = tmp_path / "log-key.pem"
    result = standalone(
        "consistency", tmp_path / "old.note", tmp_path / "new.note", tmp_path / "proof.txt", "--log-key", key
    )
    assert (result.returncode, result.stdout.strip()) == (
        0,
        "OK the log's tree of 21 entries extends its tree of 13 entries",
    )
    # Swapped notes: a tree cannot extend a bigger one.
    swapped = standalone(
        "consistency", tmp_path / "new.note", tmp_path / "old.note", tmp_path / "proof.txt", "--log-key", key
    )
    assert swapped.returncode == 1


def test_forked_checkpoint_raises_the_alarm(world, log_key, log_key_pem, witness):
    """The log key signs two different trees of the same size (a split view): the witness refuses."""
    build_chain(8)
    honest = checkpoints.issue_checkpoint()
    assert witness()[0] == 0
    log = NoteSigner(LOG_ORIGIN, load_private_key(log_key_pem))
    forged_root = bytes(32)
    forked_note = log.sign(Checkpoint(LOG_ORIGIN, 8, forged_root).text())
    with pytest.raises(WitnessAlarm, match="forked"):
        witness_checkpoint(
            witness=witness.signer,
            log_name=LOG_ORIGIN,
            log_key=log.public_key,
            origin=LOG_ORIGIN,
            accepted_note=honest.note,
            newest_note=forked_note,
            consistency_proof=tree.consistency_proof,
        )
    # Stored as the newest checkpoint (an insider replaced the row), the command raises the alarm.
    sql("DELETE FROM ledger_ledgercosignature")
    sql("DELETE FROM ledger_ledgercheckpoint")
    LedgerCheckpoint.objects.create(
        origin=LOG_ORIGIN,
        tree_size=8,
        root_hash="A" * 43 + "=",
        note=forked_note,
        key_name=LOG_ORIGIN,
        key_id="00",
    )
    code, _, err = witness()
    assert code == 2 and "forked" in err
    # A smaller tree than the accepted one is an alarm too.
    with pytest.raises(WitnessAlarm, match="shrank"):
        witness_checkpoint(
            witness=witness.signer,
            log_name=LOG_ORIGIN,
            log_key=log.public_key,
            origin=LOG_ORIGIN,
            accepted_note=honest.note,
            newest_note=log.sign(Checkpoint(LOG_ORIGIN, 7, tree.root_at(7)).text()),
            consistency_proof=tree.consistency_proof,
        )


def test_a_note_not_signed_by_the_log_is_refused_without_alarm(world, log_key, witness):
    build_chain(3)
    checkpoints.issue_checkpoint()
    impostor = NoteSigner(LOG_ORIGIN, load_private_key(generate_private_key_pem()))
    sql("DELETE FROM ledger_ledgercheckpoint")
    LedgerCheckpoint.objects.create(
        origin=LOG_ORIGIN,
        tree_size=3,
        root_hash="x",
        note=impostor.sign(Checkpoint(LOG_ORIGIN, 3, tree.root_at(3)).text()),
        key_name=LOG_ORIGIN,
        key_id="00",
    )
    with pytest.raises(CommandError, match="not signed by"):
        witness()
    assert not LedgerAlarm.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_standalone_witness_mode_against_a_running_log(world, log_key, live_server, tmp_path, witness_pem):
    _, token = tenancy_services.create_api_token(actor=world.viewer_a, name="witness")
    (tmp_path / "witness.pem").write_bytes(witness_pem)
    env_var = "ARGUS_TEST_WITNESS_TOKEN"

    def run() -> subprocess.CompletedProcess:
        command = [sys.executable, str(STANDALONE), "witness", "--url", f"{live_server.url}/graphql/"]
        command += ["--log-key", str(tmp_path / "log-key.pem"), "--key", str(tmp_path / "witness.pem")]
        command += ["--name", WITNESS_NAME, "--state", str(tmp_path / "state.json"), "--origin", LOG_ORIGIN]
        command += ["--token-env", env_var]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=60, env={**os.environ, env_var: token}
        )

    build_chain(9)
    first = checkpoints.issue_checkpoint()
    accepted = run()
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert accepted.stdout.startswith(first.note)
    signer = NoteSigner(WITNESS_NAME, load_private_key(witness_pem))
    verify_note(accepted.stdout, WITNESS_NAME, signer.public_key)
    build_chain(4)
    checkpoints.issue_checkpoint()
    assert run().returncode == 0
    rewrite_tail(10)
    sql("DELETE FROM ledger_ledgercheckpoint")
    build_chain(2)
    checkpoints.issue_checkpoint()
    alarm = run()
    assert alarm.returncode == 2 and "ALARM" in alarm.stderr
    assert json.loads((tmp_path / "state.json").read_text())["note"].split("\n")[1] == "13"
