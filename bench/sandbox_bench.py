"""Micro-benchmark: a bare docker-SDK run vs the sandbox's cold path vs its pool path (and gVisor vs runc,
and a plugin with a frozen native dependency vs one without).

    .venv/bin/python bench/sandbox_bench.py [--runs 20] [--pool-size 2] [--tiny]

All three run the same trivial plugin (print a JSON line) under the same limits. "bare" is what a
naive integration does: containers.run(detach) + wait + logs + remove. Runs are interleaved and
each one starts with the engine quiet (pool refilled, reaper idle), so the numbers compare
latencies rather than queueing. A final "pool, back-to-back" series sends jobs without waiting
for refills, to show what happens when jobs arrive faster than the pool can restock. Last, gVisor:
the sandbox's cold and pool paths under runsc and under runc, interleaved, and runsc ÷ runc for each
(skipped when the engine has no runsc runtime: scripts/lib.sh ensure_runsc registers it).

``--baseline-image IMAGE`` (e.g. the previous runtime image tag, built from an older checkout) adds its pool
path to the interleaved series, so that a launcher change is measured side by side with the one before.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import docker

from execution.sandbox import ContainerPool, SandboxJob, SandboxLimits, connect, run_job
from execution.sandbox.images import DEFAULT_RUNTIME_IMAGES, ensure_runtime_images
from execution.sandbox.spec import MiB
from registry.ecosystems import PIP, SANDBOX_ENV
from registry.layers import extract_layer, freeze_layer
from registry.lockfile import parse_lock_file

PLUGIN = 'import json\nprint(json.dumps({"ok": True}))\n'


def bare_run(client: docker.DockerClient, image: str, limits: SandboxLimits) -> float:
    started = time.perf_counter()
    container = client.containers.run(
        image,
        ["python3", "-c", PLUGIN],
        detach=True,
        network_mode="none",
        mem_limit=limits.memory_mb * MiB,
        memswap_limit=limits.memory_mb * MiB,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids,
        read_only=True,
        tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={limits.tmp_mb}m"},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="10001:10001",
    )
    container.wait()
    logs = container.logs(stdout=True, stderr=True)
    container.remove(force=True)
    elapsed = time.perf_counter() - started
    assert b'"ok": true' in logs, logs
    return elapsed


def job(image: str, work_dir: Path, limits: SandboxLimits, runtime: str | None = None) -> SandboxJob:
    return SandboxJob(
        runtime=runtime,
        execution_id=f"bench-{uuid.uuid4().hex[:8]}",
        image=image,
        entrypoint="main.py",
        bundle=[("main.py", PLUGIN.encode())],
        limits=limits,
        work_dir=work_dir,
    )


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    median = statistics.median(values)
    return f"median {median * 1000:7.1f} ms   p90 {p90 * 1000:7.1f}   min {ordered[0] * 1000:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=2)
    parser.add_argument("--refill-delay", type=float, default=None, help="pool refill delay (s)")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a fresh directory in /var/tmp")
    parser.add_argument("--gvisor-runtime", default="runsc", help="Docker runtime name of gVisor")
    parser.add_argument("--tiny", action="store_true", help="2 runs of each: a smoke run for CI")
    parser.add_argument("--baseline-image", default=None, help="also the pool path of this (older) image")
    args = parser.parse_args()
    if args.tiny:
        args.runs = 2
    if args.work_dir is None:
        # One directory per run, so benches started side by side never share pool slots.
        args.work_dir = Path(tempfile.mkdtemp(prefix="argus-sandbox-bench-", dir="/var/tmp"))
        atexit.register(shutil.rmtree, args.work_dir, ignore_errors=True)

    client = connect(timeout=120)
    ensure_runtime_images(
        client, {"python3.11": DEFAULT_RUNTIME_IMAGES["python3.11"]}, log=lambda _line: None
    )
    image = DEFAULT_RUNTIME_IMAGES["python3.11"]["image"]
    limits = SandboxLimits()
    settings = job(image, args.work_dir, limits).container_settings()
    extra = {} if args.refill_delay is None else {"refill_delay_seconds": args.refill_delay}
    pool = ContainerPool(client, work_dir=args.work_dir / "pool", size=args.pool_size, **extra)
    times: dict[str, list[float]] = defaultdict(list)
    phases: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))

    baseline = args.baseline_image

    def quiet() -> None:
        pool.wait_ready(settings, timeout=60)
        if baseline:
            pool.wait_ready(job(baseline, args.work_dir, limits).container_settings(), timeout=60)
        pool.reaper.flush(60)

    try:
        for _ in range(2):  # warm-up: page cache, engine caches
            bare_run(client, image, limits)
            run_job(client, job(image, args.work_dir, limits))
        for _ in range(args.runs):
            quiet()
            times["bare SDK run"].append(bare_run(client, image, limits))
            quiet()
            result = run_job(client, job(image, args.work_dir, limits))
            assert result.stdout == b'{"ok": true}\n', result
            times["sandbox cold"].append(result.timings["total"])
            for key, value in result.timings.items():
                phases["cold"][key].append(value)
            quiet()
            result = run_job(client, job(image, args.work_dir, limits), pool=pool)
            assert result.path == "pool" and result.stdout == b'{"ok": true}\n', result
            times["sandbox pool"].append(result.timings["total"])
            for key, value in result.timings.items():
                phases["pool"][key].append(value)
            if baseline:
                quiet()
                result = run_job(client, job(baseline, args.work_dir, limits), pool=pool)
                assert result.path == "pool" and result.stdout == b'{"ok": true}\n', result
                times[f"pool, {baseline}"].append(result.timings["total"])
                for key, value in result.timings.items():
                    phases[f"pool, {baseline}"][key].append(value)
        quiet()
        paths: dict[str, int] = defaultdict(int)
        for _ in range(args.runs):
            result = run_job(client, job(image, args.work_dir, limits), pool=pool)
            paths[result.path] += 1
            times["pool, back-to-back"].append(result.timings["total"])
        gvisor = compare_runtimes(client, image, limits, pool, args)
        with_deps = compare_dependencies(client, image, limits, pool, args)
    finally:
        pool.close()

    bare = statistics.median(times["bare SDK run"])
    print(f"\n{args.runs} runs each, trivial plugin, limits: {limits.memory_mb} MiB, {limits.cpus} CPU")
    for name, values in times.items():
        print(f"  {name:<20} {summary(values)}   x{statistics.median(values) / bare:5.2f} of bare")
    if baseline:
        print(f"  (pool: {image}; pool, {baseline}: the same runs in the baseline image)")
    print(f"  (back-to-back: {dict(paths)} — refills could not keep up when 'cold' appears)")
    for path in ("cold", "pool"):
        side = phases.get(f"pool, {baseline}") if path == "pool" and baseline else None
        print(f"\n  {path} path, median per phase (ms){f'; then {baseline}' if side else ''}:")
        for key, values in phases[path].items():
            other = f"   {statistics.median(side[key]) * 1000:7.1f}" if side and side.get(key) else ""
            print(f"    {key:<22} {statistics.median(values) * 1000:7.1f}{other}")
    print(f"\n  gVisor ({args.gvisor_runtime}) vs runc, median total (ms):")
    if gvisor is None:
        print(f"    skipped: the engine has no '{args.gvisor_runtime}' runtime")
    else:
        for path, (runc_times, runsc_times) in gvisor.items():
            runc_median, runsc_median = statistics.median(runc_times), statistics.median(runsc_times)
            print(
                f"    {path:<6} runc {runc_median * 1000:7.1f}   runsc {runsc_median * 1000:7.1f}"
                f"   runsc / runc x{runsc_median / runc_median:5.2f}"
            )
    layer_mib = with_deps.pop("layer_mib")
    print(
        f"\n  A plugin with dependencies ({DEPS_LOCK.split()[0]}, a {layer_mib:.1f} MiB layer extracted"
        " per run and imported) vs the trivial one, median total (ms):"
    )
    for path, (plain, deps) in with_deps.items():
        plain_median, deps_median = statistics.median(plain), statistics.median(deps)
        print(
            f"    {path:<6} without {plain_median * 1000:7.1f}   with {deps_median * 1000:7.1f}"
            f"   with / without x{deps_median / plain_median:5.2f}"
        )
    print(
        "\n  The pool's removal happens on its reaper thread after the result is returned, so it is"
        "\n  not in the pool's latency (its 'remove' is the hand-off); the cold path removes inline."
    )


def compare_runtimes(
    client: docker.DockerClient,
    image: str,
    limits: SandboxLimits,
    pool: ContainerPool,
    args: argparse.Namespace,
) -> dict[str, tuple[list[float], list[float]]] | None:
    """Cold and pool totals under runc and under gVisor, interleaved so that both see the same load."""
    if args.gvisor_runtime not in (client.info().get("Runtimes") or {}):
        return None
    runtimes = (None, args.gvisor_runtime)
    totals: dict[str, tuple[list[float], list[float]]] = {"cold": ([], []), "pool": ([], [])}

    def quiet() -> None:
        for runtime in runtimes:
            pool.wait_ready(job(image, args.work_dir, limits, runtime).container_settings(), timeout=120)
        pool.reaper.flush(60)

    run_job(client, job(image, args.work_dir, limits, args.gvisor_runtime))  # warm-up
    for _ in range(args.runs):
        for index, runtime in enumerate(runtimes):
            quiet()
            result = run_job(client, job(image, args.work_dir, limits, runtime))
            assert result.stdout == b'{"ok": true}\n', result
            totals["cold"][index].append(result.timings["total"])
            quiet()
            result = run_job(client, job(image, args.work_dir, limits, runtime), pool=pool)
            assert result.path == "pool" and result.stdout == b'{"ok": true}\n', result
            totals["pool"][index].append(result.timings["total"])
    return totals


# The yara-scan example's dependency: native code, the layer the platform would freeze at submission.
DEPS_LOCK = (
    "yara-python==4.5.4 --hash=sha256:1a1721b61ee4e625a143e8e5bf32fa6774797c06724c45067f3e8919a8e5f8f3 "
    "--hash=sha256:adcfac4b225e76ab6dcbeaf10101f0de2731fdbee51610dbc77b96e667e85a3a\n"
)
DEPS_PLUGIN = 'import json, yara\nprint(json.dumps({"ok": True}))\n'


def compare_dependencies(
    client: docker.DockerClient,
    image: str,
    limits: SandboxLimits,
    pool: ContainerPool,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Cold and pool totals of the trivial plugin and of one importing a frozen native dependency (its
    layer extracted into the slot per run, as the worker does), interleaved."""
    layer = freeze_layer(
        parse_lock_file(DEPS_LOCK.encode()),
        index_url="https://pypi.org/simple",
        archive=args.work_dir / f"layer-{uuid.uuid4().hex}.tar.gz",
    ).archive

    def deps_job() -> SandboxJob:
        plain = job(image, args.work_dir, limits)
        plain.bundle = [("main.py", DEPS_PLUGIN.encode())]
        plain.layer = functools.partial(extract_layer, layer)
        plain.env = dict(SANDBOX_ENV[PIP])
        return plain

    def quiet() -> None:
        pool.wait_ready(job(image, args.work_dir, limits).container_settings(), timeout=60)
        pool.reaper.flush(60)

    totals: dict[str, Any] = {"cold": ([], []), "pool": ([], [])}
    run_job(client, deps_job())  # warm-up: page cache
    for _ in range(args.runs):
        for index, make in enumerate((lambda: job(image, args.work_dir, limits), deps_job)):
            quiet()
            result = run_job(client, make())
            assert result.stdout == b'{"ok": true}\n', result
            totals["cold"][index].append(result.timings["total"])
            quiet()
            result = run_job(client, make(), pool=pool)
            assert result.path == "pool" and result.stdout == b'{"ok": true}\n', result
            totals["pool"][index].append(result.timings["total"])
    totals["layer_mib"] = layer.stat().st_size / MiB
    return totals


if __name__ == "__main__":
    main()
