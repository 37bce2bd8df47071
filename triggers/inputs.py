"""Checking, when a trigger is configured, the run input and evidence it will pass, so mistakes are typed
errors at once rather than refused firings later (``start_execution`` checks both again at every run)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import jsonschema
from django.conf import settings

from argus_plugins.canonical import CanonicalJSONError, canonical_sha256
from argus_plugins.core.errors import CommonErrorCode, DomainError, DomainErrors, not_found
from argus_plugins.core.validation import parse_uuid
from execution.error_codes import ExecutionErrorCode
from execution.models import Evidence
from execution.services import MAX_EVIDENCE_PER_RUN
from installations.authorization import resolve_version
from installations.models import Installation


def clean_static_input(raw: Any, installation: Installation, *, field: str = "input") -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DomainError(ExecutionErrorCode.INPUT_INVALID, "The input must be a JSON object.", field)
    if len(json.dumps(raw)) > settings.ARGUS_MAX_INPUT_BYTES:
        raise DomainError(CommonErrorCode.TOO_LONG, "The input is too large.", field)
    try:
        canonical_sha256(raw)
    except CanonicalJSONError as error:
        raise DomainError(
            ExecutionErrorCode.INPUT_INVALID, f"The input cannot be canonicalised: {error}", field
        ) from None
    version = resolve_version(installation)
    schema = version.manifest.get("input_schema") if version is not None else None
    if schema:
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(raw), key=lambda e: list(e.path))
        if errors:
            raise DomainErrors(
                DomainError(
                    ExecutionErrorCode.INPUT_INVALID,
                    error.message[:300],
                    field + "".join(f".{part}" for part in error.absolute_path),
                )
                for error in errors[:20]
            )
    return raw


def clean_evidence_ids(tenant_id: Any, ids: Iterable[Any] | None, *, field: str = "evidenceIds") -> list[str]:
    values = list(ids or [])
    if len(values) > MAX_EVIDENCE_PER_RUN:
        raise DomainError(
            CommonErrorCode.LIMIT_EXCEEDED, f"At most {MAX_EVIDENCE_PER_RUN} evidence items.", field
        )
    uuids = list(dict.fromkeys(parse_uuid(value, field=field) for value in values))
    found = set(Evidence.objects.filter(tenant_id=tenant_id, pk__in=uuids).values_list("pk", flat=True))
    if len(found) != len(uuids):
        raise not_found("Evidence", field)  # another tenant's evidence is indistinguishable
    return [str(value) for value in uuids]
