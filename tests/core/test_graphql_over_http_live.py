"""GraphQL over HTTP against a real server: the graphql-http audit suite and schemathesis.

Both start gunicorn with a throwaway database (tests/support/live_server.py). The audits are the
reference GraphQL-over-HTTP compliance checks (npm ``graphql-http``, pinned in tools/http-audit/, installed
by scripts/lib.sh); every MUST and every SHOULD audit must pass. They run as an authenticated client:
some audits introspect, which Argus allows to authenticated callers only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.live_server import ROOT, live_server

AUDIT_DIR = ROOT / "tools" / "http-audit"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with live_server(tmp_path_factory.mktemp("live")) as running:
        yield running


def test_graphql_http_audits_pass_every_must_and_should(server):
    node = shutil.which("node")
    assert node, "node is required (scripts/lib.sh installs it)"
    assert (AUDIT_DIR / "node_modules" / "graphql-http").is_dir(), (
        "graphql-http is not installed: run scripts/test.sh (npm ci in tools/http-audit)"
    )
    completed = subprocess.run(
        [node, str(AUDIT_DIR / "audit.cjs"), server.url],
        env={**os.environ, "ARGUS_AUDIT_TOKEN": server.token},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout)
    required = [r for r in results if r["name"].startswith(("MUST", "SHOULD"))]
    assert len(required) >= 30  # the suite really ran (13 MUST and the SHOULDs of graphql-http 1.23)
    failed = [r for r in required if r["status"] != "ok"]
    assert failed == []
    print(
        {status: sum(r["status"] == status for r in results) for status in ("ok", "warn", "error", "notice")}
    )
    assert "Traceback" not in Path(server.log).read_text()


def _register_custom_scalars() -> None:
    """hypothesis-graphql generates the built-in scalars; these are Argus's own (schema.graphql)."""
    import schemathesis
    from hypothesis import strategies as st
    from hypothesis_graphql import nodes

    def text(strategy):
        return strategy.map(str).map(nodes.String)

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
        max_leaves=8,
    )
    schemathesis.graphql.scalar("UUID", text(st.uuids()))
    schemathesis.graphql.scalar(
        "DateTime", text(st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()))
    )
    schemathesis.graphql.scalar("Date", text(st.dates()))
    schemathesis.graphql.scalar("BigInt", st.integers().map(nodes.Int))
    schemathesis.graphql.scalar("JSONString", text(json_values.map(json.dumps) | st.text(max_size=30)))
    schemathesis.graphql.scalar("Upload", st.just(nodes.Null))


def test_schemathesis_finds_no_server_error(server):
    """Every query and mutation of schema.graphql, with generated arguments, as an authenticated staff
    user: no 5xx, no INTERNAL_ERROR, no traceback in the server's log. Bounded: a few examples each."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    _register_custom_scalars()
    schema = schemathesis.graphql.from_path(ROOT / "schema.graphql")
    examples = int(os.environ.get("ARGUS_SCHEMATHESIS_EXAMPLES", "4"))
    headers = {"Authorization": f"Bearer {server.token}"}
    base_url = server.url.rstrip("/").rsplit("/", 1)[0]
    failures: list[tuple[str, int, str]] = []
    calls = 0

    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def call(case):
            nonlocal calls
            case.path = "/graphql/"
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            calls += 1
            try:
                errors = response.json().get("errors") or []
            except ValueError:
                errors = [{"extensions": {"code": "NOT_JSON"}}]
            codes = [(error.get("extensions") or {}).get("code") for error in errors]
            if response.status_code >= 500 or "INTERNAL_ERROR" in codes or "NOT_JSON" in codes:
                failures.append((case.operation.label, response.status_code, str(case.body)[:300]))

        call()

    assert calls >= 88, calls  # every operation was exercised
    assert failures == []
    assert "Traceback" not in Path(server.log).read_text()
