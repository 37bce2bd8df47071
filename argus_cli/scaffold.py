"""`argus-plugin init`: a ready plugin folder from a template shipped with the CLI."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from argus_cli.errors import CliError, UsageError

TEMPLATES = ("python",)
# The platform's plugin slugs: lower-case letters, digits and single hyphens.
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_SLUG_LENGTH = 64


def title_for(name: str) -> str:
    return " ".join(part.capitalize() for part in name.split("-"))


def create(name: str, directory: Path, template: str = "python") -> list[Path]:
    """Write the template into ``directory`` (which must not exist or be empty); return the files."""
    if not SLUG_RE.match(name) or len(name) > MAX_SLUG_LENGTH:
        raise UsageError(
            f"{name!r} is not a plugin slug: use lower-case letters, digits and hyphens "
            f"(at most {MAX_SLUG_LENGTH} characters), e.g. chat-keyword-counter."
        )
    if template not in TEMPLATES:
        raise UsageError(f"unknown template {template!r}; available: {', '.join(TEMPLATES)}.")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise CliError(f"{directory} already exists and is not an empty directory.")
    values = {"{{name}}": name, "{{title}}": title_for(name)}
    root = resources.files("argus_cli") / "templates" / template
    written: list[Path] = []

    def copy(source, target: Path) -> None:  # source: a Traversable
        for entry in sorted(source.iterdir(), key=lambda e: e.name):
            if entry.name == "__pycache__":
                continue
            destination = target / entry.name
            if entry.is_dir():
                destination.mkdir(parents=True, exist_ok=True)
                copy(entry, destination)
                continue
            text = entry.read_text(encoding="utf-8")
            for placeholder, value in values.items():
                text = text.replace(placeholder, value)
            destination.write_text(text, encoding="utf-8")
            written.append(destination)

    directory.mkdir(parents=True, exist_ok=True)
    copy(root, directory)
    return written
