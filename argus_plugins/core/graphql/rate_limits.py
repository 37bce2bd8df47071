"""Per-caller request rate limits for the GraphQL endpoint (django-ratelimit on Django's Redis cache).

A caller is its API token, its session user, or (anonymous) its IP address. Each limit is a list of
django-ratelimit rates ("20/s", "600/m"…) that all apply, so a short window stops bursts and a long one
bounds the sustained rate. Mutations have their own budget counted per mutation field, so that aliasing
``createApiToken`` a hundred times in one document costs as much as a hundred requests (the per-document
mutation cap refuses such a document anyway).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError

from ..request_auth import token_id
from ..request_context import client_address

logger = logging.getLogger("argus_plugins.graphql")

REQUESTS_GROUP = "graphql.requests"
MUTATIONS_GROUP = "graphql.mutations"


@dataclass(frozen=True)
class RateLimited(Exception):
    """The caller spent its budget; ``retry_after`` is in whole seconds."""

    retry_after: int

    @property
    def message(self) -> str:
        return f"Too many requests: retry in {self.retry_after} s."


def caller_key(request: HttpRequest) -> str:
    token = token_id(request)
    if token is not None:
        return f"token:{token}"
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    return f"ip:{client_address(request) or 'unknown'}"


def _rates_for_requests(request: HttpRequest) -> Sequence[str]:
    if token_id(request) is not None or request.user.is_authenticated:
        return settings.GRAPHQL_RATE_LIMIT_AUTHENTICATED
    return settings.GRAPHQL_RATE_LIMIT_ANONYMOUS


def _spend(request: HttpRequest, group: str, rates: Sequence[str], amount: int) -> None:
    key = caller_key(request)
    waits = []
    for rate in rates:
        usage = None
        try:
            for _ in range(amount):
                usage = get_usage(request, group=group, key=lambda _g, _r: key, rate=rate, increment=True)
        except RedisError as error:
            # Limits protect availability; an unreachable cache must not take the API down with it.
            logger.warning("Rate limit not applied, the cache is unavailable: %s", error)
            return
        if usage is not None and usage["should_limit"]:
            waits.append(max(1, math.ceil(usage["time_left"])))
    if waits:
        raise RateLimited(retry_after=max(waits))


def check_request_rate(request: HttpRequest) -> None:
    """Count one request against the caller's budget; raises ``RateLimited`` when it is spent."""
    _spend(request, REQUESTS_GROUP, _rates_for_requests(request), 1)


def check_mutation_rate(request: HttpRequest, mutations: int) -> None:
    """Count each mutation field of the document against the caller's mutation budget."""
    if mutations:
        _spend(request, MUTATIONS_GROUP, settings.GRAPHQL_RATE_LIMIT_MUTATIONS, mutations)
