"""``manage.py export_ledger [--output FILE]``: the ledger as JSON Lines, one entry per line.

Each line holds every field of the hash preimage plus the hash (``sequence``, ``entry_type``, ``record``,
``prev_hash``, ``created_at``, ``entry_hash``), so ``ledger/standalone_verify.py`` (or any RFC 8785
implementation) can re-verify the export without this application.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ledger.export import export_jsonl


class Command(BaseCommand):
    help = "Write the ledger as JSON Lines (one entry per line) to --output or stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args: Any, output: str | None, **options: Any) -> None:
        if output is None:
            count = export_jsonl(self.stdout._out)  # the raw stream: no styling, no extra newlines
        else:
            with open(output, "w", encoding="utf-8", newline="\n") as handle:
                count = export_jsonl(handle)
            self.stderr.write(f"exported {count} entries to {output}")
