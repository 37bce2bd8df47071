"""What the sandbox launcher's own JSON codec and ``__main__`` runner save over ``json`` and ``runpy``.

    .venv/bin/python bench/launcher_startup_bench.py [--runs N] [--tiny]

Every run starts a fresh interpreter as the container's PID 1 (``python3 -I -S launcher.py``), so what
the launcher imports is paid by every execution. This starts ``N`` interpreters of each kind, in
alternating order, with this machine's Python 3.11 (the runtime image's is Debian's 3.11):

* ``launcher``: ``-I -S`` importing what execution/sandbox/launcher.py imports at start-up;
* ``+ json``: the same plus ``import json`` (what a stdlib codec would add);
* ``+ json, runpy``: plus ``import runpy`` as well (what ``runpy.run_path`` for the plugin would add);
* ``bare``: ``-I -S -c pass``, the floor.

Printed: the median wall milliseconds of each and the difference to ``launcher``.

Then, inside the runtime image (one container, 1 CPU, no network; again under gVisor when the engine has
runsc), what a warm container's launcher pays between a job's arrival and the end of a trivial plugin
(``import json; print(...)``, fork mode): its process started when the job comes (``spawn``: fork, uid
drop, ``site``, then the plugin) against one started ahead while the container waited (``prestart``,
then ``go`` when the job comes; what the launcher does), interleaved, ``N`` of each. ``--no-container``
skips that part. ``--tiny`` (N = 5) only proves the bench still runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

LAUNCHER_IMPORTS = "import gc, os, select, stat, struct, sys, time, _json, _signal"
KINDS = {
    "bare": "pass",
    "launcher": LAUNCHER_IMPORTS,
    "+ json": f"{LAUNCHER_IMPORTS}; import json",
    "+ json, runpy": f"{LAUNCHER_IMPORTS}; import json, runpy",
}


# Runs inside the runtime image as root (the launcher's own start), with the image's launcher.
IN_CONTAINER = """
import os, statistics, sys, time
sys.path.insert(0, "/opt/argus")
import launcher
runs = int(sys.argv[1])
os.makedirs("/tmp/plugin")
with open("/tmp/plugin/main.py", "w") as fh:
    fh.write('import json\\nprint(json.dumps({"ok": True}))\\n')
with open("/tmp/input.json", "w") as fh:
    fh.write("{}")
os.chmod("/tmp/plugin", 0o755)
env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
go = (["python3", "/tmp/plugin/main.py"], "/tmp/plugin", env, "/tmp/input.json", "/tmp/plugin/main.py")
user = (launcher.PLUGIN_UID, launcher.PLUGIN_GID)
times = {"spawn": [], "prestarted": []}
for index in range(runs):
    for kind in (("spawn", "prestarted") if index % 2 else ("prestarted", "spawn")):
        waiting = launcher.prestart(user) if kind == "prestarted" else None
        time.sleep(0.05)  # the container waits in the pool
        started = time.perf_counter()
        if waiting is None:
            pid, out, err, progress = launcher.spawn(*go[:4], main=go[4], user=user)
        else:
            pid, out, err, progress = waiting.go(*go)
        data = b""
        while chunk := os.read(out, 65536):
            data += chunk
        while os.read(err, 65536):
            pass
        os.waitpid(pid, 0)
        times[kind].append(time.perf_counter() - started)
        for fd in (out, err, progress):
            os.close(fd)
        assert data == b'{"ok": true}\\n', data
print(" ".join(f"{kind}={statistics.median(values) * 1000:.3f}" for kind, values in times.items()))
"""


def in_container(runs: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from execution.sandbox import connect
    from execution.sandbox.images import DEFAULT_RUNTIME_IMAGES, ensure_runtime_images

    client = connect(timeout=120)
    config = DEFAULT_RUNTIME_IMAGES["python3.11"]
    ensure_runtime_images(client, {"python3.11": config}, log=lambda _line: None)
    runtimes = [None, *(["runsc"] if "runsc" in (client.info().get("Runtimes") or {}) else [])]
    print(f"\nIn {config['image']}, a job's arrival to a trivial plugin's end (fork mode), median of {runs}:")
    for runtime in runtimes:
        logs = client.containers.run(
            config["image"],
            ["python3", "-I", "-S", "-c", IN_CONTAINER, str(runs)],
            name=f"argus-launcher-bench-{uuid.uuid4().hex[:12]}",
            remove=True,
            network_mode="none",
            nano_cpus=1_000_000_000,
            user="0:0",
            runtime=runtime,
        )
        medians = dict(item.split("=") for item in logs.decode().split())
        spawn, prestarted = float(medians["spawn"]), float(medians["prestarted"])
        print(
            f"  {runtime or 'runc':<6} started at the job {spawn:7.2f} ms   started ahead"
            f" {prestarted:7.2f} ms   ({spawn - prestarted:+.2f} ms, x{prestarted / spawn:.2f})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--no-container", action="store_true", help="skip the runs in the runtime image")
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
    if not args.no_container:
        in_container(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
