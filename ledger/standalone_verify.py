#!/usr/bin/env python3
"""Verify an Argus Plugins ledger export without Argus: Python 3.8+ standard library only.

Usage::

    python standalone_verify.py ledger.jsonl [--head HEX]

Input: JSON Lines as written by ``manage.py export_ledger``, one entry per line with the fields
``sequence``, ``entry_type``, ``record``, ``prev_hash``, ``created_at``, ``entry_hash`` (others ignored).

For every line, in order, the script checks that ``sequence`` is the previous one plus 1 (starting at 1),
that ``prev_hash`` is the previous line's ``entry_hash`` (64 zeros for the first), and that
``entry_hash`` = lower-case hex SHA-256 of the RFC 8785 (JCS) canonical JSON of the object
``{"sequence", "entry_type", "record", "prev_hash", "created_at"}``. With ``--head`` the last hash must
also equal a head hash obtained independently (e.g. published earlier): only that detects a truncated tail.

Prints ``OK <entries> entries, head <hash>`` and exits 0, or ``BROKEN at sequence N: <reason>`` and exits 1.

RFC 8785 support: this file implements the whole canonicalisation for parsed JSON (I-JSON) values:
null, true/false, strings (escapes exactly as ECMAScript JSON.stringify: \\b \\f \\n \\r \\t, other
controls as lower-case \\u00xx, everything else literal UTF-8), integers within +/-(2^53-1), finite
doubles formatted as ECMAScript Number.prototype.toString (shortest round-trip digits), arrays, and objects
with keys sorted by UTF-16 code units. Refused as not canonicalisable: NaN/Infinity, integers beyond
+/-(2^53-1), lone surrogates, duplicate object keys. Ledger records never contain values outside this set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys

GENESIS_HASH = "0" * 64
MAX_SAFE_INTEGER = 2**53 - 1
PREIMAGE_FIELDS = ("sequence", "entry_type", "record", "prev_hash", "created_at")


class NotCanonical(ValueError):
    pass


def canonicalize(value) -> str:
    """RFC 8785 canonical JSON text of a parsed JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise NotCanonical(f"integer {value} is beyond +/-(2^53-1)")
        return str(value)
    if isinstance(value, float):
        return format_es6_number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonicalize(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=_utf16_key)
        return "{" + ",".join(_string(key) + ":" + canonicalize(value[key]) for key in keys) + "}"
    raise NotCanonical(f"{type(value).__name__} is not a JSON value")


def _utf16_key(key: str) -> bytes:
    # RFC 8785 3.2.3: sort by UTF-16 code units; big-endian UTF-16 bytes compare the same way.
    return key.encode("utf-16-be", "surrogatepass")


def _string(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise NotCanonical("string contains a lone surrogate") from None
    # Python's escaping with ensure_ascii=False is exactly ECMAScript's JSON.stringify escaping.
    return json.dumps(value, ensure_ascii=False)


def format_es6_number(value: float) -> str:
    """ECMAScript Number.prototype.toString of a finite double (RFC 8785 section 3.2.2.3)."""
    if math.isnan(value) or math.isinf(value):
        raise NotCanonical(f"{value!r} is not representable in JSON")
    if value == 0:
        return "0"  # also for -0
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, as ECMAScript requires.
    mantissa, _, exponent = repr(abs(value)).partition("e")
    integer_part, _, fraction = mantissa.partition(".")
    # value = int(integer_part + fraction) * 10^(exponent - len(fraction)); ECMAScript writes it as
    # s * 10^(n - k) with s the k significant digits (no leading or trailing zeros).
    digits = (integer_part + fraction).lstrip("0")
    stripped = digits.rstrip("0")
    k = len(stripped)
    n = int(exponent or 0) - len(fraction) + (len(digits) - k) + k
    if k <= n <= 21:
        text = stripped + "0" * (n - k)
    elif 0 < n <= 21:
        text = stripped[:n] + "." + stripped[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + stripped
    else:
        exp = n - 1
        exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
        text = (stripped[0] + ("." + stripped[1:] if k > 1 else "")) + "e" + exp_text
    return sign + text


def entry_hash(entry: dict) -> str:
    preimage = {field: entry[field] for field in PREIMAGE_FIELDS}
    return hashlib.sha256(canonicalize(preimage).encode("utf-8")).hexdigest()


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise NotCanonical(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _refuse_constant(name):
    raise NotCanonical(f"{name} is not valid JSON")


def parse_line(line: str) -> dict:
    entry = json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    if not isinstance(entry, dict):
        raise NotCanonical("a line must be a JSON object")
    missing = [field for field in (*PREIMAGE_FIELDS, "entry_hash") if field not in entry]
    if missing:
        raise NotCanonical("missing field(s): " + ", ".join(missing))
    return entry


def verify(lines, expected_head=None):
    """Return (ok, entries_checked, head_hash, message)."""
    expected, prev = 1, GENESIS_HASH
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = parse_line(line)
        except (ValueError, NotCanonical) as exc:
            return (
                False,
                expected - 1,
                prev,
                f"BROKEN at sequence {expected}: line {number} is malformed ({exc})",
            )
        sequence = entry["sequence"]
        if type(sequence) is not int or sequence != expected:
            reason = (
                "gap (entries missing)" if isinstance(sequence, int) and sequence > expected else "reordered"
            )
            return False, expected - 1, prev, f"BROKEN at sequence {expected}: {reason}, found {sequence!r}"
        try:
            computed = entry_hash(entry)
        except NotCanonical as exc:
            return False, expected - 1, prev, f"BROKEN at sequence {expected}: not canonicalisable ({exc})"
        if computed != entry["entry_hash"]:
            return (
                False,
                expected - 1,
                prev,
                f"BROKEN at sequence {expected}: hash mismatch (a field was altered)",
            )
        if entry["prev_hash"] != prev:
            return False, expected - 1, prev, f"BROKEN at sequence {expected}: broken link (prev_hash)"
        prev = computed
        expected += 1
    if expected_head is not None and expected_head != prev:
        return (
            False,
            expected - 1,
            prev,
            f"BROKEN at sequence {expected}: the chain ends before the expected head",
        )
    return True, expected - 1, prev, f"OK {expected - 1} entries, head {prev}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Verify an Argus Plugins ledger export (JSON Lines).")
    parser.add_argument("path", help="the export, or - for standard input")
    parser.add_argument("--head", help="the head hash obtained independently; the chain must end there")
    args = parser.parse_args(argv)
    if args.path == "-":
        ok, _, _, message = verify(sys.stdin, args.head)
    else:
        with open(args.path, encoding="utf-8") as handle:
            ok, _, _, message = verify(handle, args.head)
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
