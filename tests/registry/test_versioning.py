import pytest

from argus_plugins.core.errors import DomainError
from registry.versioning import parse_version, precedence_key

# semver.org's precedence example, in ascending order.
ASCENDING = [
    "0.9.9",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0-0",
    "2.0.0-1",
    "2.0.0-a",
    "2.0.0",
    "10.0.0",
]


def test_precedence_key_orders_like_semver():
    keys = [precedence_key(parse_version(v)) for v in ASCENDING]
    assert sorted(keys) == keys
    assert len(set(keys)) == len(keys)


def test_build_metadata_is_ignored_for_precedence():
    assert precedence_key(parse_version("1.0.0+build.1")) == precedence_key(parse_version("1.0.0+build.2"))
    assert precedence_key(parse_version("1.0.0-alpha+x")) == precedence_key(parse_version("1.0.0-alpha"))


def test_key_is_plain_hex_so_any_collation_agrees():
    key = precedence_key(parse_version("1.0.0-Alpha-x.7"))
    assert set(key) <= set("0123456789abcdef")


@pytest.mark.parametrize(
    "bad", ["", "1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0 ", "x" * 200]
)
def test_invalid_versions_are_typed_errors(bad):
    with pytest.raises(DomainError) as caught:
        parse_version(bad)
    assert caught.value.code.value == "INVALID" and caught.value.field == "version"
