"""Domain errors: how services report an expected failure (bad input, permission, conflict...).

Services raise ``DomainError`` (one problem) or ``DomainErrors`` (several, e.g. every invalid field of an
input). Mutations turn them into the payload's ``errors`` list; query resolvers let them surface as typed
GraphQL errors. Domain code never imports the GraphQL layer.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class CommonErrorCode(enum.StrEnum):
    """Codes shared by every app. App-specific codes live in ``<app>/error_codes.py``."""

    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    CONFLICT = "CONFLICT"
    DUPLICATE = "DUPLICATE"
    INVALID_STATE = "INVALID_STATE"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    FEATURE_DISABLED = "FEATURE_DISABLED"
    RATE_LIMITED = "RATE_LIMITED"
    #: The object store (ARGUS_STORAGE_URL) could not be reached: the platform's fault, try again later.
    STORAGE_UNAVAILABLE = "STORAGE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class DomainError(Exception):
    """One expected failure, with a machine-readable code and the input field it concerns (or None)."""

    def __init__(self, code: enum.Enum, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code.value}, {self.message!r}, field={self.field!r})"


class DomainErrors(Exception):
    """Several expected failures reported together."""

    def __init__(self, errors: Iterable[DomainError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(error.message for error in self.errors))


def not_found(what: str, field: str | None = "id") -> DomainError:
    # Missing and foreign objects answer the same way so ids of other tenants cannot be probed.
    return DomainError(CommonErrorCode.NOT_FOUND, f"{what} not found.", field)
