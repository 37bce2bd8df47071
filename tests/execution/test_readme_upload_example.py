"""The README's curl example for uploading evidence works, as written, against a running server."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from argus_plugins.canonical import sha256_hex
from execution.models import Evidence
from tests.conftest import token_for

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_upload_example() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    (example,) = [block for block in blocks if "uploadEvidence" in block]
    return example


@pytest.mark.django_db(transaction=True)
def test_the_readme_curl_upload_example_uploads_evidence(world, live_server, tmp_path):
    content = b"2024-01-01 alice: meet at the usual place\n"
    (tmp_path / "chat-export.txt").write_bytes(content)
    command = readme_upload_example().replace("http://127.0.0.1:8000", live_server.url)
    env = {**os.environ, "ARGUS_TOKEN": token_for(world.analyst_a), "TENANT_ID": str(world.tenant_a.pk)}

    result = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{command}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    payload = json.loads(result.stdout)["data"]["uploadEvidence"]
    assert payload["errors"] == []
    assert payload["evidence"]["sha256"] == sha256_hex(content) and payload["evidence"]["size"] == len(
        content
    )
    evidence = Evidence.objects.get(pk=payload["evidence"]["id"])
    assert evidence.tenant_id == world.tenant_a.pk and evidence.name == "chat-export.txt"
