"""Validation of a plugin's manifest.json.

Two layers: ``manifest.schema.json`` (JSON Schema draft 2020-12) holds the structural rules that never
depend on the platform; this module adds the rules that do (known runtimes, capability/event catalogs,
resource maxima, platform version range, the version being created, files in the bundle). All problems
are collected and reported together so a publisher can fix a manifest in one round trip.

Platform-dependent arguments are keyword-only WITHOUT defaults: a caller must say ``None`` explicitly to
skip a check (the offline CLI does that; the server never should).

This module must stay free of Django imports: the publisher CLI uses it too.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import semver
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
RESOURCE_FIELDS = ("memory_mb", "cpus", "timeout_seconds", "pids")
CUSTOM_EVENT_PREFIX = "custom."

# Single-line identifiers. Python's ``re.search`` lets '$' match before a trailing newline, so schema
# patterns alone would accept "main.py\n"; these fields are re-checked for line breaks below.
_SINGLE_LINE_FIELDS = (
    "name",
    "version",
    "runtime",
    "entrypoint",
    "min_platform_version",
    "max_platform_version",
)
_SINGLE_LINE_LISTS = ("capabilities", "events", "emits")


class ManifestErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    VERSION_MISMATCH = "VERSION_MISMATCH"
    NAME_MISMATCH = "NAME_MISMATCH"
    UNKNOWN_RUNTIME = "UNKNOWN_RUNTIME"
    UNKNOWN_CAPABILITY = "UNKNOWN_CAPABILITY"
    UNKNOWN_EVENT = "UNKNOWN_EVENT"
    RESOURCE_LIMIT_EXCEEDED = "RESOURCE_LIMIT_EXCEEDED"
    INVALID_SCHEMA = "INVALID_SCHEMA"
    PLATFORM_INCOMPATIBLE = "PLATFORM_INCOMPATIBLE"
    ENTRYPOINT_MISSING = "ENTRYPOINT_MISSING"
    LOCK_FILE_MISSING = "LOCK_FILE_MISSING"


class ManifestIssue(NamedTuple):
    """One problem. ``field`` is a dotted path inside the manifest ("resources.memory_mb",
    "capabilities.2"), or None for the manifest as a whole."""

    code: ManifestErrorCode
    field: str | None
    message: str


class ManifestInvalid(ValueError):
    """The manifest has one or more problems, all listed in ``errors``."""

    def __init__(self, errors: Iterable[ManifestIssue]) -> None:
        self.errors: list[ManifestIssue] = list(errors)
        super().__init__("; ".join(f"{e.field or 'manifest'}: {e.message}" for e in self.errors))


@dataclass(frozen=True)
class ResourceRequest:
    memory_mb: int
    cpus: float
    timeout_seconds: int
    pids: int


@dataclass(frozen=True)
class PluginManifest:
    """A validated manifest. ``raw`` is the manifest exactly as given (what manifest_sha256 covers)."""

    name: str
    version: str
    runtime: str
    entrypoint: str
    capabilities: tuple[str, ...]
    resources: ResourceRequest
    events: tuple[str, ...]
    emits: tuple[str, ...]
    input_schema: dict[str, Any] | None
    config_schema: dict[str, Any] | None
    min_platform_version: str | None
    max_platform_version: str | None
    description: str
    raw: dict[str, Any]


@functools.cache
def manifest_schema() -> dict[str, Any]:
    with SCHEMA_PATH.open("rb") as handle:
        schema: dict[str, Any] = json.load(handle)
    Draft202012Validator.check_schema(schema)
    return schema


def _is_strict_integer(_checker: Any, instance: Any) -> bool:
    # Draft 2020-12 counts 512.0 as an integer; the sandbox settings want real ints, and bool is not one.
    return isinstance(instance, int) and not isinstance(instance, bool)


_StrictValidator = jsonschema.validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_strict_integer),
)


def validate_manifest(
    manifest: Any,
    *,
    version: str,
    platform_version: str | None,
    known_runtimes: Collection[str] | None,
    resource_limits: Mapping[str, int | float] | None,
    known_capabilities: Collection[str] | None = None,
    known_events: Collection[str] | None = None,
    bundle_files: Collection[str] | None = None,
    plugin_slug: str | None = None,
) -> PluginManifest:
    """Validate ``manifest`` (the parsed manifest.json) and return it typed; raise ManifestInvalid.

    ``version``: the version being created (must equal manifest["version"] exactly, because the version
    string is part of the signed statement). ``plugin_slug``: the plugin the version is uploaded to (must
    equal manifest["name"], so a reviewer reading the manifest sees the plugin it really belongs to).
    ``platform_version``: this platform's SemVer, checked
    against min/max_platform_version (inclusive). ``resource_limits``: maxima for every key of
    RESOURCE_FIELDS. ``bundle_files``: regular files in the bundle; the entrypoint must be one.
    ``None`` skips the corresponding check.
    """
    if resource_limits is not None:
        missing = [key for key in RESOURCE_FIELDS if key not in resource_limits]
        if missing:
            raise ValueError(f"resource_limits lacks {', '.join(missing)}")  # configuration bug
    if platform_version is not None and not semver.Version.is_valid(platform_version):
        raise ValueError(f"platform_version {platform_version!r} is not SemVer")  # configuration bug

    issues = list(_schema_issues(manifest))
    if isinstance(manifest, dict):
        semantic = _semantic_issues(
            manifest,
            version=version,
            platform_version=platform_version,
            known_runtimes=known_runtimes,
            resource_limits=resource_limits,
            known_capabilities=known_capabilities,
            known_events=known_events,
            bundle_files=bundle_files,
            plugin_slug=plugin_slug,
        )
        # A value the schema already refused gets no second, derived complaint (a malformed capability
        # is not also reported as unknown).
        refused = {issue.field for issue in issues}
        issues += [issue for issue in semantic if issue.field not in refused]
    if issues:
        unique = dict.fromkeys(issues)  # line-break checks may repeat a pattern failure
        raise ManifestInvalid(sorted(unique, key=lambda i: (i.field or "", i.code.value, i.message)))
    return _typed(manifest)


# ------------------------------------------------------------------------------------ schema layer


def _schema_issues(manifest: Any) -> Iterable[ManifestIssue]:
    validator = _StrictValidator(manifest_schema())
    for error in validator.iter_errors(manifest):
        yield from _issues_from_error(error)


def _join(path: Iterable[Any]) -> str | None:
    text = ".".join(str(part) for part in path)
    return text or None


def _child(parent: str | None, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _issues_from_error(error: ValidationError) -> Iterable[ManifestIssue]:
    parent = _join(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield ManifestIssue(
                    ManifestErrorCode.REQUIRED, _child(parent, name), "This field is required."
                )
        return
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = error.schema.get("properties", {})
        for name in instance:
            if name not in allowed:
                yield ManifestIssue(
                    ManifestErrorCode.UNKNOWN_FIELD,
                    _child(parent, str(name)),
                    f"Unknown field; allowed here: {', '.join(sorted(allowed))}.",
                )
        return
    yield ManifestIssue(ManifestErrorCode.INVALID, parent, _describe(error))


_PATTERN_HINTS = {
    "name": "must not contain control characters",
    "version": "must be a Semantic Versioning 2.0.0 version such as 1.2.0 or 1.2.0-rc.1",
    "min_platform_version": "must be a Semantic Versioning 2.0.0 version",
    "max_platform_version": "must be a Semantic Versioning 2.0.0 version",
    "runtime": "must look like 'python3.11' (lower-case letters, digits, '.', '+', '-')",
    "entrypoint": "must be a relative POSIX path inside the bundle (no leading '/', no '.' or '..' "
    "segments, letters, digits, '_', '.', '-')",
    "capabilities": "must look like 'scope:action' (lower-case letters only)",
    "events": "must be a platform event such as 'evidence.uploaded' or 'custom.<name>'",
    "emits": "must be a custom event type 'custom.<name>' (lower-case letters, digits, '_')",
}


def _describe(error: ValidationError) -> str:
    value = error.validator_value
    kind = error.validator
    if kind == "type":
        expected = value if isinstance(value, str) else " or ".join(value)
        return f"Must be of type {expected}."
    if kind == "pattern":
        top = str(error.absolute_path[0]) if error.absolute_path else ""
        return f"Invalid value: {_PATTERN_HINTS.get(top, 'does not match ' + str(value))}."
    if kind == "minLength":
        return "Must not be empty." if value == 1 else f"Must be at least {value} characters."
    if kind == "maxLength":
        return f"Must be at most {value} characters."
    if kind == "maxItems":
        return f"Must have at most {value} items."
    if kind == "uniqueItems":
        return "Must not contain duplicates."
    if kind == "exclusiveMinimum":
        return f"Must be greater than {value}."
    return error.message[:300]


# ---------------------------------------------------------------------------------- semantic layer


def _semantic_issues(
    manifest: dict[str, Any],
    *,
    version: str,
    platform_version: str | None,
    known_runtimes: Collection[str] | None,
    resource_limits: Mapping[str, int | float] | None,
    known_capabilities: Collection[str] | None,
    known_events: Collection[str] | None,
    bundle_files: Collection[str] | None,
    plugin_slug: str | None = None,
) -> list[ManifestIssue]:
    issues: list[ManifestIssue] = []
    add = issues.append

    for name in _SINGLE_LINE_FIELDS:
        if isinstance(manifest.get(name), str) and ("\n" in manifest[name] or "\r" in manifest[name]):
            add(ManifestIssue(ManifestErrorCode.INVALID, name, "Must not contain line breaks."))
    for name in _SINGLE_LINE_LISTS:
        for index, item in _strings(manifest.get(name)):
            if "\n" in item or "\r" in item:
                add(
                    ManifestIssue(
                        ManifestErrorCode.INVALID, f"{name}.{index}", "Must not contain line breaks."
                    )
                )

    declared = manifest.get("version")
    if isinstance(declared, str) and declared != version:
        add(
            ManifestIssue(
                ManifestErrorCode.VERSION_MISMATCH,
                "version",
                f"manifest.json declares version {declared!r} but version {version!r} is being created.",
            )
        )

    declared_name = manifest.get("name")
    if plugin_slug is not None and isinstance(declared_name, str) and declared_name != plugin_slug:
        add(
            ManifestIssue(
                ManifestErrorCode.NAME_MISMATCH,
                "name",
                f"manifest.json names the plugin {declared_name!r} but this upload is for {plugin_slug!r}.",
            )
        )

    runtime = manifest.get("runtime")
    if known_runtimes is not None and isinstance(runtime, str) and runtime not in known_runtimes:
        add(
            ManifestIssue(
                ManifestErrorCode.UNKNOWN_RUNTIME,
                "runtime",
                f"Unknown runtime {runtime!r}; available: {', '.join(sorted(known_runtimes)) or 'none'}.",
            )
        )

    if known_capabilities is not None:
        for index, capability in _strings(manifest.get("capabilities")):
            if capability not in known_capabilities:
                add(
                    ManifestIssue(
                        ManifestErrorCode.UNKNOWN_CAPABILITY,
                        f"capabilities.{index}",
                        f"Unknown capability {capability!r}.",
                    )
                )

    if known_events is not None:
        for index, event in _strings(manifest.get("events")):
            if not event.startswith(CUSTOM_EVENT_PREFIX) and event not in known_events:
                add(
                    ManifestIssue(
                        ManifestErrorCode.UNKNOWN_EVENT, f"events.{index}", f"Unknown event {event!r}."
                    )
                )

    resources = manifest.get("resources")
    if resource_limits is not None and isinstance(resources, dict):
        for key in RESOURCE_FIELDS:
            amount = resources.get(key)
            if _is_number(amount) and amount > resource_limits[key]:
                add(
                    ManifestIssue(
                        ManifestErrorCode.RESOURCE_LIMIT_EXCEEDED,
                        f"resources.{key}",
                        f"{amount} exceeds the platform maximum of {resource_limits[key]}.",
                    )
                )

    for key in ("input_schema", "config_schema"):
        if isinstance(manifest.get(key), dict):
            issues.extend(_embedded_schema_issues(key, manifest[key]))

    issues.extend(_platform_issues(manifest, platform_version))

    entrypoint = manifest.get("entrypoint")
    if bundle_files is not None and isinstance(entrypoint, str) and entrypoint not in bundle_files:
        add(
            ManifestIssue(
                ManifestErrorCode.ENTRYPOINT_MISSING,
                "entrypoint",
                f"{entrypoint!r} is not a regular file in the bundle.",
            )
        )
    lock_file = lock_file_of(manifest)
    if bundle_files is not None and lock_file is not None and lock_file not in bundle_files:
        add(
            ManifestIssue(
                ManifestErrorCode.LOCK_FILE_MISSING,
                "dependencies.lock_file",
                f"{lock_file!r} is not a regular file in the bundle.",
            )
        )
    return issues


def lock_file_of(manifest: dict[str, Any]) -> str | None:
    """The bundle path of the manifest's dependency lock file, if it declares one."""
    dependencies = manifest.get("dependencies")
    lock_file = dependencies.get("lock_file") if isinstance(dependencies, dict) else None
    return lock_file if isinstance(lock_file, str) else None


def _embedded_schema_issues(key: str, schema: dict[str, Any]) -> list[ManifestIssue]:
    declared = schema.get("$schema", DRAFT_2020_12)
    if declared not in (DRAFT_2020_12, DRAFT_2020_12 + "#"):
        # One dialect only: validating run inputs with a dialect chosen by the plugin adds surface.
        return [
            ManifestIssue(
                ManifestErrorCode.INVALID_SCHEMA,
                f"{key}.$schema",
                f"Only JSON Schema draft 2020-12 ({DRAFT_2020_12}) is supported.",
            )
        ]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        inner = _join(exc.absolute_path)
        return [
            ManifestIssue(
                ManifestErrorCode.INVALID_SCHEMA,
                _child(key, inner) if inner else key,
                f"Not a valid JSON Schema: {exc.message[:300]}",
            )
        ]
    return []


def _platform_issues(manifest: dict[str, Any], platform_version: str | None) -> list[ManifestIssue]:
    bounds: dict[str, semver.Version] = {}
    for key in ("min_platform_version", "max_platform_version"):
        value = manifest.get(key)
        if isinstance(value, str) and value.isascii() and semver.Version.is_valid(value):
            bounds[key] = semver.Version.parse(value)
    low, high = bounds.get("min_platform_version"), bounds.get("max_platform_version")
    if low is not None and high is not None and low > high:
        return [
            ManifestIssue(
                ManifestErrorCode.INVALID,
                "max_platform_version",
                f"max_platform_version {high} is lower than min_platform_version {low}.",
            )
        ]
    if platform_version is None:
        return []
    platform = semver.Version.parse(platform_version)
    issues = []
    if low is not None and platform < low:
        issues.append(
            ManifestIssue(
                ManifestErrorCode.PLATFORM_INCOMPATIBLE,
                "min_platform_version",
                f"The plugin requires platform >= {low}; this platform is {platform}.",
            )
        )
    if high is not None and platform > high:
        issues.append(
            ManifestIssue(
                ManifestErrorCode.PLATFORM_INCOMPATIBLE,
                "max_platform_version",
                f"The plugin supports platform <= {high}; this platform is {platform}.",
            )
        )
    return issues


def _strings(value: Any) -> Iterable[tuple[int, str]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield index, item


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _typed(manifest: dict[str, Any]) -> PluginManifest:
    resources = manifest["resources"]
    return PluginManifest(
        name=manifest["name"],
        version=manifest["version"],
        runtime=manifest["runtime"],
        entrypoint=manifest["entrypoint"],
        capabilities=tuple(manifest["capabilities"]),
        resources=ResourceRequest(
            memory_mb=resources["memory_mb"],
            cpus=float(resources["cpus"]),
            timeout_seconds=resources["timeout_seconds"],
            pids=resources["pids"],
        ),
        events=tuple(manifest.get("events", ())),
        emits=tuple(manifest.get("emits", ())),
        input_schema=manifest.get("input_schema"),
        config_schema=manifest.get("config_schema"),
        min_platform_version=manifest.get("min_platform_version"),
        max_platform_version=manifest.get("max_platform_version"),
        description=manifest.get("description", ""),
        raw=manifest,
    )
