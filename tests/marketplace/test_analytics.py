"""Usage analytics: every figure equals a plain count over the rows; publishers never learn who did what."""

import datetime as dt
import json
import random
from collections import defaultdict

import pytest

from execution.models import TERMINAL_STATUSES, Execution, ExecutionStatus
from installations.models import InstallationEvent, InstallationEventKind
from marketplace import analytics
from registry import services as registry_services

from .conftest import install_directly, make_execution, make_tenant

DAY1 = dt.date(2026, 5, 1)
DAYS = [DAY1 + dt.timedelta(days=i) for i in range(4)]
START, END = DAYS[0], DAYS[2]  # the 4th day is outside the range
STATUSES = [
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.SUCCEEDED,
    ExecutionStatus.FAILED,
    ExecutionStatus.TIMED_OUT,
    ExecutionStatus.REJECTED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.QUEUED,
]


def _at(day, hour=10, minute=0):
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def percentile(values, p):
    ordered = sorted(values)
    h = (len(ordered) - 1) * p
    lo = int(h)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (h - lo) * (ordered[hi] - ordered[lo])


@pytest.fixture
def dataset(world, market):
    """Five tenants on two versions over four days; day 3 and version 1.1.0 involve only two tenants."""
    rng = random.Random(20260501)
    v2 = market.kit.publish(market.plugin, "1.1.0", reviewer=world.staff)
    tenants = [make_tenant(f"Tenant {name}") for name in ("North", "South", "East", "West", "Centre")]
    installations = [
        install_directly(tenant, market.plugin, admin, at=_at(DAYS[i % 2], 8))
        for i, (tenant, admin) in enumerate(tenants)
    ]
    plan = [  # (tenant indexes, day index, version)
        ((0, 1, 2, 3, 4), 0, market.version),
        ((0, 1, 2), 1, market.version),
        ((0, 1), 1, v2),
        ((3, 4), 2, market.version),
        ((0, 1, 2, 3), 3, market.version),  # outside the range
    ]
    for indexes, day, version in plan:
        for index in indexes:
            for _ in range(rng.randint(2, 6)):
                status = rng.choice(STATUSES)
                duration = None if status == ExecutionStatus.QUEUED else rng.randint(10, 5000)
                make_execution(
                    installations[index],
                    version,
                    status,
                    duration_ms=duration,
                    queued_at=_at(DAYS[day], rng.randint(0, 23), rng.randint(0, 59)),
                )
    # Tenant West uninstalls on day 3 (a bucket of one tenant's event).
    west_tenant, west_admin = tenants[3]
    installations[3].uninstalled_at = _at(DAYS[2], 12)
    installations[3].save(update_fields=["uninstalled_at"])
    InstallationEvent.objects.create(
        installation=installations[3],
        tenant=west_tenant,
        plugin=market.plugin,
        kind=InstallationEventKind.UNINSTALLED,
        actor=west_admin,
        at=_at(DAYS[2], 12),
    )
    # Noise: another plugin's executions, which must never be counted.
    other = registry_services.create_plugin(
        actor=market.kit.owner, publisher_id=market.kit.publisher.pk, slug="other", name="Other"
    )
    other_version = market.kit.publish(other, "1.0.0", reviewer=world.staff)
    other_install = install_directly(tenants[0][0], other, tenants[0][1], at=_at(DAYS[0], 8))
    make_execution(other_install, other_version, ExecutionStatus.SUCCEEDED, queued_at=_at(DAYS[0]))
    return {"tenants": tenants, "v2": v2}


def _expected(rows):
    by_status = {status: 0 for status in ExecutionStatus.values}
    for row in rows:
        by_status[row.status] += 1
    finished = sum(by_status[s] for s in TERMINAL_STATUSES)
    durations = [row.duration_ms for row in rows if row.duration_ms is not None]
    return {
        "total": len(rows),
        "by_status": by_status,
        "success_rate": by_status["SUCCEEDED"] / finished if finished else None,
        "p50": percentile(durations, 0.5) if durations else None,
        "p95": percentile(durations, 0.95) if durations else None,
        "tenants": len({row.tenant_id for row in rows}),
    }


def _check(figures, expected):
    assert figures.total == expected["total"]
    assert figures.by_status == expected["by_status"]
    assert figures.success_rate == pytest.approx(expected["success_rate"])
    assert figures.p50_duration_ms == pytest.approx(expected["p50"])
    assert figures.p95_duration_ms == pytest.approx(expected["p95"])


def test_every_figure_equals_a_plain_count_over_the_rows(world, market, dataset):
    report = analytics.plugin_analytics(market.plugin, START, END, private=False)
    begin = _at(START, 0)
    stop = _at(END + dt.timedelta(days=1), 0)
    rows = list(
        Execution.objects.filter(
            plugin_version__plugin=market.plugin, queued_at__gte=begin, queued_at__lt=stop
        )
    )
    assert rows and len(rows) < Execution.objects.count()
    _check(report.totals.executions, _expected(rows))

    per_day, per_version = defaultdict(list), defaultdict(list)
    for row in rows:
        per_day[row.queued_at.date()].append(row)
        per_version[row.plugin_version_id].append(row)
    assert [bucket.day for bucket in report.by_day] == sorted(per_day)
    for bucket in report.by_day:
        _check(bucket.executions, _expected(per_day[bucket.day]))
    assert {bucket.version_id for bucket in report.by_version} == set(per_version)
    for bucket in report.by_version:
        _check(bucket.executions, _expected(per_version[bucket.version_id]))
        assert bucket.version in ("1.0.0", "1.1.0")

    events = InstallationEvent.objects.filter(plugin=market.plugin, at__gte=begin, at__lt=stop)
    installs = [e for e in events if e.kind == "INSTALLED"]
    uninstalls = [e for e in events if e.kind == "UNINSTALLED"]
    assert (report.totals.installs.installs, report.totals.installs.uninstalls) == (
        len(installs),
        len(uninstalls),
    )
    for bucket in report.by_day:
        assert bucket.installs.installs == sum(1 for e in installs if e.at.date() == bucket.day)
        assert bucket.installs.uninstalls == sum(1 for e in uninstalls if e.at.date() == bucket.day)
    assert report.active_installs == 4  # five installed, West uninstalled before the range ended


def test_publishers_get_suppressed_small_buckets(world, market, dataset):
    report = analytics.plugin_analytics(market.plugin, START, END, private=True)
    staff = analytics.plugin_analytics(market.plugin, START, END, private=False)
    days = {bucket.day: bucket for bucket in report.by_day}
    # Day 1: five tenants ran it; day 2: three; day 3: only two (North and South).
    assert not days[DAYS[0]].executions.suppressed and not days[DAYS[1]].executions.suppressed
    third = days[DAYS[2]].executions
    assert (
        third.suppressed and third.total is None and third.by_status is None and third.p50_duration_ms is None
    )
    # Day 3's install events come from one tenant (West's uninstall): suppressed; day 1 had three installs.
    assert days[DAYS[2]].installs.suppressed and days[DAYS[2]].installs.uninstalls is None
    assert days[DAYS[0]].installs == analytics.InstallFigures(installs=3, uninstalls=0)
    assert days[DAYS[1]].installs.suppressed  # two tenants installed on day 2
    versions = {bucket.version: bucket for bucket in report.by_version}
    assert versions["1.1.0"].executions.suppressed and not versions["1.0.0"].executions.suppressed
    # What is shown is exactly the staff figure.
    staff_days = {bucket.day: bucket for bucket in staff.by_day}
    assert days[DAYS[0]].executions == staff_days[DAYS[0]].executions
    assert report.totals.executions == staff.totals.executions


LISTING_ANALYTICS = """
query($id: ID!, $from: Date!, $to: Date!) {
  listingAnalytics(listingId: $id, from: $from, to: $to) {
    listingId from to suppression minTenantsPerBucket activeInstalls activeInstallsSuppressed
    totals { installs { suppressed installs uninstalls } executions { suppressed total successRate
             p50DurationMs p95DurationMs byStatus { status count } } }
    byDay { day installs { suppressed installs uninstalls } executions { suppressed total successRate
            p50DurationMs p95DurationMs byStatus { status count } } }
    byVersion { versionId version installs { suppressed installs } executions { suppressed total successRate
                p50DurationMs p95DurationMs byStatus { status count } } }
  }
}"""


def test_no_publisher_response_contains_a_tenant_id_or_name(world, market, dataset, gql_for):
    variables = {"id": str(market.listing.pk), "from": START.isoformat(), "to": END.isoformat()}
    response = gql_for(market.kit.owner).execute(LISTING_ANALYTICS, variables)
    report = response.data["listingAnalytics"]
    assert report["suppression"] is True and report["minTenantsPerBucket"] == 3
    text = json.dumps(response.body)
    tenants = [tenant for tenant, _ in dataset["tenants"]] + [world.tenant_a, world.tenant_b]
    for tenant in tenants:
        for needle in (str(tenant.pk), tenant.pk.hex, tenant.name, tenant.slug):
            assert needle.lower() not in text.lower(), needle
    for _, admin in dataset["tenants"]:
        assert admin.username not in text
    # Staff see the same query unsuppressed; tenants and other publishers see nothing.
    staff = gql_for(world.staff).execute(LISTING_ANALYTICS, variables).data["listingAnalytics"]
    assert staff["suppression"] is False and all(not d["executions"]["suppressed"] for d in staff["byDay"])
    refused = gql_for(world.admin_a).execute(LISTING_ANALYTICS, variables)
    assert refused.errors[0]["extensions"]["code"] == "PERMISSION_DENIED"


def test_small_totals_are_suppressed_too(world, market, gql_for):
    tenant, admin = make_tenant("Lonely")
    installation = install_directly(tenant, market.plugin, admin, at=_at(DAY1, 1))
    make_execution(installation, market.version, queued_at=_at(DAY1, 2))
    variables = {"id": str(market.listing.pk), "from": DAY1.isoformat(), "to": DAY1.isoformat()}
    report = gql_for(market.kit.owner).execute(LISTING_ANALYTICS, variables).data["listingAnalytics"]
    assert report["activeInstalls"] is None and report["activeInstallsSuppressed"] is True
    assert report["totals"]["executions"] == {
        "suppressed": True,
        "total": None,
        "successRate": None,
        "p50DurationMs": None,
        "p95DurationMs": None,
        "byStatus": None,
    }
    assert "Lonely" not in json.dumps(report)


def test_tenants_see_their_own_usage_unsuppressed(world, market, dataset, gql_for):
    north, north_admin = dataset["tenants"][0]
    query = """query($t: ID!, $from: Date!, $to: Date!) { tenantUsage(tenantId: $t, from: $from, to: $to) {
      activeInstalls totals { executions { suppressed total } }
      byPlugin { pluginSlug executions { total suppressed } } byDay { day executions { total } } } }"""
    variables = {"t": str(north.pk), "from": START.isoformat(), "to": END.isoformat()}
    usage = gql_for(north_admin).execute(query, variables).data["tenantUsage"]
    own = Execution.objects.filter(tenant=north, queued_at__gte=_at(START, 0), queued_at__lt=_at(DAYS[3], 0))
    assert usage["totals"]["executions"] == {"suppressed": False, "total": own.count()}
    assert {p["pluginSlug"]: p["executions"]["total"] for p in usage["byPlugin"]} == {
        "echo": own.filter(plugin_version__plugin=market.plugin).count(),
        "other": own.exclude(plugin_version__plugin=market.plugin).count(),
    }
    assert sum(day["executions"]["total"] for day in usage["byDay"]) == own.count()
    foreign = gql_for(world.admin_a).execute(query, variables)
    assert foreign.errors[0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [("2026-05-03", "2026-05-01", "INVALID_RANGE"), ("2025-01-01", "2026-05-01", "LIMIT_EXCEEDED")],
)
def test_bad_ranges_are_typed(world, market, gql_for, start, end, code):
    variables = {"id": str(market.listing.pk), "from": start, "to": end}
    response = gql_for(market.kit.owner).execute(LISTING_ANALYTICS, variables)
    assert response.errors[0]["extensions"]["code"] == code


def test_percentiles_match_the_reference_definition_on_small_samples(world, market):
    tenant, admin = make_tenant("Sampler")
    installation = install_directly(tenant, market.plugin, admin, at=_at(DAY1, 1))
    for samples in ([7], [1, 2], [5, 1, 9, 3], list(range(1, 22))):
        Execution.objects.filter(installation=installation).delete()
        for value in samples:
            make_execution(installation, market.version, duration_ms=value, queued_at=_at(DAY1, 3))
        report = analytics.plugin_analytics(market.plugin, DAY1, DAY1, private=False)
        assert report.totals.executions.p50_duration_ms == pytest.approx(percentile(samples, 0.5))
        assert report.totals.executions.p95_duration_ms == pytest.approx(percentile(samples, 0.95))
