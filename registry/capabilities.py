"""The capability catalog: the capabilities a manifest may request. The JSON file in the repo is the source;
the registry checks manifests against it, and installations loads it into its ``Capability`` table (which
grants point at) by migration."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("data") / "capabilities.json"
#: The capability a run needs to be handed evidence (checked at enqueue and again in the worker).
EVIDENCE_READ = "evidence:read"


def catalog_entries() -> list[dict[str, Any]]:
    return json.loads(CATALOG_PATH.read_text())


@cache
def known_capability_names() -> frozenset[str]:
    return frozenset(entry["name"] for entry in catalog_entries())
