"""Ledger writer processes for the concurrency tests (run as a script, not collected by pytest).

    python tests/ledger/concurrent_writer.py WRITERS COUNT FLAG_DIR [linked|pending]

Sets Django up once against ``DATABASE_URL``, then forks WRITERS child processes (cheaper than WRITERS
interpreter start-ups; each child opens its own database connection after the fork). Each child signals
``FLAG_DIR/ready-N``, waits for ``FLAG_DIR/go`` so all writers start appending at the same moment, then
appends COUNT entries, each in its own transaction, noting in ``FLAG_DIR/started-N`` and ``finished-N``
when it began and ended. Exits 0 only when every child did.

``linked`` (the default) appends with ``append_entry`` (linked in the transaction, as grants are);
``pending`` like a Celery worker finishing executions: ``append_entry_without_waiting`` in a transaction (linked
in it when the ledger's lock is free, else written pending and linked after the commit).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write(writer: int, count: int, flags: Path, mode: str) -> int:
    from django.db import transaction

    from ledger.models import LedgerEntry
    from ledger.services import append_entry, append_entry_without_waiting

    LedgerEntry.objects.exists()  # connect before the start signal, so the appends really overlap
    (flags / f"ready-{writer}").touch()
    deadline = time.monotonic() + 120
    while not (flags / "go").exists():
        if time.monotonic() > deadline:
            return 3
        time.sleep(0.002)
    # When it began trying to append and when it was done (CLOCK_MONOTONIC is one clock for every process).
    (flags / f"started-{writer}").write_text(repr(time.monotonic()))
    for index in range(count):
        record = {"writer": writer, "index": index, "cpus": 0.25, "note": "é"}
        if mode == "pending":
            with transaction.atomic():
                append_entry_without_waiting("execution.completed", record)
        else:
            append_entry("execution.completed", record)
    (flags / f"finished-{writer}").write_text(repr(time.monotonic()))
    return 0


def main() -> int:
    writers, count, flags = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "linked"
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "argus_plugins.settings")
    import django
    from django.db import connections

    django.setup()
    connections.close_all()  # no connection may be shared across the fork
    children = []
    for writer in range(writers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = write(writer, count, flags, mode)
            except BaseException:  # noqa: BLE001 - report any failure; never fall back into the parent
                traceback.print_exc()
            finally:
                os._exit(code)  # skip the parent's atexit handlers in the child
        children.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(f"writer exit codes: {codes}", file=sys.stderr)
    return 0 if codes == [0] * writers else 1


if __name__ == "__main__":
    sys.exit(main())
