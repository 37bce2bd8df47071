"""Argument cleaning in one place, for every query and mutation: text the database and RFC 8785 accept,
datetimes the database can store.

A GraphQL ``String`` may carry a lone surrogate (``"\\ud800"``, valid JSON escape, not valid UTF-8) or a
NUL, which PostgreSQL and canonical JSON refuse; a ``DateTime`` such as ``9999-12-31T23:59:59-14:00`` is a
valid ISO 8601 value whose UTC form overflows ``datetime``. Instead of every service guarding against
them (and a missed one answering ``INTERNAL_ERROR``), this graphene middleware checks the arguments of
every field before its resolver runs, JSON arguments included (their strings are hashed as RFC 8785).
A failure is a typed ``INVALID`` error naming the argument (camelCase, dotted into input objects and JSON,
e.g. ``input.targets.0``): in the payload's ``errors`` for a mutation, as a GraphQL error for a query.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from graphql import (
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLResolveInfo,
    get_nullable_type,
    is_input_object_type,
    is_list_type,
)

from ..errors import CommonErrorCode, DomainError
from .mutations import BaseMutation


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "Must not contain NUL characters."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must not contain lone surrogates (not valid Unicode text)."
    return None


def _datetime_problem(value: datetime.datetime) -> str | None:
    if value.tzinfo is None:
        return None
    try:
        value.astimezone(datetime.UTC)
    except OverflowError:
        return "Outside the representable date range."
    return None


def _untyped_problems(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Problems in a JSON-like value (JSONString arguments, or a scalar): keys and strings alike."""
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            yield path, problem
    elif isinstance(value, datetime.datetime):
        problem = _datetime_problem(value)
        if problem:
            yield path, problem
    elif isinstance(value, dict):
        for key, item in value.items():
            key_problem = _text_problem(key) if isinstance(key, str) else None
            if key_problem:
                yield path, key_problem
            yield from _untyped_problems(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _untyped_problems(item, f"{path}.{index}")


def _problems(value: Any, graphql_type: GraphQLInputType, path: str) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    graphql_type = get_nullable_type(graphql_type)  # type: ignore[assignment]
    if is_list_type(graphql_type) and isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _problems(item, graphql_type.of_type, f"{path}.{index}")  # type: ignore[union-attr]
    elif is_input_object_type(graphql_type) and isinstance(value, dict):
        input_type: GraphQLInputObjectType = graphql_type  # type: ignore[assignment]
        for name, input_field in input_type.fields.items():
            key = input_field.out_name or name
            if key in value:
                yield from _problems(value[key], input_field.type, f"{path}.{name}")
    else:
        yield from _untyped_problems(value, path)


def argument_problems(info: GraphQLResolveInfo, arguments: dict[str, Any]) -> list[DomainError]:
    definition = info.parent_type.fields.get(info.field_name)
    if definition is None:  # __type(name:) and other introspection fields: nothing is stored
        return []
    errors = []
    for name, argument in definition.args.items():
        key = argument.out_name or name
        if key in arguments:
            errors.extend(
                DomainError(CommonErrorCode.INVALID, message, field)
                for field, message in _problems(arguments[key], argument.type, name)
            )
    return errors


class InputCleaningMiddleware:
    """graphene middleware: refuses unstorable text and datetimes before any resolver sees them."""

    def resolve(self, next_: Any, root: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        if not arguments:
            return next_(root, info)
        errors = argument_problems(info, arguments)
        if not errors:
            return next_(root, info, **arguments)
        payload = getattr(info.return_type, "graphene_type", None)
        if isinstance(payload, type) and issubclass(payload, BaseMutation):
            user = info.context.user
            if payload.requires_authentication and not user.is_authenticated:
                return next_(root, info, **arguments)  # the mutation answers UNAUTHENTICATED first
            return payload._failure(info, errors)
        raise errors[0]
