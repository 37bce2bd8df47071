"""Run by test_dispatch.py in a subprocess against a fresh PostgreSQL database (DATABASE_URL): migrates,
queues runs of two tenants, releases them from concurrent dispatchers, and prints what was released, as
JSON. Task messages go to an in-memory broker: nothing reaches the shared Redis."""

import datetime as dt
import json
import os
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["CELERY_BROKER_URL"] = "memory://"
os.environ["ARGUS_DISPATCH_SLOTS"] = "5"

from tests.support.check_scripts import start_django  # noqa: E402

start_django()

from django.db import connection, connections, transaction  # noqa: E402

from argus_plugins.core import clock  # noqa: E402
from argus_plugins.tenancy.models import Tenant, User  # noqa: E402
from execution import dispatch  # noqa: E402
from execution.models import Execution  # noqa: E402
from installations.models import Installation  # noqa: E402
from registry.models import Plugin, PluginVersion, Publisher, SigningKey, VersionStatus  # noqa: E402

now = clock.now()
owner = User.objects.create(username="owner")
publisher = Publisher.objects.create(name="P", slug="p")
key = SigningKey.objects.create(publisher=publisher, public_key_pem="-", fingerprint="f" * 64, key_bits=4096)
plugin = Plugin.objects.create(publisher=publisher, slug="echo", name="Echo", created_by=owner)
version = PluginVersion.objects.create(
    plugin=plugin, version="1.0.0", precedence_key="1", manifest={}, manifest_sha256="0" * 64,
    runtime="python3.11", bundle="b.tar.gz", bundle_size=1, code_sha256="0" * 64, signature="-",
    signing_key=key, signature_verified_at=now, status=VersionStatus.PUBLISHED, created_by=owner,
    published_at=now,
)  # fmt: skip
names = {}
for name, count in (("B", 8), ("A", 3)):
    tenant = Tenant.objects.create(name=name, slug=name.lower())
    names[tenant.pk] = name
    installation = Installation.objects.create(plugin=plugin, tenant=tenant, installed_by=owner)
    for index in range(count):
        at = now - dt.timedelta(minutes=60) + dt.timedelta(seconds=len(names) * 100 + index)
        Execution.objects.create(
            tenant=tenant, installation=installation, plugin_version=version, input={},
            input_sha256="0" * 64, queued_at=at,
        )  # fmt: skip

first = [names[Execution.objects.get(pk=pk).tenant_id] for pk in dispatch.release_queued_runs()]
Execution.objects.filter(released_at__isnull=False).update(status="SUCCEEDED")

# Four dispatchers at once: the advisory lock lets them share the 5 free slots, never exceed them.
released: list[str] = []
barrier = threading.Barrier(4)


def dispatcher() -> None:
    try:
        barrier.wait()
        released.extend(dispatch.release_queued_runs())
    finally:
        connections.close_all()


threads = [threading.Thread(target=dispatcher) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
in_flight = Execution.objects.filter(dispatch.IN_FLIGHT).count()
held = Execution.objects.filter(dispatch.HELD).count()

# A run queued while another dispatcher holds the lock: runPlugin's transaction does not wait for it (it may
# hold other locks: no deadlock), and the release follows the commit instead.
Execution.objects.filter(dispatch.IN_FLIGHT).update(status="SUCCEEDED")
holder = connections.create_connection("default")
with holder.cursor() as cursor:
    cursor.execute("BEGIN")
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [dispatch.DISPATCH_LOCK_ID])
    with transaction.atomic():
        dispatch.release_in_transaction()
        deferred = [callback for _, callback, _ in connection.run_on_commit] == [dispatch._release_safely]
        released_while_locked = Execution.objects.filter(dispatch.IN_FLIGHT).count()
        cursor.execute("COMMIT")  # the other dispatcher is done: our commit runs the deferred release
released_after_commit = Execution.objects.filter(dispatch.IN_FLIGHT).count()
holder.close()

print(
    json.dumps(
        {
            "vendor": connection.vendor,
            "deferred": deferred,
            "released_while_locked": released_while_locked,
            "released_after_commit": released_after_commit,
            "first": first,
            "concurrent": len(released),
            "distinct": len(set(released)),
            "in_flight": in_flight,
            "held": held,
        }
    )
)
