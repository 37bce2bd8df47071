"""Per-caller request rate limits for the GraphQL endpoint: fixed windows counted in Redis.

A caller is its API token, its session user, or (anonymous) its IP address. Each limit is a list of rates
("20/s", "600/m", "50/5m"…) that all apply, so a short window stops bursts and a long one bounds the
sustained rate. Mutations have their own budget counted per mutation field, so that aliasing
``createApiToken`` a hundred times in one document costs as much as a hundred requests (the per-document
mutation cap refuses such a document anyway).

Every window of one check is counted in ONE round trip to Redis (a pipeline of ``SET key 0 EX … NX`` and
``INCRBY key n`` per window). django-ratelimit, used before, counts a window with an add, an exists and an
incr through Django's cache: a mutation request (two request windows, two mutation windows) waited for
twelve round trips before it ran, about 2 ms of its time (README, "API"). The windows are those
django-ratelimit keeps: fixed, each caller's shifted by a hash of its key so that callers' windows do not
all end together. The counters live in the ``ratelimit`` cache's Redis (its LOCATION and KEY_PREFIX).
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from redis.exceptions import RedisError

from ..redis_clients import process_client
from ..request_auth import token_id
from ..request_context import client_address

logger = logging.getLogger("argus_plugins.graphql")

REQUESTS_GROUP = "graphql.requests"
MUTATIONS_GROUP = "graphql.mutations"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
#: A counter outlives its window by this much (a request at the window's last instant still finds it).
_EXPIRY_MARGIN_SECONDS = 1


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


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """``"600/m"`` → (600, 60); ``"50/5m"`` → (50, 300): how many in how many seconds."""
    match = _RATE.match(rate)
    if match is None or match[2] == "0":
        raise ImproperlyConfigured(f"Not a rate limit: {rate!r} (e.g. '20/s', '600/m', '50/5m')")
    return int(match[1]), int(match[2] or 1) * _PERIODS[match[3]]


def window_end(caller: str, period: int, now: float) -> int:
    """The end (epoch seconds) of the caller's current window of ``period`` seconds."""
    offset = zlib.crc32(caller.encode()) % period
    seconds = int(now)
    return seconds - (seconds - offset) % period + period


def _spend(request: HttpRequest, group: str, rates: Sequence[str], amount: int) -> None:
    if not settings.RATELIMIT_ENABLE or not rates:
        return
    caller = caller_key(request)
    cache = caches[settings.RATELIMIT_USE_CACHE]
    now = time.time()
    windows = []
    for rate in rates:
        limit, period = parse_rate(rate)
        end = window_end(caller, period, now)
        windows.append((cache.make_key(f"rl:{group}:{limit}/{period}s:{caller}:{end}"), limit, period, end))
    counters = process_client(settings.CACHES[settings.RATELIMIT_USE_CACHE]["LOCATION"])
    pipeline = counters.pipeline(transaction=False)
    for key, _, period, _ in windows:
        pipeline.set(key, 0, ex=period + _EXPIRY_MARGIN_SECONDS, nx=True)
        pipeline.incrby(key, amount)
    try:
        replies = pipeline.execute()
    except RedisError as error:
        # Limits protect availability; an unreachable cache must not take the API down with it.
        logger.warning("Rate limit not applied, the cache is unavailable: %s", error)
        return
    counts = replies[1::2]
    waits = [
        max(1, math.ceil(end - now))
        for (_, limit, _, end), count in zip(windows, counts, strict=True)
        if count > limit
    ]
    if waits:
        raise RateLimited(retry_after=max(waits))


def check_request_rate(request: HttpRequest) -> None:
    """Count one request against the caller's budget; raises ``RateLimited`` when it is spent."""
    _spend(request, REQUESTS_GROUP, _rates_for_requests(request), 1)


def check_mutation_rate(request: HttpRequest, mutations: int) -> None:
    """Count each mutation field of the document against the caller's mutation budget."""
    if mutations:
        _spend(request, MUTATIONS_GROUP, settings.GRAPHQL_RATE_LIMIT_MUTATIONS, mutations)
