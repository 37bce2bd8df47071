"""``manage.py ledger_witness --state FILE --key FILE --name NAME``: witness the newest checkpoint.

Verifies that it extends the checkpoint this witness accepted last (kept in ``--state``, outside the
database), cosigns it with the witness key and stores the cosignature. Exit status 0 and the cosigned
note on stdout; 2 and a LedgerAlarm (audit event, operator notification) when the log forked or its
history was rewritten; 1 for any other failure (no key, a note not signed by the log).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.checkpoints import LogKeyMissingError
from ledger.notes import NoteError, NoteSigner, load_private_key
from ledger.witness import WitnessAlarm, run_platform_witness

ALARM_EXIT_STATUS = 2


class Command(BaseCommand):
    help = "Witness the newest ledger checkpoint: verify it extends the last accepted one, then cosign it."

    def add_arguments(self, parser: CommandParser) -> None:
        default_state = Path(settings.DATA_DIR) / "witness" / "state.json"
        parser.add_argument(
            "--state", default=str(default_state), help=f"State file (default {default_state})."
        )
        parser.add_argument(
            "--key", help="The witness's ECDSA P-256 key (PEM file); default: $ARGUS_WITNESS_KEY (PEM text)."
        )
        parser.add_argument("--name", default="argus-plugins.local/witness", help="The witness key's name.")

    def handle(self, *args: Any, state: str, key: str | None, name: str, **options: Any) -> None:
        pem = Path(key).read_bytes() if key else os.environ.get("ARGUS_WITNESS_KEY", "").encode()
        if not pem:
            raise CommandError("Give the witness key: --key FILE or ARGUS_WITNESS_KEY.")
        try:
            witness = NoteSigner(name, load_private_key(pem))
            cosigned = run_platform_witness(witness=witness, state_path=Path(state))
        except WitnessAlarm as alarm:
            self.stderr.write(f"ALARM: {alarm.detail}")
            sys.exit(ALARM_EXIT_STATUS)
        except (NoteError, LogKeyMissingError) as exc:
            raise CommandError(str(exc)) from None
        if cosigned is None:
            self.stderr.write("no checkpoint to witness yet")
            return
        self.stdout.write(cosigned.note + cosigned.cosignature, ending="")
