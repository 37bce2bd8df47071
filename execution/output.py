"""A plugin's ``output.json``: parsed strictly before anything is stored.

The bytes come from an untrusted plugin. What is accepted is what the ledger would accept in a record:
RFC 8259 JSON (no NaN/Infinity literals, no duplicate keys, valid UTF-8, no byte-order mark), nesting at
most ``MAX_DEPTH`` levels, integers within +/-(2^53-1), finite floats of magnitude below 2^53, no lone
surrogate and no U+0000 (PostgreSQL's jsonb refuses both). Everything else is the plugin's mistake,
reported as ``OutputRefused`` with a message that says where the bad value is.
"""

from __future__ import annotations

from typing import Any

from argus_plugins.canonical import MAX_DEPTH, CanonicalJSONError, parse_json
from ledger.hashing import check_ledger_domain

__all__ = ["MAX_DEPTH", "OutputRefused", "parse_output"]


class OutputRefused(ValueError):
    """output.json is not a value the platform stores; ``str()`` is the reason, for the run's record."""


def parse_output(data: bytes) -> Any:
    if not data.strip():
        raise OutputRefused("output.json is empty; write a JSON value (e.g. {}) or no file at all")
    try:
        value = parse_json(data)
        check_ledger_domain(value)
    except CanonicalJSONError as error:
        raise OutputRefused(f"output.json is not acceptable JSON: {error}") from None
    except RecursionError:  # belt and braces: parse_json already turns deep nesting into InvalidJSON
        raise OutputRefused(f"output.json is nested deeper than {MAX_DEPTH} levels") from None
    return value
