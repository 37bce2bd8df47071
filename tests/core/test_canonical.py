"""RFC 8785 canonical JSON: the independent JCS vectors byte for byte, domain errors, strict parsing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from argus_plugins.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    InvalidJSON,
    NotCanonicalizable,
    canonical_json,
    canonical_sha256,
    is_sha256_hex,
    parse_json,
    sha256_hex,
)

REPO = Path(__file__).resolve().parents[2]
TESTDATA = Path(os.environ.get("ARGUS_TESTDATA_DIR", REPO / "tests" / "data"))
JCS = TESTDATA / "jcs"
JCS_NAMES = ["arrays", "french", "structures", "unicode", "values", "weird"]


def test_jcs_vectors_are_present():
    # Missing vectors must fail loudly, not silently shrink the suite (set ARGUS_TESTDATA_DIR).
    assert sorted(p.stem for p in (JCS / "input").glob("*.json")) == sorted(JCS_NAMES)


@pytest.mark.parametrize("name", JCS_NAMES)
def test_jcs_vector_byte_exact(name):
    source = (JCS / "input" / f"{name}.json").read_bytes()
    expected = (JCS / "output" / f"{name}.json").read_bytes()
    assert canonical_json(parse_json(source)) == expected
    # The standard library parser agrees on these inputs; canonicalisation is what differs.
    assert canonical_json(json.loads(source)) == expected


def test_python_sort_keys_is_not_jcs():
    # Sanity check of the vectors' point: json.dumps(sort_keys=True) differs on weird.json.
    value = json.loads((JCS / "input" / "weird.json").read_bytes())
    naive = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert naive != (JCS / "output" / "weird.json").read_bytes()


def test_keys_sorted_by_utf16_code_units_not_code_points():
    # U+1F600 is D83D DE00 in UTF-16, which sorts before U+E000; code-point order says the opposite.
    assert canonical_json({"\ue000": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ue000":1}'.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-0.0, b"0"),
        (1e21, b"1e+21"),
        (1e20, b"100000000000000000000"),
        (1e-7, b"1e-7"),
        (0.000001, b"0.000001"),
        (5e-324, b"5e-324"),
        (MAX_SAFE_INTEGER, b"9007199254740991"),
        (-MAX_SAFE_INTEGER, b"-9007199254740991"),
        ("\u2028", '"\u2028"'.encode()),
        ([True, None, "a\tb"], b'[true,null,"a\\tb"]'),
        ((1, 2), b"[1,2]"),
    ],
)
def test_number_and_string_forms(value, expected):
    assert canonical_json(value) == expected


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (float("nan"), "$"),
        (float("inf"), "$"),
        ({"a": [1, float("-inf")]}, "$.a[1]"),
        (2**53, "$"),
        (-(2**53), "$"),
        ({"n": 10**30}, "$.n"),
        ({1: "int key"}, "$"),
        ({("t",): "tuple key"}, "$"),
        ({"s": "\ud800"}, "$.s"),
        ({"\udfff": 1}, "$"),
        ({"b": b"bytes"}, "$.b"),
        ({"set": {1}}, "$.set"),
        (object(), "$"),
    ],
)
def test_values_outside_the_domain_raise_with_a_path(value, path):
    with pytest.raises(NotCanonicalizable) as info:
        canonical_json(value)
    assert info.value.path == path
    assert isinstance(info.value, CanonicalJSONError)
    assert isinstance(info.value, ValueError)


def test_deep_nesting_is_refused_cleanly():
    value: object = 1
    for _ in range(200):
        value = [value]
    with pytest.raises(NotCanonicalizable, match="nested deeper"):
        canonical_json(value)


def test_sha256_helpers():
    assert sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert canonical_sha256({"b": 1, "a": [2]}) == hashlib.sha256(b'{"a":[2],"b":1}').hexdigest()
    assert is_sha256_hex(sha256_hex(b""))
    assert not is_sha256_hex(sha256_hex(b"").upper())
    assert not is_sha256_hex("ab")
    with pytest.raises(TypeError):
        sha256_hex("text is not bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (b'{"a": 1, "a": 2}', "duplicate object key"),
        (b'{"a": NaN}', "NaN"),
        (b"[Infinity]", "Infinity"),
        (b"[-Infinity]", "Infinity"),
        (b"[1e999]", "overflows"),
        (b"[9007199254740992]", "2^53"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'["\\ud800"]', "surrogate"),
        (b"{", "line 1"),
        (b"[" * 100 + b"]" * 100, "nested deeper"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b"", "Expecting value"),
    ],
)
def test_parse_json_is_strict(text, fragment):
    with pytest.raises(InvalidJSON, match=fragment.replace("^", r"\^")):
        parse_json(text)


def test_parse_json_accepts_ordinary_json():
    assert parse_json('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert parse_json(b'{"\\ud83d\\ude02": 1}') == {"\U0001f602": 1}
