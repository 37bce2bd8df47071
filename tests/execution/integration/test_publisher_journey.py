"""The README's "Write your first plugin" journey, for real: init -> edit -> run locally -> login ->
publisher create -> key register -> publish --submit -> staff approve -> install -> run through the API
(real worker, real Docker) with the same output as the local run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import User
from execution.models import Execution
from registry import services as registry_services
from registry.models import PluginVersion
from tests.support.sandbox_runs import wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.redis, pytest.mark.worker]

UPLOAD = """mutation($t: ID!, $f: Upload!) { uploadEvidence(tenantId: $t, file: $f, name: "notes.txt") {
  evidence { id } errors { code field message } } }"""
INSTALL = """mutation($t: ID!, $p: ID!) { installPlugin(tenantId: $t, pluginId: $p) {
  installation { id } errors { code message } } }"""
GRANT = """mutation($i: ID!) { grantCapability(installationId: $i, capability: "evidence:read") {
  errors { code message } } }"""
RUN = """mutation($i: ID!, $input: JSONString!, $e: [ID!]) {
  runPlugin(installationId: $i, input: $input, evidenceIds: $e) { execution { id } errors { code message } } }"""


def cli(*args: object, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "argus_cli", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=300, input=input,
    )  # fmt: skip


def test_from_an_empty_folder_to_a_run_through_the_api(
    world, gql_for, live_server, platform_worker, tmp_path, monkeypatch
):
    monkeypatch.setenv("ARGUS_PLUGIN_CONFIG", str(tmp_path / "cli-config.json"))
    monkeypatch.delenv("ARGUS_TOKEN", raising=False)
    monkeypatch.delenv("ARGUS_URL", raising=False)

    assert cli("init", "keyword-counter", cwd=tmp_path).returncode == 0
    folder = tmp_path / "keyword-counter"
    # The edit a developer makes: the output also says which keyword casing was searched.
    main = folder / "main.py"
    main.write_text(main.read_text().replace('{"keyword": keyword,', '{"keyword": keyword.lower(),'))
    local = cli("--json", "run", folder, "--input", '{"keyword": "INVOICE"}',
                "--evidence", folder / "sample-evidence" / "notes.txt", cwd=tmp_path)  # fmt: skip
    assert local.returncode == 0, local.stderr
    local_output = json.loads(local.stdout)["output"]
    assert local_output == {"keyword": "invoice", "evidence_items": 1, "lines": 3, "matches": 2}

    developer = User.objects.create(username="first-plugin-dev")
    _, token = tenancy_services.create_api_token(actor=developer, name="cli")
    steps = [
        ("login", live_server.url, "--token-stdin"),
        ("publisher", "create", "first-steps", "--name", "First Steps"),
        ("keygen", "--out", tmp_path / "keys"),
        ("key", "register", tmp_path / "keys" / "public.pem"),
        ("publish", folder, "--key", tmp_path / "keys" / "private.pem", "--submit", "--changelog", "first"),
    ]
    for step in steps:
        done = cli(*step, cwd=tmp_path, input=token + "\n")
        assert done.returncode == 0, (step, done.stderr)
    assert "a marketplace reviewer" in done.stdout  # publish says what happens next

    version = PluginVersion.objects.get(plugin__slug="keyword-counter")
    assert version.status == "IN_REVIEW"
    registry_services.approve_version(actor=world.staff, version_id=version.pk, notes="reads evidence only")
    status = cli("--json", "status", "keyword-counter", cwd=tmp_path)
    assert [v["status"] for v in json.loads(status.stdout)["versions"]] == ["PUBLISHED"]

    admin, analyst = gql_for(world.admin_a), gql_for(world.analyst_a)
    tenant = str(world.tenant_a.pk)
    installation = admin.execute(INSTALL, {"t": tenant, "p": str(version.plugin_id)}).payload("installPlugin")
    assert installation["errors"] == []
    installation_id = installation["installation"]["id"]
    assert admin.execute(GRANT, {"i": installation_id}).payload("grantCapability")["errors"] == []
    uploaded = analyst.execute_multipart(
        UPLOAD, {"t": tenant}, {"f": (folder / "sample-evidence" / "notes.txt").read_bytes()}
    ).payload("uploadEvidence")
    assert uploaded["errors"] == []
    ran = analyst.execute(
        RUN, {"i": installation_id, "input": '{"keyword": "INVOICE"}', "e": [uploaded["evidence"]["id"]]}
    ).payload("runPlugin")
    assert ran["errors"] == []
    execution = wait_terminal(Execution.objects.get(pk=ran["execution"]["id"]))
    assert execution.status == "SUCCEEDED", (execution.error_reason, execution.stderr)
    assert execution.output == local_output
