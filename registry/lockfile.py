"""Hash-pinned dependency lock files (pip's hash-checking format), checked before anything is fetched.

A plugin's manifest names a lock file in its bundle; the bundle's signature covers it, so the publisher
signs the exact set of third-party files the plugin may load. Accepted, one requirement per logical line
(a trailing backslash continues it):

    pefile==2024.8.26 \\
        --hash=sha256:76f8b485dcd3b1bb8166f1128d395fa3d87af26360c2358fb75b80019b957c6f

Every requirement is pinned with ``==`` to an exact version (no wildcard) and carries at least one
``--hash=sha256:<64 hex>``; transitive dependencies are listed too (resolution uses ``--no-deps``).
Environment markers, extras, URLs, editable or local paths, ``-r``/``-c`` includes and index options are
refused: what is fetched must follow from the file alone and the platform's configured index.

Django-free: the publisher CLI checks lock files with the same code before packing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

MAX_LOCK_FILE_BYTES = 256 * 1024
MAX_REQUIREMENTS = 200
_HASH_OPTION = re.compile(r"^--hash=sha256:([0-9a-f]{64})$")
_EXACT_VERSION = re.compile(r"^[0-9A-Za-z.+!_-]+$")


class LockErrorCode(enum.StrEnum):
    LOCK_FILE_INVALID = "LOCK_FILE_INVALID"
    DEPENDENCY_UNPINNED = "DEPENDENCY_UNPINNED"
    DEPENDENCY_UNHASHED = "DEPENDENCY_UNHASHED"
    DEPENDENCY_DUPLICATE = "DEPENDENCY_DUPLICATE"


@dataclass(frozen=True)
class LockProblem:
    code: LockErrorCode
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class LockFileInvalid(ValueError):
    def __init__(self, problems: list[LockProblem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True)
class LockedRequirement:
    name: str  # canonical (PEP 503) name; npm: the package name
    version: str
    #: pip: sha256 hex digests, any of which may match the fetched file; npm: "sha512-<base64>" integrity.
    hashes: tuple[str, ...]
    line: int
    path: str = ""  # npm: where it is installed (node_modules/a/node_modules/b)

    @property
    def pin(self) -> str:
        return f"{self.name}@{self.version}" if self.path else f"{self.name}=={self.version}"


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first physical line number, joined text) with comments stripped and continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        content = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if content.endswith("\\"):
            pending.append(content[:-1])
            continue
        pending.append(content)
        joined = " ".join(part.strip() for part in pending).strip()
        pending = []
        if joined:
            lines.append((start, joined))
    if pending and " ".join(pending).strip():
        lines.append((start, " ".join(part.strip() for part in pending).strip()))
    return lines


def parse_lock_file(data: bytes) -> list[LockedRequirement]:
    """The requirements of a lock file, or LockFileInvalid listing every problem with its line."""
    if len(data) > MAX_LOCK_FILE_BYTES:
        raise LockFileInvalid(
            [LockProblem(LockErrorCode.LOCK_FILE_INVALID, 0, f"larger than {MAX_LOCK_FILE_BYTES} bytes")]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LockFileInvalid([LockProblem(LockErrorCode.LOCK_FILE_INVALID, 0, "not UTF-8 text")]) from None
    problems: list[LockProblem] = []
    requirements: list[LockedRequirement] = []
    seen: dict[str, int] = {}
    for line, content in _logical_lines(text):
        requirement = _parse_line(line, content, problems)
        if requirement is None:
            continue
        if requirement.name in seen:
            problems.append(
                LockProblem(
                    LockErrorCode.DEPENDENCY_DUPLICATE,
                    line,
                    f"{requirement.name} is already pinned on line {seen[requirement.name]}",
                )
            )
            continue
        seen[requirement.name] = line
        requirements.append(requirement)
    if len(requirements) > MAX_REQUIREMENTS:
        problems.append(
            LockProblem(LockErrorCode.LOCK_FILE_INVALID, 0, f"more than {MAX_REQUIREMENTS} requirements")
        )
    if problems:
        raise LockFileInvalid(problems)
    return requirements


def _parse_line(line: int, content: str, problems: list[LockProblem]) -> LockedRequirement | None:
    tokens = content.split()
    if tokens[0].startswith("-"):
        problems.append(
            LockProblem(
                LockErrorCode.LOCK_FILE_INVALID,
                line,
                f"option {tokens[0].split('=')[0]!r} is not allowed: only pinned requirements with hashes",
            )
        )
        return None
    if "://" in content or " @ " in content:
        problems.append(
            LockProblem(
                LockErrorCode.LOCK_FILE_INVALID, line, "URL requirements are not allowed; pin by name"
            )
        )
        return None
    if ";" in content:
        problems.append(
            LockProblem(LockErrorCode.LOCK_FILE_INVALID, line, "environment markers (';') are not allowed")
        )
        return None
    spec, options = tokens[0], tokens[1:]
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]
        problems.append(
            LockProblem(LockErrorCode.LOCK_FILE_INVALID, line, f"{spec!r} is not a requirement: {reason}")
        )
        return None
    name = canonicalize_name(requirement.name)
    if requirement.url or requirement.extras or requirement.marker:
        problems.append(
            LockProblem(
                LockErrorCode.LOCK_FILE_INVALID,
                line,
                f"{name}: URLs, extras and environment markers are not allowed; pin each package by name",
            )
        )
        return None
    specifiers = list(requirement.specifier)
    if (
        len(specifiers) != 1
        or specifiers[0].operator != "=="
        or "*" in specifiers[0].version
        or not _EXACT_VERSION.match(specifiers[0].version)
    ):
        problems.append(
            LockProblem(
                LockErrorCode.DEPENDENCY_UNPINNED,
                line,
                f"{name} is not pinned to one exact version (write {name}==X.Y.Z)",
            )
        )
        return None
    hashes: list[str] = []
    for option in options:
        match = _HASH_OPTION.match(option)
        if match is None:
            problems.append(
                LockProblem(
                    LockErrorCode.DEPENDENCY_UNHASHED
                    if option.startswith("--hash")
                    else LockErrorCode.LOCK_FILE_INVALID,
                    line,
                    f"{name}: {option!r} is not --hash=sha256:<64 lower-case hex digits>",
                )
            )
            return None
        hashes.append(match.group(1))
    if not hashes:
        problems.append(
            LockProblem(
                LockErrorCode.DEPENDENCY_UNHASHED,
                line,
                f"{name}=={specifiers[0].version} has no --hash=sha256:… (hash-checking mode needs one)",
            )
        )
        return None
    return LockedRequirement(name, specifiers[0].version, tuple(dict.fromkeys(hashes)), line)
