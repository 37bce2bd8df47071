"""Relay connections with a total count and a hard page-size cap (``first`` at most 100)."""

from __future__ import annotations

from typing import Any

import graphene
from django.conf import settings
from django.db.models import QuerySet
from graphql_relay import cursor_to_offset, offset_to_cursor

from ..errors import CommonErrorCode, DomainError

MAX_CURSOR_OFFSET = 2**53  # far beyond any real list; well inside a 64-bit SQL OFFSET


class CountableConnection(graphene.relay.Connection):
    class Meta:
        abstract = True

    total_count = graphene.Int(required=True, description="Number of items matching the filters.")


def connection_args(**filters: Any) -> dict[str, Any]:
    """The arguments of a list field: ``first``/``after`` plus the field's own filters."""
    return {
        "first": graphene.Int(description=f"Page size, at most {settings.GRAPHQL_MAX_PAGE_SIZE}."),
        "after": graphene.String(description="Cursor of the last item of the previous page."),
        **filters,
    }


def check_page_size(first: int | None) -> int:
    maximum = settings.GRAPHQL_MAX_PAGE_SIZE
    if first is None:
        return settings.GRAPHQL_DEFAULT_PAGE_SIZE
    if first < 0 or first > maximum:
        raise DomainError(
            CommonErrorCode.LIMIT_EXCEEDED, f"'first' must be between 0 and {maximum}.", "first"
        )
    return first


def resolve_connection(
    connection_type: type[CountableConnection],
    queryset: QuerySet,
    *,
    first: int | None = None,
    after: str | None = None,
) -> CountableConnection:
    """Slice an ordered queryset into a page: one COUNT and one SELECT, whatever the page size."""
    page_size = check_page_size(first)
    offset = 0
    if after:
        position = cursor_to_offset(after)
        # A forged cursor may carry any integer; one past what a database offset holds is refused here.
        if position is None or not 0 <= position < MAX_CURSOR_OFFSET:
            raise DomainError(CommonErrorCode.INVALID, "Invalid cursor.", "after")
        offset = position + 1
    total = queryset.count()
    items = list(queryset[offset : offset + page_size]) if page_size else []
    edges = [
        connection_type.Edge(node=node, cursor=offset_to_cursor(offset + index))
        for index, node in enumerate(items)
    ]
    page_info = graphene.relay.PageInfo(
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
        has_previous_page=offset > 0,
        has_next_page=offset + len(items) < total,
    )
    return connection_type(edges=edges, page_info=page_info, total_count=total)
