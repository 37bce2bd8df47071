"""Loading the registry's capability catalog into the ``Capability`` table that grants point at."""

from __future__ import annotations

from typing import Any

from registry.capabilities import catalog_entries


def sync_catalog(capability_model: Any) -> None:
    """Create or update every catalog entry (used by the data migration; idempotent)."""
    for entry in catalog_entries():
        capability_model.objects.update_or_create(
            name=entry["name"],
            defaults={"description": entry["description"], "risk_level": entry["risk_level"]},
        )
