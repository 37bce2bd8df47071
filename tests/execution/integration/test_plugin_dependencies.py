"""A plugin with a native-code dependency (yara-python), for real: its lock file is frozen into a layer by
the worker's task when it is submitted (from PyPI), the reviewer sees its SBOM, it runs offline in the
sandbox, and a tampered layer makes the next run REJECTED."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from execution import services
from registry import bundles, dependencies
from registry import services as registry_services
from registry.models import DependencyLayer, LayerStatus
from tests.support.publishing import sign
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, install_in_tenant_a, wait_for, wait_terminal

pytestmark = SANDBOX_RUN_MARKS

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
EXAMPLE = EXAMPLES / "plugins" / "yara-scan"
EVIDENCE = b"pay to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT or DE89 3704 0044 0532 0130 00 today\n"


def test_yara_plugin_is_frozen_reviewed_run_offline_and_refused_when_tampered(
    world, publisher_kit, platform_worker
):
    kit = publisher_kit
    manifest = json.loads((EXAMPLE / "manifest.json").read_text())
    plugin = registry_services.create_plugin(
        actor=kit.owner, publisher_id=kit.publisher.pk, slug="yara-scan", name="YARA scan"
    )
    bundle = bundles.pack_directory(EXAMPLE)
    version = registry_services.create_plugin_version(
        actor=kit.owner, plugin_id=plugin.pk, version="1.0.0", changelog="", bundle_bytes=bundle,
        signature=sign(kit.private_key, "yara-scan", "1.0.0", bundle, manifest), signing_key_id=kit.key.pk,
    )  # fmt: skip
    registry_services.submit_for_review(actor=kit.owner, version_id=version.pk)
    version.refresh_from_db()
    layer_id = version.dependency_layer_id
    wait_for(
        lambda: DependencyLayer.objects.get(pk=layer_id).status != LayerStatus.PENDING,
        timeout=240,
        what="the worker to freeze the dependency layer",
    )
    layer = DependencyLayer.objects.get(pk=layer_id)
    assert layer.status == LayerStatus.RESOLVED, (layer.error_code, layer.error_message)
    sbom = dependencies.sbom_of(version)
    assert [(c["name"], c["version"]) for c in sbom["components"]] == [("yara-python", "4.5.4")]
    registry_services.approve_version(actor=world.staff, version_id=version.pk, notes="SBOM checked")

    installation = install_in_tenant_a(world, plugin.pk, ["evidence:read"])
    evidence = services.upload_evidence(
        actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=SimpleUploadedFile("chat.txt", EVIDENCE)
    )

    def run():
        execution = services.run_plugin(
            actor=world.analyst_a, installation_id=installation.pk, input={}, evidence_ids=[evidence.pk]
        )
        return wait_terminal(execution, timeout=120)

    execution = run()
    assert execution.status == "SUCCEEDED", (execution.error_reason, execution.stderr)
    assert execution.output["yara_version"].startswith("4.5")
    (result,) = execution.output["results"]
    assert sorted(match["rule"] for match in result["matches"]) == ["bitcoin_address", "iban_like"]

    # An insider alters the frozen layer in storage after approval: the next run is refused, not run.
    with default_storage.open(layer.archive.name, "rb") as handle:
        data = bytearray(handle.read())
    data[len(data) // 2] ^= 0x01
    default_storage.delete(layer.archive.name)
    default_storage.save(layer.archive.name, SimpleUploadedFile("x", bytes(data)))
    tampered = run()
    assert tampered.status == "REJECTED"
    assert "dependency layer does not match its recorded SHA-256" in tampered.error_reason


def _publish_example(name, world, kit):
    source = EXAMPLES / "plugins" / name
    manifest = json.loads((source / "manifest.json").read_text())
    plugin = registry_services.create_plugin(
        actor=kit.owner, publisher_id=kit.publisher.pk, slug=name, name=name
    )
    bundle = bundles.pack_directory(source)
    version = registry_services.create_plugin_version(
        actor=kit.owner, plugin_id=plugin.pk, version=manifest["version"], changelog="", bundle_bytes=bundle,
        signature=sign(kit.private_key, name, manifest["version"], bundle, manifest), signing_key_id=kit.key.pk,
    )  # fmt: skip
    registry_services.submit_for_review(actor=kit.owner, version_id=version.pk)
    version.refresh_from_db()
    wait_for(
        lambda: DependencyLayer.objects.get(pk=version.dependency_layer_id).status != LayerStatus.PENDING,
        timeout=240,
        what="the worker to freeze the dependency layer",
    )
    registry_services.approve_version(actor=world.staff, version_id=version.pk)
    return version, install_in_tenant_a(world, plugin.pk, manifest["capabilities"])


def test_a_node_plugin_with_an_npm_dependency_runs_through_the_same_path(
    world, publisher_kit, platform_worker
):
    version, installation = _publish_example("indicator-check-js", world, publisher_kit)
    assert dependencies.sbom_of(version)["components"][0]["purl"].startswith("pkg:npm/validator@13.15.35")
    chat = (EXAMPLES / "evidence" / "chat-export.txt").read_bytes()
    evidence = services.upload_evidence(
        actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=SimpleUploadedFile("chat.txt", chat)
    )
    execution = services.run_plugin(
        actor=world.analyst_a, installation_id=installation.pk, input={}, evidence_ids=[evidence.pk]
    )
    execution = wait_terminal(execution, timeout=120)
    assert execution.status == "SUCCEEDED", (execution.error_reason, execution.stderr)
    assert execution.output["runtime"].startswith("node 18.")
    assert execution.output["indicators"]["iban"] == ["GB82 WEST 1234 5698 7654 32"]
    assert "validator 13.15.35" in execution.stdout
    entry = execution.ledger_entry
    assert entry.entry_type == "execution.completed" and entry.record["status"] == "SUCCEEDED"
    assert entry.record["code_sha256"] == version.code_sha256
