from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from argus_plugins.audit.models import AuditEvent


class Command(BaseCommand):
    help = "Write the audit log as JSON Lines (oldest first), e.g. for a SIEM or an auditor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")
        parser.add_argument("--tenant", help="Only this tenant's events (tenant id).")

    def handle(self, *args: Any, **options: Any) -> None:
        events = AuditEvent.objects.order_by("at", "id")
        if options["tenant"]:
            events = events.filter(tenant_id=options["tenant"])
        out = open(options["output"], "w", encoding="utf-8") if options["output"] else self.stdout  # noqa: SIM115
        count = 0
        try:
            for event in events.iterator(chunk_size=2000):
                row = {
                    "id": str(event.id),
                    "at": event.at.isoformat(),
                    "actor": event.actor_username or None,
                    "actor_id": str(event.actor_id) if event.actor_id else None,
                    "tenant_id": str(event.tenant_id) if event.tenant_id else None,
                    "action": event.action,
                    "target_type": event.target_type,
                    "target_id": event.target_id,
                    "request_id": event.request_id,
                    "client_address": event.client_address,
                    "changes": event.changes,
                }
                out.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
        finally:
            if out is not self.stdout:
                out.close()
        self.stderr.write(f"Exported {count} audit event(s).")
