"""What the sandbox launcher's own JSON codec and ``__main__`` runner save over ``json`` and ``runpy``.

    .venv/bin/python bench/launcher_startup_bench.py [--runs N] [--tiny]

Every run starts a fresh interpreter as the container's PID 1 (``python3 -I -S launcher.py``), so what
the launcher imports is paid by every execution. This starts ``N`` interpreters of each kind, in
alternating order, with this machine's Python 3.11 (the runtime image's is Debian's 3.11):

* ``launcher``: ``-I -S`` importing what execution/sandbox/launcher.py imports at start-up;
* ``+ json``: the same plus ``import json`` (what a stdlib codec would add);
* ``+ json, runpy``: plus ``import runpy`` as well (what ``runpy.run_path`` for the plugin would add);
* ``bare``: ``-I -S -c pass``, the floor.

Printed: the median wall milliseconds of each and the difference to ``launcher``. ``--tiny`` (N = 5) only
proves the bench still runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

LAUNCHER_IMPORTS = "import gc, os, select, stat, struct, sys, time, _json, _signal"
KINDS = {
    "bare": "pass",
    "launcher": LAUNCHER_IMPORTS,
    "+ json": f"{LAUNCHER_IMPORTS}; import json",
    "+ json, runpy": f"{LAUNCHER_IMPORTS}; import json, runpy",
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    runs = 5 if args.tiny else args.runs
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    order = list(KINDS.items())
    for index in range(runs):
        for kind, code in order if index % 2 == 0 else reversed(order):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True)
            timings[kind].append((time.perf_counter() - start) * 1000)
    base = statistics.median(timings["launcher"])
    print(f"Python {sys.version.split()[0]}, -I -S, median of {runs} starts")
    for kind, values in timings.items():
        median = statistics.median(values)
        print(f"  {kind:<16} {median:7.2f} ms   vs launcher {median - base:+6.2f} ms ({median / base:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
