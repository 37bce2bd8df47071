"""Install tracking and usage analytics, aggregated by the database.

Sources: ``installations.InstallationEvent`` (INSTALLED / UNINSTALLED rows) and ``execution.Execution``
(status, ``duration_ms``, ``queued_at``). A range is whole UTC days, ``from`` to ``to`` inclusive; an
execution counts on the day it was queued, an install on the day of its event.

Figures: installs, uninstalls, active installations at the end of the range, executions per status,
success rate (SUCCEEDED / executions in a terminal status; null when none finished) and the 50th and 95th
percentiles of ``duration_ms`` over the executions that have one (continuous percentiles, linear
interpolation, as PostgreSQL's ``percentile_cont``; on SQLite the same figure is computed with window
functions), for the whole range, per day and per version.

PRIVACY (publishers). A publisher sees only aggregate figures of its own plugins, never a tenant's id or
name. Each figure group of a bucket (a day, a version, or the whole range) is checked separately: its
execution figures are shown only when the executions they count come from at least
``ARGUS_MARKETPLACE_MIN_TENANTS_PER_BUCKET`` (3) distinct tenants, its install figures only when its
install/uninstall events come from at least that many distinct tenants, and the active-installation count
only when that many distinct tenants have one. Otherwise that group is returned with ``suppressed: true``
and every figure null (the bucket itself is still listed, so "there was some activity" is visible, but not
how much). Staff see everything unsuppressed; tenants see their own usage unsuppressed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Value
from django.db.models.functions import TruncDate

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.tenancy.models import Role, User
from argus_plugins.tenancy.permissions import require_authenticated, require_tenant_role
from execution.models import TERMINAL_STATUSES, Execution, ExecutionStatus
from installations.models import Installation, InstallationEvent, InstallationEventKind
from registry.models import Plugin, PluginVersion, PublisherMembership

from .error_codes import MarketplaceErrorCode
from .listings import get_listing
from .models import Listing

MAX_RANGE_DAYS = 366
PERCENTILES = (0.5, 0.95)
STATUSES = tuple(ExecutionStatus.values)


def min_tenants_per_bucket() -> int:
    return getattr(settings, "ARGUS_MARKETPLACE_MIN_TENANTS_PER_BUCKET", 3)


# --------------------------------------------------------------------------------------------- shapes


@dataclass
class ExecutionFigures:
    suppressed: bool = False
    total: int | None = 0
    by_status: dict[str, int] | None = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    success_rate: float | None = None
    p50_duration_ms: float | None = None
    p95_duration_ms: float | None = None


@dataclass
class InstallFigures:
    suppressed: bool = False
    installs: int | None = 0
    uninstalls: int | None = 0


@dataclass
class Bucket:
    day: dt.date | None = None
    version_id: uuid.UUID | None = None
    version: str | None = None
    plugin_id: uuid.UUID | None = None
    plugin_slug: str | None = None
    installs: InstallFigures = field(default_factory=InstallFigures)
    executions: ExecutionFigures = field(default_factory=ExecutionFigures)


@dataclass
class Analytics:
    start: dt.date
    end: dt.date
    suppression: bool
    min_tenants: int
    active_installs: int | None
    active_installs_suppressed: bool
    totals: Bucket
    by_day: list[Bucket]
    by_version: list[Bucket] = field(default_factory=list)
    by_plugin: list[Bucket] = field(default_factory=list)
    listing: Listing | None = None


# ------------------------------------------------------------------------------------------ percentiles


class PercentileCont(Aggregate):
    """PostgreSQL's ordered-set aggregate ``percentile_cont(p) WITHIN GROUP (ORDER BY expr)``."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, percentile: float, expression: Any, **extra: Any) -> None:
        super().__init__(expression, percentile=repr(float(percentile)), **extra)


def _sqlite_percentiles(base: QuerySet, convert: Callable[[Any], Any]) -> dict[Any, tuple[float, ...]]:
    """The same figure as percentile_cont on a database without it: number the rows of each bucket by
    duration with window functions, keep the two rows around position (n - 1)·p and interpolate, all in
    one SQL statement over the ORM's own query."""
    inner_sql, params = base.query.sql_with_params()
    picks, finals = [], []
    for index, p in enumerate(PERCENTILES):
        h = f"((n - 1) * {p!r})"
        lo = f"CAST({h} AS INTEGER)"
        picks.append(f"MAX(CASE WHEN i = {lo} THEN v END) AS lo_{index}")
        picks.append(f"MAX(CASE WHEN i = MIN({lo} + 1, n - 1) THEN v END) AS hi_{index}")
        finals.append(f"lo_{index} + ({h} - {lo}) * (hi_{index} - lo_{index}) AS p_{index}")
    # Only the ORM's own compiled SQL (parameters kept separate) and fixed numbers are interpolated.
    sql = (
        f"WITH base AS ({inner_sql}), "  # noqa: S608
        "ranked AS (SELECT bucket, duration_ms AS v, "
        "ROW_NUMBER() OVER (PARTITION BY bucket ORDER BY duration_ms) - 1 AS i, "
        "COUNT(*) OVER (PARTITION BY bucket) AS n FROM base), "
        f"picked AS (SELECT bucket, n, {', '.join(picks)} FROM ranked GROUP BY bucket, n) "
        f"SELECT bucket, {', '.join(finals)} FROM picked"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {convert(row[0]): tuple(float(v) for v in row[1:]) for row in cursor.fetchall()}


def duration_percentiles(
    executions: QuerySet[Execution], key: Any, convert: Callable[[Any], Any]
) -> dict[Any, tuple[float, ...]]:
    """{bucket key: (p50, p95)} of ``duration_ms`` over ``executions`` grouped by ``key``."""
    timed = executions.filter(duration_ms__isnull=False).order_by().annotate(bucket=key)
    if connection.vendor == "postgresql":
        rows = timed.values("bucket").annotate(
            **{f"p_{i}": PercentileCont(p, "duration_ms") for i, p in enumerate(PERCENTILES)}
        )
        return {row["bucket"]: tuple(row[f"p_{i}"] for i in range(len(PERCENTILES))) for row in rows}
    return _sqlite_percentiles(timed.values("bucket", "duration_ms"), convert)


# ------------------------------------------------------------------------------------------- figures


def _execution_figures(
    executions: QuerySet[Execution], key: Any, convert: Callable[[Any], Any], private: bool
) -> dict[Any, ExecutionFigures]:
    counts = {f"n_{status}": Count("id", filter=Q(status=status)) for status in STATUSES}
    rows = (
        executions.order_by()
        .annotate(bucket=key)
        .values("bucket")
        .annotate(total=Count("id"), tenants=Count("tenant_id", distinct=True), **counts)
    )
    percentiles = duration_percentiles(executions, key, convert)
    figures = {}
    minimum = min_tenants_per_bucket()
    for row in rows:
        bucket = row["bucket"]
        if private and row["tenants"] < minimum:
            figures[bucket] = ExecutionFigures(suppressed=True, total=None, by_status=None)
            continue
        by_status = {status: row[f"n_{status}"] for status in STATUSES}
        finished = sum(by_status[status] for status in TERMINAL_STATUSES)
        p50, p95 = percentiles.get(bucket, (None, None))
        figures[bucket] = ExecutionFigures(
            total=row["total"],
            by_status=by_status,
            success_rate=by_status[ExecutionStatus.SUCCEEDED] / finished if finished else None,
            p50_duration_ms=p50,
            p95_duration_ms=p95,
        )
    return figures


def _install_figures(
    events: QuerySet[InstallationEvent], key: Any, private: bool
) -> dict[Any, InstallFigures]:
    rows = (
        events.order_by()
        .annotate(bucket=key)
        .values("bucket")
        .annotate(
            installs=Count("id", filter=Q(kind=InstallationEventKind.INSTALLED)),
            uninstalls=Count("id", filter=Q(kind=InstallationEventKind.UNINSTALLED)),
            tenants=Count("tenant_id", distinct=True),
        )
    )
    minimum = min_tenants_per_bucket()
    return {
        row["bucket"]: (
            InstallFigures(suppressed=True, installs=None, uninstalls=None)
            if private and row["tenants"] < minimum
            else InstallFigures(installs=row["installs"], uninstalls=row["uninstalls"])
        )
        for row in rows
    }


def _buckets(
    executions: QuerySet[Execution],
    events: QuerySet[InstallationEvent] | None,
    exec_key: Any,
    event_key: Any,
    convert: Callable[[Any], Any],
    private: bool,
) -> dict[Any, Bucket]:
    execution_figures = _execution_figures(executions, exec_key, convert, private)
    install_figures = _install_figures(events, event_key, private) if events is not None else {}
    buckets = {}
    for key in sorted(set(execution_figures) | set(install_figures), key=lambda k: (k is None, str(k))):
        buckets[key] = Bucket(
            installs=install_figures.get(key) or _empty_installs(private),
            executions=execution_figures.get(key) or _empty_executions(private),
        )
    return buckets


def _empty_installs(private: bool) -> InstallFigures:
    # No rows at all: zero distinct tenants, which is below the threshold for a publisher too.
    return InstallFigures(suppressed=True, installs=None, uninstalls=None) if private else InstallFigures()


def _empty_executions(private: bool) -> ExecutionFigures:
    return ExecutionFigures(suppressed=True, total=None, by_status=None) if private else ExecutionFigures()


def _to_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _to_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _clean_range(start: Any, end: Any) -> tuple[dt.datetime, dt.datetime]:
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        raise DomainError(CommonErrorCode.INVALID, "Give 'from' and 'to' as dates (YYYY-MM-DD).", "from")
    if end < start:
        raise DomainError(MarketplaceErrorCode.INVALID_RANGE, "'to' must not be before 'from'.", "to")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise DomainError(CommonErrorCode.LIMIT_EXCEEDED, f"At most {MAX_RANGE_DAYS} days at once.", "to")
    begin = dt.datetime.combine(start, dt.time.min, tzinfo=dt.UTC)
    return begin, dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)


TOTAL = Value(0)
BY_DAY_QUEUED = TruncDate("queued_at", tzinfo=dt.UTC)
BY_DAY_EVENT = TruncDate("at", tzinfo=dt.UTC)


def _single(buckets: dict[Any, Bucket], private: bool) -> Bucket:
    values = list(buckets.values())
    if values:
        return values[0]
    return Bucket(installs=_empty_installs(private), executions=_empty_executions(private))


# ---------------------------------------------------------------------------------------- use cases


def plugin_analytics(plugin: Plugin, start: dt.date, end: dt.date, *, private: bool) -> Analytics:
    """Figures of one plugin over the range; ``private`` applies the publishers' suppression rule."""
    begin, stop = _clean_range(start, end)
    executions = Execution.objects.filter(
        plugin_version__plugin_id=plugin.pk, queued_at__gte=begin, queued_at__lt=stop
    )
    events = InstallationEvent.objects.filter(
        plugin_id=plugin.pk,
        kind__in=(InstallationEventKind.INSTALLED, InstallationEventKind.UNINSTALLED),
        at__gte=begin,
        at__lt=stop,
    )
    same = lambda value: value  # noqa: E731 - the ORM already returns the constant
    totals = _single(_buckets(executions, events, TOTAL, TOTAL, same, private), private)
    by_day = _buckets(executions, events, BY_DAY_QUEUED, BY_DAY_EVENT, _to_date, private)
    by_version = _buckets(executions, events, F("plugin_version_id"), F("version_id"), _to_uuid, private)
    labels = dict(
        PluginVersion.objects.filter(pk__in=[k for k in by_version if k]).values_list("pk", "version")
    )
    active = (
        Installation.objects.filter(plugin_id=plugin.pk, installed_at__lt=stop)
        .filter(Q(uninstalled_at__isnull=True) | Q(uninstalled_at__gte=stop))
        .aggregate(count=Count("id"), tenants=Count("tenant_id", distinct=True))
    )
    hide_active = private and active["tenants"] < min_tenants_per_bucket()
    for day, bucket in by_day.items():
        bucket.day = _to_date(day)
    for version_id, bucket in by_version.items():
        bucket.version_id, bucket.version = version_id, labels.get(version_id)
    return Analytics(
        start=start,
        end=end,
        suppression=private,
        min_tenants=min_tenants_per_bucket(),
        active_installs=None if hide_active else active["count"],
        active_installs_suppressed=hide_active,
        totals=totals,
        by_day=list(by_day.values()),
        by_version=[bucket for key, bucket in by_version.items() if key is not None],
    )


def listing_analytics(*, actor: User, listing_id: Any, start: dt.date, end: dt.date) -> Analytics:
    """The publisher's members (suppressed as documented above) or staff (everything)."""
    require_authenticated(actor)
    listing = get_listing(actor, listing_id, field="listingId")
    staff = bool(actor.is_staff)
    if (
        not staff
        and not PublisherMembership.objects.filter(
            user=actor, publisher_id=listing.plugin.publisher_id
        ).exists()
    ):
        raise DomainError(
            CommonErrorCode.PERMISSION_DENIED,
            "Only the plugin's publisher can see its analytics.",
            "listingId",
        )
    analytics = plugin_analytics(listing.plugin, start, end, private=not staff)
    analytics.listing = listing
    return analytics


def tenant_usage(*, actor: User, tenant_id: Any, start: dt.date, end: dt.date) -> Analytics:
    """A tenant's own executions and installs (any member), per day and per plugin, unsuppressed."""
    membership = require_tenant_role(actor, tenant_id, Role.VIEWER)
    begin, stop = _clean_range(start, end)
    tenant = membership.tenant
    executions = Execution.objects.filter(tenant=tenant, queued_at__gte=begin, queued_at__lt=stop)
    events = InstallationEvent.objects.filter(
        tenant=tenant,
        kind__in=(InstallationEventKind.INSTALLED, InstallationEventKind.UNINSTALLED),
        at__gte=begin,
        at__lt=stop,
    )
    same = lambda value: value  # noqa: E731
    totals = _single(_buckets(executions, events, TOTAL, TOTAL, same, False), False)
    by_day = _buckets(executions, events, BY_DAY_QUEUED, BY_DAY_EVENT, _to_date, False)
    by_plugin = _buckets(executions, events, F("plugin_version__plugin_id"), F("plugin_id"), _to_uuid, False)
    slugs = dict(Plugin.objects.filter(pk__in=[k for k in by_plugin if k]).values_list("pk", "slug"))
    active = (
        Installation.objects.filter(tenant=tenant, installed_at__lt=stop)
        .filter(Q(uninstalled_at__isnull=True) | Q(uninstalled_at__gte=stop))
        .count()
    )
    for day, bucket in by_day.items():
        bucket.day = _to_date(day)
    for plugin_id, bucket in by_plugin.items():
        bucket.plugin_id, bucket.plugin_slug = plugin_id, slugs.get(plugin_id)
    return Analytics(
        start=start,
        end=end,
        suppression=False,
        min_tenants=min_tenants_per_bucket(),
        active_installs=active,
        active_installs_suppressed=False,
        totals=totals,
        by_day=list(by_day.values()),
        by_plugin=[bucket for key, bucket in by_plugin.items() if key is not None],
    )


def overview(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Staff overview (admin): per listed plugin, installs, active installs, executions, success rate and
    duration percentiles over the range, unsuppressed. One grouped query per figure family."""
    begin, stop = _clean_range(start, end)
    executions = Execution.objects.filter(queued_at__gte=begin, queued_at__lt=stop)
    events = InstallationEvent.objects.filter(
        kind__in=(InstallationEventKind.INSTALLED, InstallationEventKind.UNINSTALLED),
        at__gte=begin,
        at__lt=stop,
    )
    by_plugin = _buckets(executions, events, F("plugin_version__plugin_id"), F("plugin_id"), _to_uuid, False)
    active = dict(
        Installation.objects.filter(uninstalled_at__isnull=True)
        .order_by()
        .values("plugin_id")
        .annotate(n=Count("id"))
        .values_list("plugin_id", "n")
    )
    plugins = {
        plugin.pk: plugin
        for plugin in Plugin.objects.filter(
            pk__in=[k for k in set(by_plugin) | set(active) if k]
        ).select_related("listing")
    }
    rows = []
    for plugin_id, plugin in plugins.items():
        bucket = by_plugin.get(plugin_id) or Bucket()
        rows.append({"plugin": plugin, "active_installs": active.get(plugin_id, 0), "bucket": bucket})
    rows.sort(key=lambda row: (-(row["bucket"].executions.total or 0), row["plugin"].slug))
    return rows
