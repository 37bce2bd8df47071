"""The capability catalog as data: the JSON file in the repo is the source, the table its loaded copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("data") / "capabilities.json"


def catalog_entries() -> list[dict[str, Any]]:
    return json.loads(CATALOG_PATH.read_text())


def known_capability_names() -> frozenset[str]:
    from .models import Capability

    return frozenset(Capability.objects.values_list("name", flat=True))


def sync_catalog(capability_model: Any) -> None:
    """Create or update every catalog entry (used by the data migration; idempotent)."""
    for entry in catalog_entries():
        capability_model.objects.update_or_create(
            name=entry["name"],
            defaults={"description": entry["description"], "risk_level": entry["risk_level"]},
        )
