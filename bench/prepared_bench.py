"""PreparedQuery against the plain ORM: is compiling the SQL once per connection worth Django internals?

    .venv/bin/python bench/prepared_bench.py [--calls N] [--rounds R] [--database-url URL] [--tiny]

In process, against a fresh database (a temporary SQLite file unless ``--database-url`` names an empty
one, e.g. PostgreSQL): migrates, creates a tenant with a published, installed plugin, an API token and a
queued run, then times every ``PreparedQuery`` the code defines (found by importing the modules that hold
them) side by side with the plain ORM evaluating the very QuerySet it stands for
(``list(prepared.build(*values))``). Each round runs ``N`` calls of one side then ``N`` of the other, the
order alternating between rounds; the best round of each side is kept, in CPU time of this process (a
shared machine's load comes in bursts; a database server's own work is not counted, on either side).
Printed per query: microseconds per call for each side and the ratio plain / prepared (above 1: the
prepared query is faster). The first call's rows are compared with the plain ORM's (stored values and
primary keys) and the bench fails if they differ. ``--tiny`` (N = 20, 2 rounds) only proves it still runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The modules whose module-level PreparedQuery objects are measured.
MODULES = (
    "argus_plugins.tenancy.tokens",
    "execution.limits",
    "execution.worker",
    "installations.authorization",
    "installations.services",
    "ledger.services",
    "marketplace.plans",
    "triggers.events",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    if args.tiny:
        args.calls, args.rounds = 20, 2
    return args


def setup_django(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="prepared-bench-"))
    os.environ["ARGUS_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{data_dir / 'bench.sqlite3'}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def create_world() -> dict:
    """A tenant with a published, installed plugin, an analyst with an API token and one queued run."""
    from argus_plugins.staff.roles import StaffRole, grant_role
    from argus_plugins.tenancy import services as tenancy_services
    from argus_plugins.tenancy.models import Membership, Role, TenantPolicy, User
    from argus_plugins.tenancy.tokens import hash_token
    from execution import services as execution_services
    from installations import services as installation_services
    from registry import services as registry_services
    from tests.support.publishing import make_publisher_kit

    execution_services.enqueue_after_commit = lambda execution: None  # no worker reads this database
    staff = User.objects.create(username="bench-staff", is_staff=True)
    grant_role(staff, StaffRole.REVIEWER)
    analyst = User.objects.create(username="bench-analyst")
    _, token = tenancy_services.create_api_token(actor=analyst, name="bench")
    tenant = tenancy_services.create_tenant(actor=staff, name="Bench Agency")
    Membership.objects.create(user=analyst, tenant=tenant, role=Role.ANALYST)
    TenantPolicy.objects.create(tenant=tenant, default_limits={"memory_mb": 128})
    kit = make_publisher_kit(staff, slug="bench-pub")
    plugin = registry_services.create_plugin(
        actor=staff, publisher_id=kit.publisher.pk, slug="bench", name="Bench"
    )
    kit.publish(plugin, "1.0.0", reviewer=staff)
    installation = installation_services.install_plugin(
        actor=staff, tenant_id=tenant.pk, plugin_id=plugin.pk
    )
    execution = execution_services.run_plugin(actor=analyst, installation_id=installation.pk, input={"n": 1})
    return {
        "token_hash": hash_token(token),
        "tenant_id": tenant.pk,
        "user_id": analyst.pk,
        "plugin_id": plugin.pk,
        "installation_id": installation.pk,
        "execution_id": execution.pk,
    }


def values_for(prepared, world: dict) -> tuple:
    """The call's values, by the names of the fields the prepared query takes."""
    by_field = {
        ("ApiToken", "token_hash"): world["token_hash"],
        ("TenantPolicy", "tenant"): world["tenant_id"],
        ("Tenant", "id"): world["tenant_id"],
        ("Execution", "id"): world["execution_id"],
        ("ExecutionEvidence", "execution"): world["execution_id"],
        ("PluginVersion", "plugin"): world["plugin_id"],
        ("Listing", "plugin"): world["plugin_id"],
        ("Installation", "id"): world["installation_id"],
        ("Membership", "user"): world["user_id"],
    }
    return tuple(by_field[(field.model.__name__, field.name)] for field in prepared.fields)


def snapshot(rows: list) -> list:
    return [
        (row.pk, {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields})
        for row in rows
    ]


def measure(prepared, values: tuple, calls: int, rounds: int) -> tuple[float, float]:
    from django.db import transaction

    def prepared_side() -> list:
        return prepared.fetch(*values)

    def plain_side() -> list:
        return list(prepared.build(*values))

    best = {"prepared": float("inf"), "plain": float("inf")}
    sides = [("prepared", prepared_side), ("plain", plain_side)]
    with transaction.atomic():  # select_for_update (the ledger head) needs one; both sides run in it
        if snapshot(prepared_side()) != snapshot(plain_side()):
            raise SystemExit(f"the prepared query and the plain ORM disagree: {prepared.build}")
        for round_index in range(rounds):
            for name, side in sides if round_index % 2 == 0 else reversed(sides):
                side()  # warm: the first call of a round pays no one-off cost
                start = time.process_time()
                for _ in range(calls):
                    side()
                best[name] = min(best[name], (time.process_time() - start) / calls)
    return best["prepared"] * 1e6, best["plain"] * 1e6


def main() -> int:
    args = parse_args()
    setup_django(args)
    from django.db import connection

    from argus_plugins.core.prepared import PreparedQuery

    world = create_world()
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        found += [
            (f"{module_name}.{name}", value)
            for name, value in vars(module).items()
            if isinstance(value, PreparedQuery)
        ]
    if not found:
        print("no PreparedQuery left in", ", ".join(MODULES))
        return 0
    print(f"{connection.vendor}: {args.calls} calls x {args.rounds} rounds per side, best round")
    print(f"{'query':<52} {'prepared µs':>12} {'plain µs':>10} {'plain/prepared':>15}")
    results = {}
    for label, prepared in found:
        prepared_us, plain_us = measure(prepared, values_for(prepared, world), args.calls, args.rounds)
        results[label] = {"prepared_us": round(prepared_us, 1), "plain_us": round(plain_us, 1)}
        print(f"{label:<52} {prepared_us:>12.1f} {plain_us:>10.1f} {plain_us / prepared_us:>14.2f}x")
    print(json.dumps({"vendor": connection.vendor, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
