"""Web tier benchmark: /healthz p95 latency with slow-body clients connected versus without.

    .venv/bin/python bench/web_tier_bench.py [--requests 100] [--rounds 3] [--slow-clients 2] [--no-bare]
                                             [--tiny]

Self-contained: a throwaway data directory and SQLite file (``/healthz`` needs no migrated schema; it
does need the local Redis and Docker engine). It starts the web tier exactly as ``run_platform`` does
(``argus_plugins.core.web_tier.WebTier``: nginx on the public port, 2 gunicorn gthread workers on a unix
socket behind it), then alternates rounds, side by side:

* baseline: ``--requests`` sequential ``GET /healthz`` with no other client;
* slow: the same while ``--slow-clients`` clients are connected, each having announced an anonymous
  100 kB request body (under the anonymous limit) and sending it one byte every 50 ms (they never
  finish; a new set connects for every round).

It prints the p95 of each over all rounds and the ratio slow / baseline (goal <= 2). Then, for contrast,
unless ``--no-bare``: the previous shape, gunicorn's 2 sync workers on the public port, where the same
slow clients occupy both workers; a few requests with a 3 s timeout each show it (a timed-out request
counts as 3 s). ``--tiny`` (1 round of 20, no bare contrast) only checks that the bench runs.
Everything it started is stopped and removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Anonymous and under the anonymous body limit: the body a sync worker would read before answering.
SLOW_BODY_BYTES = 100_000
SLOW_INTERVAL_SECONDS = 0.05
BARE_TIMEOUT_SECONDS = 3.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def healthz_latencies(port: int, count: int, timeout: float) -> tuple[list[float], int]:
    """``count`` sequential GET /healthz; returns the latencies and how many failed or timed out."""
    latencies, failures = [], 0
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                failures += 1
        except (TimeoutError, OSError):
            failures += 1
        finally:
            connection.close()
        latencies.append(min(time.perf_counter() - started, timeout))
    return latencies, failures


@contextmanager
def slow_clients(port: int, count: int) -> Iterator[list[int]]:
    """``count`` connected clients trickling a request body one byte at a time; yields bytes sent each."""
    stop = threading.Event()
    sent = [0] * count
    started = [threading.Event() for _ in range(count)]

    def trickle(index: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(
                    (
                        "POST /graphql/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {SLOW_BODY_BYTES}\r\n\r\n"
                    ).encode()
                )
                while not stop.is_set():
                    sock.sendall(b" ")
                    sent[index] += 1
                    if sent[index] == 3:
                        started[index].set()
                    stop.wait(SLOW_INTERVAL_SECONDS)
        except OSError:
            pass  # the server gave up on this client: it is no longer slowing anything
        finally:
            started[index].set()

    threads = [threading.Thread(target=trickle, args=(index,), daemon=True) for index in range(count)]
    for thread in threads:
        thread.start()
    for event in started:
        event.wait(30)
    try:
        yield sent
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)


def measure_web_tier(args: argparse.Namespace) -> tuple[list[float], list[float], int]:
    from argus_plugins.core.web_tier import WebTier, wait_healthy

    baseline: list[float] = []
    slow: list[float] = []
    failures = 0
    with WebTier("127.0.0.1", free_port(), gunicorn_workers=2, access_log=False) as tier:
        processes = tier.start(cwd=ROOT)
        wait_healthy(tier.base_url, processes, timeout=120)
        healthz_latencies(tier.port, 5, timeout=30)  # warm-up: connections, imports
        for round_number in range(1, args.rounds + 1):
            latencies, failed = healthz_latencies(tier.port, args.requests, timeout=30)
            baseline += latencies
            failures += failed
            with slow_clients(tier.port, args.slow_clients) as sent:
                latencies, failed = healthz_latencies(tier.port, args.requests, timeout=30)
                slow += latencies
                failures += failed
                trickled = sum(sent)
            print(
                f"round {round_number}/{args.rounds}: baseline p95 {p95(baseline) * 1000:.1f} ms, "
                f"slow p95 {p95(slow) * 1000:.1f} ms ({trickled} bytes trickled)",
                file=sys.stderr,
            )
    return baseline, slow, failures


def measure_bare_gunicorn(args: argparse.Namespace) -> tuple[list[float], int]:
    from argus_plugins.core.web_tier import stop_processes, wait_healthy

    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "argus_plugins.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--no-control-socket",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", [process], timeout=120)
        with slow_clients(port, args.slow_clients):
            return healthz_latencies(port, args.bare_requests, timeout=BARE_TIMEOUT_SECONDS)
    finally:
        stop_processes([process])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="/healthz requests per round and side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating baseline/slow rounds")
    parser.add_argument("--slow-clients", type=int, default=2)
    parser.add_argument("--bare-requests", type=int, default=5, help="requests against bare gunicorn")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare-gunicorn contrast")
    parser.add_argument("--tiny", action="store_true", help="1 round of 20, no bare contrast (CI)")
    args = parser.parse_args()
    if args.tiny:
        args.requests, args.rounds, args.no_bare = 20, 1, True
    if args.requests < 2 or args.rounds < 1:
        parser.error("--requests must be at least 2 and --rounds at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="argus-web-bench-"))
    os.environ["ARGUS_DATA_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"
    import django

    django.setup()
    try:
        baseline, slow, failures = measure_web_tier(args)
        bare = None if args.no_bare else measure_bare_gunicorn(args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    count = args.requests * args.rounds
    print(
        f"web tier (nginx, 2 gunicorn gthread workers): {count} GET /healthz per side, {args.rounds} round(s)"
    )
    print(f"  baseline p95:                       {p95(baseline) * 1000:8.1f} ms")
    print(f"  with {args.slow_clients} slow-body clients p95:       {p95(slow) * 1000:8.1f} ms")
    print(f"  ratio slow / baseline:              {p95(slow) / p95(baseline):8.2f}  (goal <= 2)")
    print(f"  failed requests:                    {failures:8d}")
    if bare is not None:
        latencies, failed = bare
        print(f"gunicorn alone (2 sync workers on the public port), {len(latencies)} GET /healthz")
        median = statistics.median(latencies) * 1000
        print(
            f"  with {args.slow_clients} slow-body clients: median {median:.0f} ms,"
            f" {failed}/{len(latencies)} timed out after {BARE_TIMEOUT_SECONDS:.0f} s"
        )
    if failures:
        sys.exit("some /healthz requests failed through the web tier")


if __name__ == "__main__":
    main()
