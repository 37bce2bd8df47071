"""``manage.py verify_ledger``: exit 0 when the whole chain verifies, 1 (naming the sequence) otherwise."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ledger.verification import DEFAULT_CHUNK_SIZE, DEFAULT_PROGRESS_EVERY, verify_chain


class Command(BaseCommand):
    help = "Recompute every hash of the ledger; exit status 1 and the first broken sequence on tampering."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--progress-every",
            type=int,
            default=DEFAULT_PROGRESS_EVERY,
            help=f"Report progress on stderr every N entries (default {DEFAULT_PROGRESS_EVERY}; 0: never).",
        )
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="Rows per fetch.")

    def handle(self, *args: Any, progress_every: int, chunk_size: int, **options: Any) -> None:
        def progress(checked: int, total: int | None) -> None:
            share = f" ({100 * checked // total}%)" if total else ""
            self.stderr.write(f"verified {checked}/{total if total is not None else '?'} entries{share}")

        report = verify_chain(
            chunk_size=chunk_size,
            progress=progress if progress_every > 0 else None,
            progress_every=max(progress_every, 1),
        )
        if report.ok:
            self.stdout.write(report.summary())
            return
        self.stderr.write(report.summary())
        self.stderr.write(
            f"Entries 1 to {report.entries_checked} are intact (last intact hash {report.head_hash})."
        )
        sys.exit(1)
