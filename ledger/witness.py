"""A witness: accepts a checkpoint only if it extends the last one it accepted, then cosigns it.

The witness keeps its own state (the last accepted signed note) in a file outside the log's database, so
an insider who rewrites the database, including the tree and the head, cannot rewrite what the witness
remembers. Each run fetches the newest checkpoint and a consistency proof from the remembered size,
verifies the log's signature and the proof (RFC 9162 2.1.4.2), cosigns the note with the witness's own
key (a signed-note signature line, type 0x02) and remembers it. A checkpoint that does not extend the
accepted one (a smaller tree, a different root at the same size, a failing proof: a fork or a rewritten
history) raises ``WitnessAlarm`` and leaves the state untouched.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string

from argus_plugins.audit import services as audit

from . import checkpoints, tree
from .merkle import ProofError, verify_consistency
from .models import LedgerAlarm, LedgerCheckpoint, LedgerCosignature
from .notes import Checkpoint, NoteError, NoteSigner, parse_checkpoint, verify_note

logger = logging.getLogger(__name__)


class WitnessAlarm(Exception):
    """The newest checkpoint does not extend the one the witness accepted."""

    def __init__(self, detail: str, accepted_note: str, offending_note: str) -> None:
        super().__init__(detail)
        self.detail, self.accepted_note, self.offending_note = detail, accepted_note, offending_note


@dataclass(frozen=True)
class Cosigned:
    checkpoint: Checkpoint
    note: str
    #: This witness's signature line over the checkpoint's text.
    cosignature: str


def read_state(path: Path) -> str | None:
    """The last accepted note, or None before the first run."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))["note"]
    except FileNotFoundError:
        return None


def write_state(path: Path, note: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps({"note": note}), encoding="utf-8")
    os.replace(temporary, path)  # atomic: a crash leaves the old state or the new one, never half


def witness_checkpoint(
    *,
    witness: NoteSigner,
    log_name: str,
    log_key: object,
    origin: str,
    accepted_note: str | None,
    newest_note: str,
    consistency_proof: Callable[[int, int], list[bytes]],
) -> Cosigned:
    """Verify ``newest_note`` against ``accepted_note`` and cosign it. Raises NoteError for a note that is
    not the log's at all (bad signature, wrong origin) and WitnessAlarm when it does not extend."""
    text, _ = verify_note(newest_note, log_name, log_key)  # type: ignore[arg-type]
    new = parse_checkpoint(text)
    if new.origin != origin:
        raise NoteError(f"the checkpoint is for origin {new.origin!r}, not {origin!r}")
    if accepted_note is not None:
        old_text, _ = verify_note(accepted_note, log_name, log_key)  # type: ignore[arg-type]
        old = parse_checkpoint(old_text)
        if new.size < old.size:
            raise WitnessAlarm(
                f"the log shrank from {old.size} to {new.size} entries", accepted_note, newest_note
            )
        try:
            proof = consistency_proof(old.size, new.size) if new.size > old.size else []
            verify_consistency(old.size, new.size, old.root, new.root, proof)
        except ProofError as exc:
            raise WitnessAlarm(
                f"checkpoint {new.size} does not extend the accepted checkpoint {old.size}: {exc}",
                accepted_note,
                newest_note,
            ) from None
    return Cosigned(new, newest_note, witness.signature_line(text))


# --- The platform's own witness (manage.py ledger_witness) --------------------------------------------------


def run_platform_witness(*, witness: NoteSigner, state_path: Path) -> Cosigned | None:
    """Witness the newest stored checkpoint; store the cosignature. Raises WitnessAlarm after recording it."""
    newest = checkpoints.latest_checkpoint()
    if newest is None:
        return None
    log = checkpoints.log_signer()
    accepted = read_state(state_path)
    try:
        cosigned = witness_checkpoint(
            witness=witness,
            log_name=log.name,
            log_key=log.public_key,
            origin=settings.ARGUS_LEDGER_ORIGIN,
            accepted_note=accepted,
            newest_note=newest.note,
            consistency_proof=tree.consistency_proof,
        )
    except WitnessAlarm as alarm:
        raise_alarm(witness.name, alarm)
    store_cosignature(newest, witness, cosigned.cosignature)
    write_state(state_path, newest.note)
    return cosigned


def store_cosignature(checkpoint: LedgerCheckpoint, witness: NoteSigner, line: str) -> None:
    try:
        with transaction.atomic():
            LedgerCosignature.objects.create(
                checkpoint=checkpoint,
                witness_name=witness.name,
                key_id=witness.key_id.hex(),
                signature_line=line,
            )
    except IntegrityError:
        pass  # already cosigned by this witness (a repeated run on an unchanged log)


def raise_alarm(witness_name: str, alarm: WitnessAlarm) -> None:
    """Record the alarm (an operator notification and an audit event), tell the handlers, raise it again."""
    with transaction.atomic():
        stored = LedgerAlarm.objects.create(
            witness_name=witness_name,
            accepted_note=alarm.accepted_note,
            offending_note=alarm.offending_note,
            detail=alarm.detail,
        )
        audit.record(
            "ledger.witness_alarm",
            actor=None,
            target=stored,
            changes={"witness": [None, witness_name], "detail": [None, alarm.detail]},
        )
    logger.critical("LEDGER ALARM (witness %s): %s", witness_name, alarm.detail)
    for path in settings.ARGUS_LEDGER_ALARM_HANDLERS:
        try:
            import_string(path)(stored)
        except Exception:
            logger.exception("ledger alarm handler %s failed", path)
    raise alarm
