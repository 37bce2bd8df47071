"""The GraphQL answer's JSON (orjson): the same document json.dumps(separators=(",", ":"), default=str) wrote."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import json
import uuid
from collections import OrderedDict

import pytest

from argus_plugins.core.graphql.view import ArgusGraphQLView


@dataclasses.dataclass
class Point:
    x: int


ANSWERS = [
    {"data": {"me": {"username": "vera", "tenants": []}}},
    OrderedDict(errors=[{"message": "Ungültig — «nope» 日本", "extensions": {"code": "INVALID"}}]),
    {"data": {"page": [{"id": str(uuid.uuid4()), "price": "49.00", "n": 2**53 - 1, "f": 0.1, "ok": True}]}},
    {"data": None, "errors": [{"path": ["a", 0, "b"], "locations": [{"line": 1, "column": 2}]}]},
    # What only a resolver's bug would put in an answer: still written as json.dumps(default=str) did.
    {"at": dt.datetime(2026, 12, 7, 4, 5, 6, 789, tzinfo=dt.UTC), "day": dt.date(2026, 12, 7)},
    {"amount": decimal.Decimal("1.50"), "id": uuid.UUID(int=7), "point": Point(3), 1: "int key", None: "k"},
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_the_answer_is_the_json_the_standard_encoder_wrote(answer):
    written = ArgusGraphQLView().json_encode(None, answer)
    assert isinstance(written, str)
    assert json.loads(written) == json.loads(json.dumps(answer, separators=(",", ":"), default=str))


def test_it_is_compact_and_writes_non_ascii_as_utf8():
    written = ArgusGraphQLView().json_encode(None, {"a": [1, {"b": "é"}]})
    assert written == '{"a":[1,{"b":"é"}]}'
