"""npm lock files (package-lock.json, lockfileVersion 2 or 3) for the node runtimes, held to the same rule
as pip's: every package pinned to one version with an integrity hash, so the publisher signs the exact
set of files the plugin may load.

Refused: lockfileVersion 1 (no per-path entries), a package without a ``sha512-`` integrity, a
version range, links to local folders, git or tarball URLs as versions, and packages with install
scripts (``hasInstallScript``: they would need to run code at freeze time, which the platform never
does). Development dependencies (``dev: true``) are left out: a plugin never runs its tests in the sandbox.

Django-free, like registry.lockfile.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .lockfile import (
    MAX_LOCK_FILE_BYTES,
    MAX_REQUIREMENTS,
    LockedRequirement,
    LockErrorCode,
    LockFileInvalid,
    LockProblem,
)

_NAME = re.compile(r"^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$")
_EXACT_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_PREFIX = "node_modules/"


def _problem(code: LockErrorCode, where: str, message: str) -> LockProblem:
    return LockProblem(code, 0, f"{where}: {message}")


def install_name(path: str) -> str:
    """``node_modules/a/node_modules/@s/b`` -> ``@s/b``: the package a lock path installs."""
    return path.rsplit(_PREFIX, 1)[-1]


def parse_npm_lock(data: bytes) -> list[LockedRequirement]:
    if len(data) > MAX_LOCK_FILE_BYTES:
        raise LockFileInvalid([_problem(LockErrorCode.LOCK_FILE_INVALID, "lock file", "too large")])
    try:
        lock = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LockFileInvalid(
            [_problem(LockErrorCode.LOCK_FILE_INVALID, "lock file", f"not JSON: {exc}")]
        ) from None
    if (
        not isinstance(lock, dict)
        or lock.get("lockfileVersion") not in (2, 3)
        or not isinstance(lock.get("packages"), dict)
    ):
        raise LockFileInvalid(
            [
                _problem(
                    LockErrorCode.LOCK_FILE_INVALID,
                    "lock file",
                    "needs lockfileVersion 2 or 3 with a 'packages' map",
                )
            ]
        )
    problems: list[LockProblem] = []
    requirements: list[LockedRequirement] = []
    for path, entry in sorted(lock["packages"].items()):
        if path == "" or not isinstance(entry, dict) or entry.get("dev") is True:
            continue
        requirement = _check_entry(path, entry, problems)
        if requirement is not None:
            requirements.append(requirement)
    if len(requirements) > MAX_REQUIREMENTS:
        problems.append(
            _problem(LockErrorCode.LOCK_FILE_INVALID, "lock file", f"more than {MAX_REQUIREMENTS} packages")
        )
    if problems:
        raise LockFileInvalid(problems)
    return requirements


def _check_entry(path: str, entry: dict[str, Any], problems: list[LockProblem]) -> LockedRequirement | None:
    segments = path.split("/")
    if not path.startswith(_PREFIX) or ".." in segments or "" in segments:
        problems.append(_problem(LockErrorCode.LOCK_FILE_INVALID, path, "not a node_modules/ path"))
        return None
    name = install_name(path)
    if not _NAME.match(name):
        problems.append(
            _problem(LockErrorCode.LOCK_FILE_INVALID, path, f"{name!r} is not an npm package name")
        )
        return None
    if entry.get("link") is True:
        problems.append(
            _problem(LockErrorCode.LOCK_FILE_INVALID, path, "links to local folders are not allowed")
        )
        return None
    if entry.get("hasInstallScript") is True:
        problems.append(
            _problem(LockErrorCode.LOCK_FILE_INVALID, path, "packages with install scripts are not allowed")
        )
        return None
    version = entry.get("version")
    if not isinstance(version, str) or not _EXACT_SEMVER.match(version):
        problems.append(
            _problem(LockErrorCode.DEPENDENCY_UNPINNED, path, f"version {version!r} is not exact")
        )
        return None
    integrity = entry.get("integrity")
    hashes = []
    for token in integrity.split() if isinstance(integrity, str) else []:
        algorithm, _, value = token.partition("-")
        try:
            if algorithm == "sha512" and len(base64.b64decode(value, validate=True)) == 64:
                hashes.append(token)
        except (binascii.Error, ValueError):
            pass
    if not hashes:
        problems.append(
            _problem(LockErrorCode.DEPENDENCY_UNHASHED, path, f"{name}@{version} has no sha512 integrity")
        )
        return None
    return LockedRequirement(name, version, tuple(hashes), 0, path=path)


def npm_lock_text(requirements: list[LockedRequirement]) -> str:
    """The checked lock, normalised (only what is installed, sorted): what is stored, hashed and frozen."""
    packages = {"": {}}
    for r in requirements:
        packages[r.path] = {"version": r.version, "integrity": " ".join(r.hashes)}
    return json.dumps({"lockfileVersion": 3, "packages": packages}, sort_keys=True, indent=1) + "\n"
