"""The bundled example plugins, packed, signed, published and run on sample evidence for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from execution import services
from registry import bundles
from registry import services as registry_services
from tests.support.publishing import sign
from tests.support.sandbox_runs import install_in_tenant_a, wait_terminal

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.docker, pytest.mark.redis, pytest.mark.worker]

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _publish_and_install(name, world, kit):
    source = EXAMPLES / "plugins" / name
    manifest = json.loads((source / "manifest.json").read_text())
    plugin = registry_services.create_plugin(actor=kit.owner, publisher_id=kit.publisher.pk, slug=name, name=name)
    bundle = bundles.pack_directory(source)
    version = registry_services.create_plugin_version(
        actor=kit.owner, plugin_id=plugin.pk, version=manifest["version"], changelog="", bundle_bytes=bundle,
        signature=sign(kit.private_key, name, manifest["version"], bundle, manifest), signing_key_id=kit.key.pk,
    )
    registry_services.submit_for_review(actor=kit.owner, version_id=version.pk)
    registry_services.approve_version(actor=world.staff, version_id=version.pk)
    return install_in_tenant_a(world, plugin.pk, manifest["capabilities"])


def _evidence(world, name, data):
    upload = SimpleUploadedFile(name, data)
    return services.upload_evidence(actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=upload)


def _run(world, installation, evidence, input=None):
    execution = services.run_plugin(
        actor=world.analyst_a, installation_id=installation.pk, input=input or {}, evidence_ids=[e.pk for e in evidence]
    )
    execution = wait_terminal(execution)
    assert execution.status == "SUCCEEDED", (execution.error_reason, execution.stderr)
    return execution


def test_ioc_extractor_finds_the_indicators(world, publisher_kit, platform_worker):
    installation = _publish_and_install("ioc-extractor", world, publisher_kit)
    chat = _evidence(world, "chat.txt", (EXAMPLES / "evidence" / "chat-export.txt").read_bytes())
    output = _run(world, installation, [chat]).output
    found = {(item["type"], item["value"]) for item in output["indicators"]}
    assert {
        ("email", "billing@shell-co.example"), ("email", "m.rossi@holding.example"),
        ("iban", "GB82WEST12345698765432"), ("eth", "0x52908400098527886E0F7030069857D2E4169EE7"),
        ("btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"), ("phone", "+442079460958"),
        ("ipv4", "203.0.113.42"), ("url", "https://files.shell-co.example/q1/ledger.xlsx"),
    } == found


def test_file_triage_hashes_and_identifies(world, publisher_kit, platform_worker):
    import hashlib
    import os

    installation = _publish_and_install("file-triage", world, publisher_kit)
    pdf = _evidence(world, "doc.pdf", b"%PDF-1.7\n" + b"x" * 100)
    noise = _evidence(world, "blob.bin", os.urandom(64 * 1024))
    items = {item["evidence_id"]: item for item in _run(world, installation, [pdf, noise]).output["items"]}
    assert items[str(pdf.pk)]["type"] == "PDF document"
    assert items[str(pdf.pk)]["sha256"] == hashlib.sha256(b"%PDF-1.7\n" + b"x" * 100).hexdigest() == pdf.sha256
    assert items[str(noise.pk)]["entropy"] > 7.9
    assert items[str(noise.pk)]["likely_encrypted_or_packed"] is True
    assert items[str(pdf.pk)]["likely_encrypted_or_packed"] is False


def test_timeline_orders_events_in_utc_and_writes_a_csv_artifact(world, publisher_kit, platform_worker):
    installation = _publish_and_install("timeline", world, publisher_kit)
    log = _evidence(world, "mixed.log", b"\n".join([
        b"2026-03-14T10:15:30+01:00 login from 203.0.113.42",
        b"Sat, 14 Mar 2026 08:00:00 +0000 mail received",
        b"127.0.0.1 - - [14/Mar/2026:09:30:00 +0000] \"GET / HTTP/1.1\" 200",
        b"no timestamp here",
    ]))
    execution = _run(world, installation, [log], {"year_for_syslog": 2026})
    times = [event["time"] for event in execution.output["events"]]
    assert times == ["2026-03-14T08:00:00Z", "2026-03-14T09:15:30Z", "2026-03-14T09:30:00Z"]
    (artifact,) = execution.artifacts.all()
    assert artifact.name == "timeline.csv"
    assert artifact.content.read().decode().splitlines()[0] == "time,format,evidence_id,line,text"
