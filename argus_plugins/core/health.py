"""Reachability of the platform's dependencies, for ``/healthz`` and operators."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import docker
import redis
from django.conf import settings
from django.db import connection

from .fips import posture
from .objects import probe_store


def _timed(check: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        details = check() or {}
        result: dict[str, Any] = {"ok": True, **details}
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable", reported not raised
        result = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _redis() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _docker() -> dict[str, Any]:
    client = docker.DockerClient(base_url=settings.DOCKER_BASE_URL, timeout=3)
    try:
        return {"server_version": client.version().get("Version")}
    finally:
        client.close()


def health_report() -> dict[str, Any]:
    checks = {
        "database": _timed(_database),
        "redis": _timed(_redis),
        "docker": _timed(_docker),
        "storage": _timed(probe_store),
    }

    return {
        "ok": all(check["ok"] for check in checks.values()),
        "version": settings.PLATFORM_VERSION,
        "checks": checks,
        "crypto": posture(),
    }
