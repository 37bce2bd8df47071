"""Run the demo against a platform that is already running (e.g. the compose stack, through its nginx)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from argus_plugins.platform.demo import prepare_demo_admin, run_demo
from ledger.models import LedgerEntry
from ledger.verification import verify_chain


class Command(BaseCommand):
    help = (
        "Publish, install and run the demo plugin on sample evidence through the GraphQL API at --base-url; "
        "fail unless the run SUCCEEDED and its ledger entry is in a chain that verifies."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url", required=True, help="The platform's public address, e.g. http://nginx:8000"
        )
        parser.add_argument("--timeout", type=float, default=180.0, help="Seconds to wait for the run.")

    def handle(self, *args: Any, **options: Any) -> None:
        _, token = prepare_demo_admin()
        result = run_demo(
            base_url=options["base_url"].rstrip("/"),
            token=token,
            write=self.stdout.write,
            timeout=options["timeout"],
        )
        if result["status"] != "SUCCEEDED":
            raise CommandError(f"The demo run ended {result['status']}: {result['errorReason']}")
        entry = result["ledgerEntry"]
        stored = LedgerEntry.objects.filter(sequence=entry["sequence"]).values_list("entry_hash", flat=True)
        if list(stored) != [entry["entryHash"]]:
            raise CommandError(f"Ledger entry #{entry['sequence']} is not the one the API reported.")
        report = verify_chain()
        if not report.ok:
            raise CommandError(f"The ledger does not verify: {report.summary()}")
        self.stdout.write(f"Ledger verified: {report.summary()}")
