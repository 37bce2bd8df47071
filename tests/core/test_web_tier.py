"""The web tier run_platform starts (nginx in front of gunicorn), started for real.

No timing assertions (the machine is shared): gunicorn runs ONE worker process with ONE thread, so
/healthz answering at all while slow clients are connected shows that they wait in nginx, not in
gunicorn. Latency figures are bench/web_tier_bench.py's job.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from argus_plugins.core.web_tier import (
    COMPOSE_CONFIG_PATH,
    WebTier,
    compose_nginx_settings,
    render_nginx_config,
    wait_healthy,
)

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def web_tier():
    data_dir = Path(tempfile.mkdtemp(prefix="argus-webtier-"))  # short: gunicorn's unix socket lives here
    env = {
        **os.environ,
        "ARGUS_DATA_DIR": str(data_dir),
        "DATABASE_URL": f"sqlite:///{data_dir / 'web.sqlite3'}",
        # One thread in one worker process: a slow client that reached gunicorn would hold the only one.
        "ARGUS_WEB_THREADS": "1",
    }
    tier = WebTier("127.0.0.1", _free_port(), gunicorn_workers=1, access_log=False, runtime_parent=data_dir)
    try:
        processes = tier.start(env=env, cwd=ROOT)
        wait_healthy(tier.base_url, processes, timeout=120)
        yield tier
    finally:
        tier.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _connect(tier: WebTier) -> socket.socket:
    return socket.create_connection((tier.host, tier.port), timeout=30)


def _request_head(path: str, length: int, *, content_type: str, authorization: str | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: localhost",
        f"Content-Type: {content_type}",
        f"Content-Length: {length}",
    ]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict]:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, json.loads(body[:length])


def _healthz(tier: WebTier) -> int:
    with urllib.request.urlopen(f"{tier.base_url}/healthz", timeout=30) as response:
        return response.status


@pytest.mark.docker
@pytest.mark.redis
def test_slow_body_clients_wait_in_nginx_not_in_gunicorn(web_tier):
    stop = threading.Event()
    sent = [0, 0]
    trickling = [threading.Event(), threading.Event()]

    def trickle(index: int) -> None:
        # An anonymous client announcing a body under the anonymous limit, sent one byte at a time:
        # a sync worker facing it would wait for the whole body before answering anything else.
        with _connect(web_tier) as sock:
            sock.sendall(_request_head("/graphql/", 100_000, content_type="application/json"))
            while not stop.wait(0.1):
                sock.sendall(b" ")
                sent[index] += 1
                if sent[index] >= 3:
                    trickling[index].set()

    clients = [threading.Thread(target=trickle, args=(index,), daemon=True) for index in range(2)]
    for client in clients:
        client.start()
    try:
        assert all(event.wait(30) for event in trickling), "the slow clients did not start sending"
        before = list(sent)
        statuses = [_healthz(web_tier) for _ in range(5)]
        # Still connected and sending, bodies incomplete (100 000 bytes announced).
        assert all(client.is_alive() for client in clients)
        assert all(0 < count < 100_000 for count in before)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=30)
    # One gunicorn thread: had a slow client reached it, /healthz would have waited for its 100 000 bytes.
    assert statuses == [200] * 5


@pytest.mark.docker
@pytest.mark.redis
def test_an_anonymous_600_mb_multipart_is_refused_without_being_read(web_tier):
    announced = 600 * 1024 * 1024
    with _connect(web_tier) as sock:
        sock.sendall(
            _request_head("/graphql/", announced, content_type="multipart/form-data; boundary=argus")
        )
        sock.sendall(b"--argus\r\n" + b"x" * 64 * 1024)  # a first slice only; the rest is never sent
        status, body = _read_response(sock)
    assert status == 413
    assert body["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert "without credentials" in body["errors"][0]["message"]


@pytest.mark.docker
@pytest.mark.redis
def test_the_upload_limit_applies_before_authentication(web_tier):
    announced = settings.ARGUS_WEB_MAX_BODY_BYTES + 1
    with _connect(web_tier) as sock:
        sock.sendall(
            _request_head(
                "/graphql/",
                announced,
                content_type="multipart/form-data; boundary=argus",
                authorization="Bearer not-a-real-token",
            )
        )
        sock.sendall(b"--argus\r\n")
        status, body = _read_response(sock)
    assert status == 413
    assert body["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert "without credentials" not in body["errors"][0]["message"]


@pytest.mark.docker
@pytest.mark.redis
def test_credentials_lift_the_anonymous_limit_and_django_still_authenticates(web_tier):
    # Larger than the anonymous limit: nginx passes it on only because credentials are present, and
    # Django, which decides whether they are valid, refuses the bogus token.
    payload = json.dumps({"query": "{ __typename }", "pad": "x" * (settings.ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES)})
    for authorization, expected_status, expected_code in (
        ("Bearer not-a-real-token", 401, "UNAUTHENTICATED"),
        (None, 413, "REQUEST_TOO_LARGE"),
    ):
        with _connect(web_tier) as sock:
            sock.sendall(
                _request_head(
                    "/graphql/", len(payload), content_type="application/json", authorization=authorization
                )
                + payload.encode()
            )
            status, body = _read_response(sock)
        assert (status, body["errors"][0]["extensions"]["code"]) == (expected_status, expected_code)


def test_compose_nginx_config_is_rendered_from_the_current_template():
    assert COMPOSE_CONFIG_PATH.read_text() == render_nginx_config(compose_nginx_settings()), (
        "deploy/nginx/compose.conf is stale: python manage.py nginx_config > deploy/nginx/compose.conf"
    )


def test_compose_file_is_valid_and_only_nginx_is_published():
    # docker-compose (v1, Debian's) comes with scripts/lib.sh; `config` validates without any engine.
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "compose.yaml"), "config"],
        env={
            "PATH": os.environ["PATH"],
            "SECRET_KEY": "x",
            "POSTGRES_PASSWORD": "y",
            "S3_SECRET_KEY": "z",
            "ARGUS_DOCKER_GID": "999",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # The normalised output puts each service at two spaces and its keys at four, under "services:".
    services: dict[str, list[str]] = {}
    section = current = None
    for line in result.stdout.splitlines():
        if not line.startswith(" "):
            section = line.rstrip(":")
        elif section == "services" and re.fullmatch(r"  \S+:", line):
            current = line.strip().rstrip(":")
            services[current] = []
        elif section == "services" and current and re.match(r"    \S", line):
            services[current].append(line.strip())
    assert {
        *("nginx", "web", "worker-1", "worker-2", "beat", "migrate", "postgres", "redis", "seaweedfs")
    } <= services.keys()
    assert {name for name, keys in services.items() if "ports:" in keys} == {"nginx"}
    assert "depends_on:" in services["nginx"]


@pytest.mark.docker
@pytest.mark.redis
def test_an_anonymous_chunked_body_is_cut_off_at_the_limit(web_tier):
    # No Content-Length to check up front: nginx counts while reading and stops at the anonymous limit.
    chunk = b"x" * 65536
    with _connect(web_tier) as sock:
        sock.sendall(
            b"POST /graphql/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for _ in range(settings.ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES // len(chunk) + 2):
            sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
        status, body = _read_response(sock)
    assert status == 413
    assert body["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
