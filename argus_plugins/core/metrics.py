"""The Prometheus endpoint ``/metrics``: every platform process's metrics, added up, behind a bearer token.

Each process (gunicorn workers, Celery worker processes, beat) writes its counters and histograms to files
in ``ARGUS_METRICS_DIR`` (prometheus-client's multiprocess mode, enabled by the settings), so one scrape of
the web tier sees the work of all of them, including runs the workers finished. Gauges that describe the
platform's state rather than one process's work (queue depth per tenant, ...) are computed from the database
at scrape time by the collectors listed in ``ARGUS_METRICS_COLLECTORS`` (dotted paths; each app registers its
own, so this module imports no app above core).

The endpoint answers 404 until ``ARGUS_METRICS_TOKEN`` is set, and 401 without ``Authorization: Bearer <it>``.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def quietly(record: Callable[P, None]) -> Callable[P, None]:
    """For the apps' recording hooks: a metric that cannot be written (say, the metrics directory's disk is
    full) is logged, and never fails the run, ledger append or delivery it describes."""

    @functools.wraps(record)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception:
            logger.exception("Recording metrics (%s) failed", record.__qualname__)

    return wrapper


def timed(histogram: Histogram) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function to observe its duration in ``histogram`` (quietly: see ``quietly``)."""

    @quietly
    def observe(seconds: float) -> None:
        histogram.observe(seconds)

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                observe(time.perf_counter() - started)

        return wrapper

    return decorate


@cache
def _scrape_time_collectors(paths: tuple[str, ...]) -> tuple[Collector, ...]:
    return tuple(import_string(path)() for path in paths)


class PlatformProcessesCollector(MultiProcessCollector):
    """prometheus-client's multiprocess collector over a directory and its subdirectories (a service each)."""

    def collect(self) -> Iterable[Metric]:
        root = Path(self._path)
        files = sorted(str(path) for path in (*root.glob("*.db"), *root.glob("*/*.db")))
        return self.merge(files, accumulate=True)


def registry() -> CollectorRegistry:
    """A registry of every process's metrics plus the scrape-time collectors, built for one scrape."""
    scrape = CollectorRegistry()
    PlatformProcessesCollector(scrape, path=str(settings.ARGUS_METRICS_DIR))
    for collector in _scrape_time_collectors(tuple(settings.ARGUS_METRICS_COLLECTORS)):
        scrape.register(collector)
    return scrape


def _authorized(request: HttpRequest, token: str) -> bool:
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.ARGUS_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are disabled (ARGUS_METRICS_TOKEN is not set).")
    if not _authorized(request, token):
        response = HttpResponse("A valid metrics token is required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
