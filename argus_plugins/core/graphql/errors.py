"""The one error shape of every mutation payload: ``errors: [Error!]!`` with ``code``, ``field``,
``message``. ``ErrorCode`` is composed from the error-code enums the apps register (each in its
``AppConfig.ready``), so clients see every code while this bottom layer names no app."""

from __future__ import annotations

import enum
from functools import cache

import graphene

from ..errors import CommonErrorCode, DomainError

_registered: list[type[enum.Enum]] = [CommonErrorCode]


def register_error_codes(*enums: type[enum.Enum]) -> None:
    """Add an app's error codes to ``ErrorCode`` (call from ``AppConfig.ready``, before the schema is built).
    Registering the same enum twice is harmless; a code already in ``ErrorCode`` keeps its first place."""
    if error_code_enum.cache_info().currsize:
        raise RuntimeError("register_error_codes() after the GraphQL schema was built")
    _registered.extend(enum_cls for enum_cls in enums if enum_cls not in _registered)


@cache
def error_code_enum() -> type[graphene.Enum]:
    """``ErrorCode``: every registered code once, in registration order (apps' order in INSTALLED_APPS)."""
    names: list[str] = []
    for enum_cls in _registered:
        names.extend(member.value for member in enum_cls if member.value not in names)
    return graphene.Enum("ErrorCode", [(name, name) for name in names])


class Error(graphene.ObjectType):
    code = graphene.Field(lambda: error_code_enum(), required=True, description="Machine-readable reason.")
    field = graphene.String(description="The input field at fault (camelCase), or null for the whole input.")
    message = graphene.String(required=True, description="Human-readable explanation.")


def error_from_domain(error: DomainError) -> Error:
    return Error(code=error.code.value, field=error.field, message=error.message)
