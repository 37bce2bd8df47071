"""SemVer 2.0.0 parsing and a sort key that orders versions by precedence inside the database."""

from __future__ import annotations

import semver

from argus_plugins.core.errors import CommonErrorCode, DomainError

MAX_VERSION_LENGTH = 128
_NUMBER_WIDTH = 20  # fits any 64-bit component; SemVer components are unbounded but this is plenty


def parse_version(value: str, *, field: str = "version") -> semver.Version:
    if not isinstance(value, str) or not value or len(value) > MAX_VERSION_LENGTH:
        raise DomainError(CommonErrorCode.INVALID, "Give a SemVer 2.0.0 version, e.g. 1.2.3.", field)
    try:
        parsed = semver.Version.parse(value)
    except ValueError:
        raise DomainError(
            CommonErrorCode.INVALID, f"'{value}' is not a SemVer 2.0.0 version (e.g. 1.2.3-beta.1).", field
        ) from None
    if max(parsed.major, parsed.minor, parsed.patch) >= 10**_NUMBER_WIDTH:
        raise DomainError(CommonErrorCode.INVALID, "Version components are too large.", field)
    return parsed


def _identifier_key(identifier: str) -> bytes:
    # Numeric identifiers sort before alphanumeric ones, numerically among themselves.
    if identifier.isdigit():
        return b"0" + identifier.rjust(_NUMBER_WIDTH, "0").encode()
    return b"1" + identifier.encode()


def precedence_key(version: semver.Version) -> str:
    """A string whose plain ordering is SemVer precedence (build metadata ignored).

    Hex-encoded so that any database collation (PostgreSQL's locale-aware ones included) orders it
    exactly like the bytes: only [0-9a-f] characters remain.
    """
    core = b"".join(
        str(part).rjust(_NUMBER_WIDTH, "0").encode() for part in (version.major, version.minor, version.patch)
    )
    if version.prerelease is None:
        tail = b"1"  # a release outranks every pre-release of the same core version
    else:
        # \x01 separates identifiers: it sorts below every identifier character, so a shorter list of
        # equal identifiers comes first, as SemVer requires.
        tail = b"0" + b"\x01".join(_identifier_key(part) for part in version.prerelease.split("."))
    return (core + tail).hex()
