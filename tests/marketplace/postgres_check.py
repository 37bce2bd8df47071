"""Run by test_postgres.py in a subprocess against a fresh PostgreSQL database (DATABASE_URL): migrates,
builds a small marketplace, and prints what full-text search and percentile_cont return, as JSON."""

import datetime as dt
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"
subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], check=True)

import django  # noqa: E402

django.setup()

import marketplace_bench  # noqa: E402
from django.db import connection  # noqa: E402

from argus_plugins.tenancy.models import Tenant, User  # noqa: E402
from execution.models import Execution  # noqa: E402
from installations.models import Installation  # noqa: E402
from marketplace import analytics  # noqa: E402
from marketplace.browse import browse_listings  # noqa: E402
from registry.models import Plugin  # noqa: E402

marketplace_bench.build(60, 600)
user = User.objects.get(username="bench-viewer")
plugin = Plugin.objects.order_by("slug").first()
version = plugin.versions.get()
rng = random.Random(5)
durations = []
for tenant in Tenant.objects.order_by("slug")[:4]:
    installation = Installation.objects.filter(
        plugin=plugin, tenant=tenant
    ).first() or Installation.objects.create(plugin=plugin, tenant=tenant, installed_by=user)
    for minute in range(5):
        duration = rng.randint(1, 2000)
        durations.append(duration)
        at = dt.datetime(2026, 5, 1, 10, minute, tzinfo=dt.UTC)
        Execution.objects.create(
            tenant=tenant,
            installation=installation,
            plugin_version=version,
            input={},
            input_sha256="0" * 64,
            status="SUCCEEDED",
            queued_at=at,
            enqueued_at=at,
            duration_ms=duration,
        )
report = analytics.plugin_analytics(plugin, dt.date(2026, 5, 1), dt.date(2026, 5, 1), private=True)
searched = browse_listings(user, search=plugin.slug)
print(
    json.dumps(
        {
            "vendor": connection.vendor,
            "durations": durations,
            "p50": report.totals.executions.p50_duration_ms,
            "p95": report.totals.executions.p95_duration_ms,
            "by_day_p95": [bucket.executions.p95_duration_ms for bucket in report.by_day],
            "search_first": searched[0].plugin.slug,
            "search_ranked": searched[0].search_rank > 0,
            "tagline_hits": browse_listings(user, search="investigators").count(),
            "nothing": browse_listings(user, search="zzzqqq").count(),
        }
    )
)
