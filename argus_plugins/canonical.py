"""RFC 8785 (JCS) canonical JSON and the SHA-256 helpers used wherever bytes are hashed.

Everything that ends up inside a signed statement (manifests, statements themselves) is hashed over its
canonical form, so two parties holding "the same" JSON always derive the same digest regardless of key
order, whitespace or number spelling. Serialisation is delegated to the ``rfc8785`` library; this module
adds a domain pre-check so that values outside RFC 8785 (NaN, huge ints, non-string keys, lone
surrogates) fail with one clear exception that names *where* the bad value is.

This module must stay free of Django imports: the publisher CLI uses it too.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import rfc8785

# RFC 8785 numbers are IEEE-754 doubles; integers beyond this cannot round-trip (I-JSON, RFC 7493).
MAX_SAFE_INTEGER = 2**53 - 1
# Deep nesting only serves to exhaust the interpreter stack; no legitimate manifest comes close.
MAX_DEPTH = 64

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class CanonicalJSONError(ValueError):
    """Base class: the value cannot be canonicalised, or the JSON text cannot be parsed strictly."""

    def __init__(self, message: str, path: str = "$") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class NotCanonicalizable(CanonicalJSONError):
    """A Python value lies outside the RFC 8785 domain (NaN/inf, |int| > 2^53-1, non-str key, ...)."""


class InvalidJSON(CanonicalJSONError):
    """JSON text that is malformed or ambiguous (duplicate keys, NaN literals, BOM, bad UTF-8)."""


def canonical_json(obj: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``obj``; raise NotCanonicalizable if impossible."""
    _check_domain(obj, "$", 0)
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:  # pragma: no cover - the pre-check should catch all
        raise NotCanonicalizable(str(exc)) from exc


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """Lower-case hex SHA-256 of raw bytes (bundles, DER keys, statements)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        # Hashing str silently would pick an encoding for the caller; make them choose.
        raise TypeError(f"sha256_hex needs bytes, got {type(data).__name__}")
    return hashlib.sha256(data).hexdigest()


def canonical_sha256(obj: Any) -> str:
    """Lower-case hex SHA-256 of the canonical JSON of ``obj``."""
    return sha256_hex(canonical_json(obj))


def is_sha256_hex(value: Any) -> bool:
    """True for exactly 64 lower-case hex digits (the only spelling we ever sign)."""
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def parse_json(data: bytes | str) -> Any:
    """Parse JSON text strictly, so that what we hash is exactly what the author meant.

    Refused: invalid UTF-8, a byte-order mark, duplicate object keys (parsers disagree on which wins),
    NaN/Infinity literals, numbers that overflow a double, integers beyond +/-(2^53-1), lone surrogate
    escapes and nesting deeper than MAX_DEPTH. The result is always canonicalisable.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidJSON(f"not valid UTF-8 (byte {exc.start})") from None
    elif isinstance(data, str):
        text = data
    else:
        raise TypeError(f"parse_json needs bytes or str, got {type(data).__name__}")
    if text.startswith("\ufeff"):
        raise InvalidJSON("starts with a byte-order mark; save the file as UTF-8 without BOM")
    try:
        obj = json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except CanonicalJSONError:
        raise
    except json.JSONDecodeError as exc:
        raise InvalidJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise InvalidJSON(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. int() digit-count limit
        raise InvalidJSON(str(exc)) from None
    _check_domain(obj, "$", 0, error=InvalidJSON)
    return obj


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidJSON(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise InvalidJSON(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InvalidJSON(f"number {text[:40]} overflows a double")
    return value


def _parse_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INTEGER:
        raise InvalidJSON(f"integer {text[:40]} is beyond +/-(2^53-1)")
    return value


def _check_domain(
    obj: Any, path: str, depth: int, error: type[CanonicalJSONError] = NotCanonicalizable
) -> None:
    """Walk ``obj`` and raise ``error`` at the first value RFC 8785 cannot represent."""
    if depth > MAX_DEPTH:
        raise error(f"nested deeper than {MAX_DEPTH} levels", path)
    if obj is None or isinstance(obj, bool):
        return
    if isinstance(obj, int):
        if abs(obj) > MAX_SAFE_INTEGER:
            raise error("integer beyond +/-(2^53-1) cannot be represented exactly", path)
        return
    if isinstance(obj, float):
        if math.isnan(obj) or math.isinf(obj):
            raise error(f"{obj!r} is not representable in JSON", path)
        return
    if isinstance(obj, str):
        _check_string(obj, path, error)
        return
    if isinstance(obj, (list, tuple)):
        for index, item in enumerate(obj):
            _check_domain(item, f"{path}[{index}]", depth + 1, error)
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise error(f"object key {key!r} is a {type(key).__name__}, not a string", path)
            _check_string(key, path, error)
            _check_domain(value, f"{path}.{key}", depth + 1, error)
        return
    raise error(f"{type(obj).__name__} is not a JSON type", path)


def _check_string(value: str, path: str, error: type[CanonicalJSONError]) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise error("string contains a lone surrogate (not valid Unicode)", path) from None
