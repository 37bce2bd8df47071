"""The ledger's hash preimage, its timestamp format and the record domain (no Django imports).

An entry's hash is ``SHA-256(canonical_json({"created_at", "entry_type", "prev_hash", "record",
"sequence"}))`` (RFC 8785), lower-case hex. Everything here exists so that the bytes hashed at write
time can be rebuilt byte for byte at verification time, by us or by anyone with the export:

* ``created_at`` is stored as the exact string that was hashed (``TIMESTAMP_FORMAT``), never re-formatted
  from a datetime column whose precision or time zone rendering could drift.
* Records are restricted at write time (``prepare_record``) to values that survive every database we
  support unchanged, so the parsed record read back always canonicalises to the bytes that were hashed.
* Verification canonicalises with the C-accelerated ``json`` encoder where that is provably identical to
  RFC 8785 (``fast_canonical_record``), and falls back to the reference implementation otherwise.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from json.encoder import encode_basestring  # type: ignore[attr-defined]  # C-accelerated
from typing import Any

from argus_plugins.canonical import MAX_SAFE_INTEGER, NotCanonicalizable, canonical_json

#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64
#: The only spelling of ``created_at`` (and of every timestamp inside records): RFC 3339, UTC, always six
#: fractional digits, upper-case ``T`` and ``Z``. Example: ``2026-11-25T15:31:17.123456Z`` (27 characters).
TIMESTAMP_LENGTH = 27
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
#: Entry types are dotted lower-case names ("execution.completed", "grant.revoked").
ENTRY_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
MAX_ENTRY_TYPE_LENGTH = 64
#: A ledger entry records facts, not payloads; anything bigger is a bug in the caller.
MAX_RECORD_BYTES = 256 * 1024
#: Floats are allowed (e.g. a manifest's ``cpus: 0.5``) only below 2^53: PostgreSQL's jsonb prints larger
#: ones without an exponent, so they would read back as integers outside RFC 8785's domain.
MAX_FLOAT_MAGNITUDE = float(2**53)


def format_timestamp(instant: dt.datetime) -> str:
    """The ledger's one timestamp spelling, e.g. ``2026-11-25T15:31:17.123456Z``."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("ledger timestamps need a timezone-aware datetime")
    utc = instant.astimezone(dt.UTC).replace(tzinfo=None)
    # isoformat (unlike strftime("%Y")) always zero-pads the year to four digits.
    return utc.isoformat(timespec="microseconds") + "Z"


def format_optional_timestamp(instant: dt.datetime | None) -> str | None:
    return None if instant is None else format_timestamp(instant)


def is_timestamp(value: Any) -> bool:
    return isinstance(value, str) and _TIMESTAMP_RE.fullmatch(value) is not None


def check_entry_type(entry_type: Any) -> str:
    if (
        not isinstance(entry_type, str)
        or len(entry_type) > MAX_ENTRY_TYPE_LENGTH
        or not ENTRY_TYPE_RE.fullmatch(entry_type)
    ):
        raise ValueError(f"invalid ledger entry type {entry_type!r} (expected e.g. 'execution.completed')")
    return entry_type


def prepare_record(record: Any) -> tuple[dict[str, Any], bytes]:
    """Check ``record`` against the ledger's domain and return ``(plain_record, canonical_bytes)``.

    Raises ``NotCanonicalizable`` naming the offending path: NaN/inf, |int| > 2^53-1, datetimes, Decimals,
    non-string keys, lone surrogates (all refused by RFC 8785 itself), plus what the ledger refuses on top:
    U+0000 in strings (PostgreSQL's jsonb cannot store it), floats of magnitude >= 2^53 and oversized
    records. ``plain_record`` is the canonical bytes parsed back, so what is stored is exactly what was
    hashed (tuples become lists, str/int subclasses such as enums become plain values).
    """
    if not isinstance(record, dict):
        raise NotCanonicalizable(f"a ledger record must be a JSON object, not {type(record).__name__}")
    canonical = canonical_json(record)
    if len(canonical) > MAX_RECORD_BYTES:
        raise NotCanonicalizable(f"record is {len(canonical)} bytes; at most {MAX_RECORD_BYTES}")
    _check_ledger_domain(record, "$")
    return json.loads(canonical), canonical


def check_ledger_domain(value: Any, path: str = "$") -> None:
    """The ledger's rules on top of RFC 8785 for a value already known to be canonicalisable (e.g. what
    ``argus_plugins.canonical.parse_json`` returned); raises NotCanonicalizable naming the path."""
    _check_ledger_domain(value, path)


def _check_ledger_domain(value: Any, path: str) -> None:
    # canonical_json has already walked the value (depth, types, ints); only the ledger's extras remain.
    if isinstance(value, str):
        if "\x00" in value:
            raise NotCanonicalizable("U+0000 cannot be stored by every database the ledger supports", path)
    elif isinstance(value, float):
        if abs(value) >= MAX_FLOAT_MAGNITUDE:
            raise NotCanonicalizable("floats of magnitude >= 2^53 are not allowed; use a string", path)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_ledger_domain(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise NotCanonicalizable("U+0000 in an object key", path)
            _check_ledger_domain(item, f"{path}.{key}")


def preimage(
    sequence: int, entry_type: str, record_canonical: bytes, prev_hash: str, created_at: str
) -> bytes:
    """RFC 8785 bytes of {"created_at", "entry_type", "prev_hash", "record", "sequence"}.

    Assembled directly (the five keys are ASCII, so their order is simply alphabetical) instead of
    re-canonicalising the whole object: byte-identical to ``canonical_json`` of the dict (tested).
    Raises UnicodeEncodeError for strings with lone surrogates (only possible in tampered rows).
    """
    return b"".join(
        (
            b'{"created_at":',
            encode_basestring(created_at).encode("utf-8"),
            b',"entry_type":',
            encode_basestring(entry_type).encode("utf-8"),
            b',"prev_hash":',
            encode_basestring(prev_hash).encode("utf-8"),
            b',"record":',
            record_canonical,
            b',"sequence":',
            str(sequence).encode("ascii"),
            b"}",
        )
    )


def content_preimage(entry_type: str, record_canonical: bytes, created_at: str) -> bytes:
    """RFC 8785 bytes of {"created_at", "entry_type", "record"}: what an entry says, without its place in
    the chain (which a pending entry does not have yet). Byte-identical to ``canonical_json`` of the dict."""
    return b"".join(
        (
            b'{"created_at":',
            encode_basestring(created_at).encode("utf-8"),
            b',"entry_type":',
            encode_basestring(entry_type).encode("utf-8"),
            b',"record":',
            record_canonical,
            b"}",
        )
    )


def content_hash(entry_type: str, record_canonical: bytes, created_at: str) -> str:
    """``LedgerEntry.content_hash``: SHA-256 (hex) of ``content_preimage``."""
    return hashlib.sha256(content_preimage(entry_type, record_canonical, created_at)).hexdigest()


def entry_hash(
    sequence: int, entry_type: str, record_canonical: bytes, prev_hash: str, created_at: str
) -> str:
    return hashlib.sha256(preimage(sequence, entry_type, record_canonical, prev_hash, created_at)).hexdigest()


# --- Verification-side canonicalisation ------------------------------------------------------------------
#
# RFC 8785 and ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` agree exactly on
# null, booleans, strings (same escapes: \b \f \n \r \t, other controls as lower-case \u00xx, everything
# else literal), integers, and on key order as long as no key has a character outside the BMP (RFC 8785
# sorts by UTF-16 code units, Python by code points). On floats they agree for non-integral values in
# [1e-4, 1e16), where Python's repr and ECMAScript's Number.toString both print the shortest round-trip
# digits positionally; elsewhere the spellings differ ("1e-05" vs "0.00001", "56.0" vs "56"). The fast
# path is therefore taken only when none of the differences can occur; every other record goes through
# the reference implementation, which also rejects values outside the domain.

_FAST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _NeedsReference(Exception):
    pass


def _fast_float(text: str) -> float:
    value = float(text)
    if 1e-4 <= abs(value) < 1e16 and not value.is_integer():
        return value
    raise _NeedsReference


def _fast_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    raise _NeedsReference


def _needs_reference(_text: str) -> Any:
    raise _NeedsReference


# Numbers the fast path cannot spell like RFC 8785 (floats outside the range above, integers beyond 2^53-1,
# NaN/Infinity) abort the fast parse; the record is then parsed plainly and canonicalised by the reference.
_FAST_DECODER = json.JSONDecoder(
    parse_float=_fast_float, parse_int=_fast_int, parse_constant=_needs_reference
)


def parse_stored_record(text: str) -> tuple[Any, bool]:
    """Parse a record as stored; the flag says whether ``canonical_record(..., fast=True)`` may be used."""
    try:
        return _FAST_DECODER.decode(text), True
    except _NeedsReference:
        return json.loads(text), False


def canonical_record(record: Any, fast: bool) -> bytes:
    """RFC 8785 bytes of a record; raises NotCanonicalizable when impossible.

    ``fast=True`` is only correct for values whose numbers all pass ``_fast_float``/``_fast_int`` (what
    ``parse_stored_record`` reports); strings and key order are checked here.
    """
    if fast:
        try:
            text = _FAST_ENCODER.encode(record)
            out = text.encode("utf-8")  # UnicodeEncodeError for lone surrogates
        except (ValueError, TypeError):
            out = None
        # Characters outside the BMP are the only ones whose UTF-16 order can differ from code point order
        # (they take 4 bytes in UTF-16); such records go to the reference implementation.
        if out is not None and (text.isascii() or len(text.encode("utf-16-le")) == 2 * len(text)):
            return out
    return canonical_json(record)


_fast_decode = _FAST_DECODER.decode
_fast_encode = _FAST_ENCODER.encode


def hash_stored_entry(
    sequence: int, entry_type: str, record_text: str, prev_hash: str, created_at: str
) -> tuple[Any, str]:
    """Parse a stored record and return ``(record, entry_hash)``."""
    record, data = stored_preimage(sequence, entry_type, record_text, prev_hash, created_at)
    return record, hashlib.sha256(data).hexdigest()


def stored_preimage(
    sequence: int, entry_type: str, record_text: str, prev_hash: str, created_at: str
) -> tuple[Any, bytes]:
    """Parse a stored record and return ``(record, preimage)``: the verifier's hot path, in one call.

    ``preimage`` is what ``entry_hash`` hashes and the Merkle tree's leaf data. Equivalent to
    ``preimage(..., canonical_record(*parse_stored_record(record_text)), ...)`` (tested); inlined because
    it runs once per entry. Raises NotCanonicalizable, ValueError (bad JSON, lone surrogates) or
    TypeError for rows no append can have written.
    """
    try:
        record = _fast_decode(record_text)
        text = _fast_encode(record)
        if not text.isascii():  # ASCII: no surrogates, no characters outside the BMP
            text = canonical_record(record, True).decode("utf-8")
    except _NeedsReference:
        record = json.loads(record_text)
        text = canonical_json(record).decode("utf-8")
    preimage_text = '{"created_at":%s,"entry_type":%s,"prev_hash":%s,"record":%s,"sequence":%d}' % (  # noqa: UP031
        encode_basestring(created_at),
        encode_basestring(entry_type),
        encode_basestring(prev_hash),
        text,
        sequence,
    )
    return record, preimage_text.encode("utf-8")
