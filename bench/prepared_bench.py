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
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    os.environ["ARGUS_DATA_DIR"] = str(data_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{data_dir / 'bench.sqlite3'}"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def measure(prepared, values: tuple, calls: int, rounds: int) -> tuple[float, float]:
    from django.db import transaction

    from tests.support.prepared import compare

    def prepared_side() -> list:
        return prepared.fetch(*values)

    def plain_side() -> list:
        return list(prepared.build(*values))

    best = {"prepared": float("inf"), "plain": float("inf")}
    sides = [("prepared", prepared_side), ("plain", plain_side)]
    with transaction.atomic():  # select_for_update (the ledger head) needs one; both sides run in it
        if not compare(prepared, values):
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

    from execution import services as execution_services
    from tests.support.prepared import HOT_PATH_MODULES, create_world, hot_path_queries, values_for

    execution_services.enqueue_after_commit = lambda execution: None  # no worker reads this database
    world = create_world()
    found = hot_path_queries()
    if not found:
        print("no PreparedQuery left in", ", ".join(HOT_PATH_MODULES))
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
