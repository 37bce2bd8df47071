"""Small input-cleaning helpers shared by services: they raise DomainError with the field's name."""

from __future__ import annotations

import enum
import uuid
from typing import Any

from jsonschema import Draft202012Validator

from .errors import CommonErrorCode, DomainError, DomainErrors


def clean_text(value: Any, *, field: str, max_length: int, required: bool = True, strip: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError(CommonErrorCode.INVALID, "Must be a string.", field)
    if strip:
        value = value.strip()
    if required and not value:
        raise DomainError(CommonErrorCode.REQUIRED, "This field is required.", field)
    if len(value) > max_length:
        raise DomainError(CommonErrorCode.TOO_LONG, f"At most {max_length} characters.", field)
    if "\x00" in value:
        raise DomainError(CommonErrorCode.INVALID, "Must not contain NUL characters.", field)
    return value


def parse_uuid(value: Any, *, field: str = "id") -> uuid.UUID:
    """Parse an id; a malformed one is a typed INVALID error, never a 500."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise DomainError(CommonErrorCode.INVALID, "Not a valid id (UUID expected).", field) from None


def validate_json_schema(value: Any, schema: dict[str, Any] | None, *, code: enum.Enum, field: str) -> None:
    """Check ``value`` against a (plugin-supplied) JSON Schema; report every violation at its path.

    The validator never resolves remote ``$ref``s: plugin schemas cannot make the platform fetch URLs.
    """
    if not schema:
        return
    # Paths mix keys and indexes: sort them as text so comparing them can never fail.
    errors = sorted(
        Draft202012Validator(schema).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path]
    )
    if errors:
        raise DomainErrors(
            DomainError(
                code, error.message[:300], field + "".join(f".{part}" for part in error.absolute_path)
            )
            for error in errors[:20]
        )
