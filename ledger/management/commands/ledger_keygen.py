"""``manage.py ledger_keygen [--output FILE] [--if-missing]``: create an ECDSA P-256 key for the ledger
(the log's checkpoint key by default, or a witness's key); write its public key beside it
(``KEYFILE.public.pem``, for verifiers) and print it and the verifier key string."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger.notes import NoteSigner, generate_private_key_pem, load_private_key, public_key_pem


class Command(BaseCommand):
    help = "Create the ledger log key (or a witness key) as a PEM file readable only by its owner."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="Key file (default: ARGUS_LEDGER_LOG_KEY_FILE).")
        parser.add_argument("--name", help="Key name printed in the verifier key (default: the log's).")
        parser.add_argument("--if-missing", action="store_true", help="Keep an existing key file.")
        parser.add_argument(
            "--public-key-out", help="Public key (PEM) file; default: KEYFILE.public.pem beside the key."
        )

    def handle(
        self,
        *args: Any,
        output: str | None,
        name: str | None,
        if_missing: bool,
        public_key_out: str | None,
        **options: Any,
    ) -> None:
        path = Path(output or settings.ARGUS_LEDGER_LOG_KEY_FILE)
        if path.exists():
            if not if_missing:
                raise CommandError(f"{path} exists; a log key is never overwritten (remove it yourself).")
            pem = path.read_bytes()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = generate_private_key_pem()
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pem)
            self.stderr.write(f"created {path}")
        signer = NoteSigner(
            name or settings.ARGUS_LEDGER_LOG_KEY_NAME or settings.ARGUS_LEDGER_ORIGIN, load_private_key(pem)
        )
        public = public_key_pem(signer.public_key)
        Path(public_key_out or path.with_suffix(".public.pem")).write_text(public, encoding="ascii")
        self.stdout.write(public, ending="")
        self.stdout.write(signer.verifier_key)
