"""``manage.py ledger_checkpoint [--export-dir DIR] [--webhook URL]``: sign a checkpoint of the tree now
(if it grew) and print its note; export the latest note to a directory and/or a webhook."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger import checkpoints


class Command(BaseCommand):
    help = "Issue a signed checkpoint of the ledger's Merkle tree (if it grew) and print/export it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--export-dir", help="Also write <size>.checkpoint and latest.checkpoint here.")
        parser.add_argument("--webhook", help="Also POST the note (text/plain) to this URL.")

    def handle(self, *args: Any, export_dir: str | None, webhook: str | None, **options: Any) -> None:
        try:
            checkpoints.issue_checkpoint()
        except checkpoints.LogKeyMissingError as exc:
            raise CommandError(str(exc)) from None
        latest = checkpoints.latest_checkpoint()
        if latest is None:
            raise CommandError("The ledger is empty: there is nothing to checkpoint.")
        if export_dir or webhook:
            checkpoints.export_checkpoint(latest, directory=export_dir or "", webhook=webhook or "")
        self.stdout.write(latest.note, ending="")
