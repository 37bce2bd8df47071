"""One dispatch point per package ecosystem (a runtime's ``dependencies`` setting): how its lock file
is parsed and normalised, how its layer is frozen, and what the sandbox sets so the runtime finds it.

A third runtime with a new package manager adds one entry here (and its lock and layer modules).
Django-free: the publisher CLI uses the same functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .layers import (
    SANDBOX_LAYER_DIR,
    SANDBOX_SITE_PACKAGES,
    FrozenLayer,
    TargetPython,
    freeze_layer,
    lock_text,
)
from .lockfile import LockedRequirement, parse_lock_file
from .npm_layers import freeze_npm_layer
from .npm_lock import npm_lock_text, parse_npm_lock

PIP, NPM = "pip", "npm"
#: The environment a plugin with a dependency layer gets, per ecosystem.
SANDBOX_ENV = {
    PIP: {"PYTHONPATH": SANDBOX_SITE_PACKAGES},
    NPM: {"NODE_PATH": f"{SANDBOX_LAYER_DIR}/node_modules"},
}
#: Package URL (purl) types, for the SBOM.
PURL_TYPES = {PIP: "pypi", NPM: "npm"}


@dataclass(frozen=True)
class Sources:
    """Where packages come from: the configured indexes (PyPI and npm, or an agency's mirrors)."""

    pip_index_url: str = "https://pypi.org/simple"
    npm_registry_url: str = "https://registry.npmjs.org"
    python_version: str = "3.11"


def parse_lock(ecosystem: str, data: bytes) -> list[LockedRequirement]:
    return parse_npm_lock(data) if ecosystem == NPM else parse_lock_file(data)


def normalized_lock(ecosystem: str, requirements: Sequence[LockedRequirement]) -> str:
    """The checked lock as stored, hashed (layers are cached by it) and frozen: parse_lock reads it back."""
    return npm_lock_text(list(requirements)) if ecosystem == NPM else lock_text(requirements)


def freeze(
    ecosystem: str, requirements: Sequence[LockedRequirement], sources: Sources, archive: Path
) -> FrozenLayer:
    """Freeze ``requirements`` into a layer written to the new file ``archive``."""
    if ecosystem == NPM:
        return freeze_npm_layer(requirements, registry_url=sources.npm_registry_url, archive=archive)
    return freeze_layer(
        requirements,
        index_url=sources.pip_index_url,
        archive=archive,
        target=TargetPython(version=sources.python_version),
    )
