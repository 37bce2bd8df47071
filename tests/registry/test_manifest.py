"""manifest.json validation: schema layer, platform-dependent rules, error codes and field paths."""

from __future__ import annotations

import copy
import json

import pytest
from jsonschema import Draft202012Validator

from registry.manifest import (
    SCHEMA_PATH,
    ManifestErrorCode,
    ManifestInvalid,
    ManifestIssue,
    PluginManifest,
    manifest_schema,
    validate_manifest,
)

C = ManifestErrorCode
LIMITS = {"memory_mb": 2048, "cpus": 2, "timeout_seconds": 600, "pids": 256}
RUNTIMES = {"python3.11", "python3.12"}
CAPABILITIES = {"evidence:read", "evidence:annotate", "network:egress"}
EVENTS = {"evidence.uploaded", "case.closed"}

VALID = {
    "name": "Acme Hasher",
    "description": "Hashes evidence.",
    "version": "1.2.0",
    "runtime": "python3.11",
    "entrypoint": "src/main.py",
    "capabilities": ["evidence:read", "evidence:annotate"],
    "resources": {"memory_mb": 512, "cpus": 0.5, "timeout_seconds": 120, "pids": 64},
    "input_schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"algorithm": {"enum": ["sha256", "sha512"]}},
    },
    "config_schema": {"type": "object", "properties": {"threshold": {"type": "integer", "minimum": 0}}},
    "events": ["evidence.uploaded", "custom.rehash_requested"],
    "emits": ["custom.hash_computed"],
    "min_platform_version": "1.0.0",
    "max_platform_version": "1.9.9",
}


def check(manifest, **overrides):
    kwargs = {
        "version": "1.2.0",
        "platform_version": "1.4.0",
        "known_runtimes": RUNTIMES,
        "resource_limits": LIMITS,
        "known_capabilities": CAPABILITIES,
        "known_events": EVENTS,
        "bundle_files": {"src/main.py", "manifest.json"},
    }
    kwargs.update(overrides)
    return validate_manifest(manifest, **kwargs)


def issues(manifest, **overrides) -> list[ManifestIssue]:
    with pytest.raises(ManifestInvalid) as info:
        check(manifest, **overrides)
    return info.value.errors


def with_(**changes):
    manifest = copy.deepcopy(VALID)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = manifest
        for parent in parents:
            target = target[parent]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return manifest


DELETE = object()


def test_schema_file_is_a_valid_2020_12_schema():
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert manifest_schema() == schema


def test_valid_manifest_returns_typed_view():
    result = check(copy.deepcopy(VALID))
    assert isinstance(result, PluginManifest)
    assert result.name == "Acme Hasher"
    assert result.capabilities == ("evidence:read", "evidence:annotate")
    assert result.resources.memory_mb == 512
    assert result.resources.cpus == 0.5
    assert result.events == ("evidence.uploaded", "custom.rehash_requested")
    assert result.raw == VALID


def test_minimal_manifest():
    minimal = {k: VALID[k] for k in ("name", "version", "runtime", "entrypoint", "capabilities", "resources")}
    result = check(minimal)
    assert result.events == () and result.input_schema is None and result.min_platform_version is None


@pytest.mark.parametrize("field", ["name", "version", "runtime", "entrypoint", "capabilities", "resources"])
def test_required_top_level_fields(field):
    assert ManifestIssue(C.REQUIRED, field, "This field is required.") in issues(with_(**{field: DELETE}))


@pytest.mark.parametrize("field", ["memory_mb", "cpus", "timeout_seconds", "pids"])
def test_required_resource_fields(field):
    found = issues(with_(**{f"resources__{field}": DELETE}))
    assert [(i.code, i.field) for i in found] == [(C.REQUIRED, f"resources.{field}")]


def test_unknown_fields_are_refused_with_their_path():
    found = issues(with_(capabilites=["evidence:read"], resources__gpu=1))
    assert {(i.code, i.field) for i in found} == {
        (C.UNKNOWN_FIELD, "capabilites"),
        (C.UNKNOWN_FIELD, "resources.gpu"),
    }


def test_not_an_object():
    found = issues(["not", "an", "object"])
    assert [(i.code, i.field) for i in found] == [(C.INVALID, None)]


def test_version_must_equal_the_version_being_created():
    found = issues(with_(version="1.3.0"))
    assert [(i.code, i.field) for i in found] == [(C.VERSION_MISMATCH, "version")]
    assert "1.3.0" in found[0].message and "1.2.0" in found[0].message


def test_name_must_equal_the_slug_of_the_plugin_uploaded_to():
    assert check(VALID, plugin_slug="Acme Hasher").name == "Acme Hasher"
    found = issues(VALID, plugin_slug="acme-hasher")
    assert [(i.code, i.field) for i in found] == [(C.NAME_MISMATCH, "name")]
    assert "Acme Hasher" in found[0].message and "acme-hasher" in found[0].message


@pytest.mark.parametrize(
    "bad",
    ["1.2", "v1.2.0", "01.2.0", "1.2.0-", "1.2.0+", "1.2.0-01", "1.\u0663.0", "1.2.0\n", " 1.2.0", "1" * 70],
)
def test_version_must_be_semver(bad):
    found = issues(with_(version=bad), version=bad)
    assert found and all(i.field == "version" and i.code is C.INVALID for i in found), found


@pytest.mark.parametrize("good", ["0.0.1", "1.2.0-rc.1", "1.2.0-alpha.beta+build.5", "10.20.30+sha.0a1b"])
def test_semver_variants_accepted(good):
    assert check(with_(version=good), version=good).version == good


def test_unknown_runtime():
    found = issues(with_(runtime="python2.7"))
    assert [(i.code, i.field) for i in found] == [(C.UNKNOWN_RUNTIME, "runtime")]
    assert "python3.11" in found[0].message


@pytest.mark.parametrize(
    "entrypoint",
    ["../main.py", "src/../../main.py", "/abs/main.py", "./src/main.py", "src//main.py", "src\\main.py",
     "src/main.py/", ".hidden.py", "", "src/ main.py", "src/main.py\n", "src/m\u00e4in.py"],
)  # fmt: skip
def test_entrypoint_must_be_a_safe_relative_path(entrypoint):
    found = issues(with_(entrypoint=entrypoint), bundle_files=None)
    assert {(i.code, i.field) for i in found} == {(C.INVALID, "entrypoint")}, found


def test_entrypoint_must_be_in_the_bundle():
    found = issues(with_(entrypoint="src/other.py"))
    assert [(i.code, i.field) for i in found] == [(C.ENTRYPOINT_MISSING, "entrypoint")]
    assert check(with_(entrypoint="src/other.py"), bundle_files=None).entrypoint == "src/other.py"


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        (["evidence:read", "evidence:read"], {(C.INVALID, "capabilities")}),
        (["Evidence:Read"], {(C.INVALID, "capabilities.0")}),
        (["evidence:read", "evidence"], {(C.INVALID, "capabilities.1")}),
        (["evidence:read:all"], {(C.INVALID, "capabilities.0")}),
        (["evidence:read", 5], {(C.INVALID, "capabilities.1")}),
        ("evidence:read", {(C.INVALID, "capabilities")}),
        (["evidence:read", "evidence:delete"], {(C.UNKNOWN_CAPABILITY, "capabilities.1")}),
    ],
)
def test_capabilities(capabilities, expected):
    assert {(i.code, i.field) for i in issues(with_(capabilities=capabilities))} == expected


def test_capability_catalog_is_optional():
    assert check(with_(capabilities=["anything:goes"]), known_capabilities=None).capabilities == (
        "anything:goes",
    )
    assert check(with_(capabilities=[])).capabilities == ()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("memory_mb", 0),
        ("memory_mb", -1),
        ("memory_mb", 512.0),  # integers must be JSON integers
        ("memory_mb", "512"),
        ("memory_mb", True),
        ("cpus", 0),
        ("cpus", -0.5),
        ("cpus", "1"),
        ("timeout_seconds", 0),
        ("timeout_seconds", 1.5),
        ("pids", 0),
        ("pids", None),
    ],
)
def test_resource_minima_and_types(field, value):
    found = issues(with_(**{f"resources__{field}": value}))
    assert {(i.code, i.field) for i in found} == {(C.INVALID, f"resources.{field}")}


@pytest.mark.parametrize(
    ("field", "value"), [("memory_mb", 4096), ("cpus", 2.5), ("timeout_seconds", 601), ("pids", 257)]
)
def test_resource_maxima(field, value):
    found = issues(with_(**{f"resources__{field}": value}))
    assert [(i.code, i.field) for i in found] == [(C.RESOURCE_LIMIT_EXCEEDED, f"resources.{field}")]
    assert str(LIMITS[field]) in found[0].message


def test_resource_maxima_are_inclusive():
    at_limit = with_(resources={"memory_mb": 2048, "cpus": 2, "timeout_seconds": 600, "pids": 256})
    assert check(at_limit).resources.cpus == 2.0


def test_resource_limits_must_be_complete():
    with pytest.raises(ValueError, match="pids"):
        check(copy.deepcopy(VALID), resource_limits={"memory_mb": 1, "cpus": 1, "timeout_seconds": 1})


@pytest.mark.parametrize("key", ["input_schema", "config_schema"])
def test_embedded_schemas_must_be_valid(key):
    found = issues(with_(**{key: {"type": "objekt"}}))
    assert [(i.code, i.field) for i in found] == [(C.INVALID_SCHEMA, f"{key}.type")]
    found = issues(with_(**{key: {"properties": {"a": {"minimum": "zero"}}}}))
    assert [(i.code, i.field) for i in found] == [(C.INVALID_SCHEMA, f"{key}.properties.a.minimum")]
    found = issues(with_(**{key: {"type": "string", "pattern": "("}}))
    assert [(i.code, i.field) for i in found] == [(C.INVALID_SCHEMA, f"{key}.pattern")]
    found = issues(with_(**{key: []}))
    assert [(i.code, i.field) for i in found] == [(C.INVALID, key)]


def test_embedded_schema_must_use_draft_2020_12():
    found = issues(
        with_(input_schema={"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"})
    )
    assert [(i.code, i.field) for i in found] == [(C.INVALID_SCHEMA, "input_schema.$schema")]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (["evidence.uploaded", "custom.anything_new"], set()),
        (["evidence.deleted"], {(C.UNKNOWN_EVENT, "events.0")}),
        (["Evidence.Uploaded"], {(C.INVALID, "events.0")}),
        (["uploaded"], {(C.INVALID, "events.0")}),
        (["custom."], {(C.INVALID, "events.0")}),
        (["case.closed", "case.closed"], {(C.INVALID, "events")}),
    ],
)
def test_events(events, expected):
    manifest = with_(events=events)
    if expected:
        assert {(i.code, i.field) for i in issues(manifest)} == expected
    else:
        assert check(manifest).events == tuple(events)


def test_event_catalog_is_optional():
    assert check(with_(events=["whatever.happens"]), known_events=None).events == ("whatever.happens",)


@pytest.mark.parametrize("emits", [["evidence.uploaded"], ["custom"], ["custom.Bad"], ["hash_computed"]])
def test_emits_only_custom_events(emits):
    assert {(i.code, i.field) for i in issues(with_(emits=emits))} == {(C.INVALID, "emits.0")}


@pytest.mark.parametrize(
    ("low", "high", "platform", "expected"),
    [
        ("1.0.0", "2.0.0", "1.0.0", set()),
        ("1.0.0", "2.0.0", "2.0.0", set()),
        ("1.5.0", None, "1.4.0", {(C.PLATFORM_INCOMPATIBLE, "min_platform_version")}),
        (None, "1.3.9", "1.4.0", {(C.PLATFORM_INCOMPATIBLE, "max_platform_version")}),
        ("1.4.0", None, "1.4.0-rc.1", {(C.PLATFORM_INCOMPATIBLE, "min_platform_version")}),
        ("2.0.0", "1.0.0", "1.4.0", {(C.INVALID, "max_platform_version")}),
        ("1.0", None, "1.4.0", {(C.INVALID, "min_platform_version")}),
    ],
)
def test_platform_version_range(low, high, platform, expected):
    manifest = with_(min_platform_version=low or DELETE, max_platform_version=high or DELETE)
    if expected:
        found = issues(manifest, platform_version=platform)
        assert {(i.code, i.field) for i in found} == expected
        if C.PLATFORM_INCOMPATIBLE in {i.code for i in found}:
            assert platform in found[0].message and (low or high) in found[0].message
    else:
        check(manifest, platform_version=platform)


def test_platform_check_is_skipped_offline():
    check(with_(min_platform_version="9.0.0", max_platform_version=DELETE), platform_version=None)


def test_invalid_platform_version_argument_is_a_configuration_error():
    with pytest.raises(ValueError, match="platform_version"):
        check(copy.deepcopy(VALID), platform_version="1.4")


@pytest.mark.parametrize(
    ("field", "value"), [("name", "Acme\nHasher"), ("name", ""), ("name", "A\x07"), ("runtime", "Python3")]
)
def test_single_line_fields(field, value):
    assert {(i.code, i.field) for i in issues(with_(**{field: value}))} == {(C.INVALID, field)}


def test_all_problems_are_reported_together_sorted_by_field():
    manifest = with_(
        version="2.0.0", runtime="java", capabilities=["evidence:delete"], resources__pids=100000, extra=1
    )
    found = issues(manifest)
    assert [(i.code, i.field) for i in found] == [
        (C.UNKNOWN_CAPABILITY, "capabilities.0"),
        (C.UNKNOWN_FIELD, "extra"),
        (C.RESOURCE_LIMIT_EXCEEDED, "resources.pids"),
        (C.UNKNOWN_RUNTIME, "runtime"),
        (C.VERSION_MISMATCH, "version"),
    ]
    with pytest.raises(ManifestInvalid) as info:
        check(manifest)
    assert "resources.pids" in str(info.value)
    assert all(isinstance(code, str) for code, _, _ in info.value.errors)  # plain tuples for callers
