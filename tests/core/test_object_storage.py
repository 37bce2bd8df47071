"""Bundles, evidence and artifacts on a real S3 server (SeaweedFS): stored there and nowhere on local disk,
read back as streams and re-hashed before a run; a store that is down is a typed error or a clear terminal
reason, never a 500 or a stuck run."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.objects import StorageUnavailable, copy_object, read_object
from execution import services as execution_services
from execution import worker
from execution.models import Evidence, Execution, ExecutionStatus
from installations import services as installation_services
from tests.support.object_store import S3Bucket, s3_bucket, unreachable_storage_url
from tests.support.publishing import manifest_for

pytestmark = [pytest.mark.s3, pytest.mark.django_db]

UPLOAD = """
mutation($t: ID!, $file: Upload!) {
  uploadEvidence(tenantId: $t, file: $file, name: "disk.img") {
    evidence { id sha256 size }
    errors { code field message }
  }
}
"""


@pytest.fixture
def bucket(settings) -> Iterator[S3Bucket]:
    with s3_bucket() as made:
        settings.STORAGES = made.storages()
        yield made


def _files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_uploaded_evidence_is_stored_in_the_bucket_and_not_on_disk(bucket, world, gql_for, settings):
    # Past FILE_UPLOAD_MAX_MEMORY_SIZE (a temporary file) and past one part (a multipart upload to the store).
    data = os.urandom(9 * 1024 * 1024 + 17)
    payload = (
        gql_for(world.analyst_a)
        .execute_multipart(UPLOAD, {"t": str(world.tenant_a.pk)}, {"file": data})
        .payload("uploadEvidence")
    )
    assert payload["errors"] == []
    evidence = Evidence.objects.get(pk=payload["evidence"]["id"])
    assert payload["evidence"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert bucket.keys() == {evidence.content.name}
    assert bucket.read(evidence.content.name) == data
    assert _files_under(Path(settings.MEDIA_ROOT)) == []


def test_a_copy_is_streamed_and_hashed(bucket, tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 5)
    bucket.write("evidence/x", data)
    target = tmp_path / "copy"
    assert copy_object("evidence/x", target) == hashlib.sha256(data).hexdigest()
    assert target.read_bytes() == data and (target.stat().st_mode & 0o777) == 0o644
    assert read_object("evidence/x", limit=10) == data[:10]
    with pytest.raises(FileNotFoundError):
        copy_object("evidence/missing", tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_a_store_that_is_down_is_storage_unavailable(settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": _unreachable()}
    with pytest.raises(StorageUnavailable):
        copy_object("evidence/x", tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def _unreachable() -> dict:
    from argus_plugins.core.storage_url import parse_storage_url

    return parse_storage_url(unreachable_storage_url(), upload_memory_bytes=1024).storage


def test_uploading_while_the_store_is_down_is_a_typed_error(settings, world, gql_for):
    settings.STORAGES = {**settings.STORAGES, "default": _unreachable()}
    response = gql_for(world.analyst_a).execute_multipart(
        UPLOAD, {"t": str(world.tenant_a.pk)}, {"file": b"x"}
    )
    payload = response.payload("uploadEvidence")
    assert payload["evidence"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("STORAGE_UNAVAILABLE", "file")]
    assert not Evidence.objects.exists()


def _queued_run(world, publisher_kit, data: bytes) -> tuple[Execution, Evidence]:
    from registry import services as registry_services

    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="reader", name="Reader"
    )
    manifest = manifest_for("reader", "1.0.0", capabilities=["evidence:read"])
    publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff, manifest=manifest)
    installation = installation_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=plugin.pk
    )
    installation_services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    evidence = execution_services.upload_evidence(
        actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=SimpleUploadedFile("e.bin", data)
    )
    run = execution_services.run_plugin(
        actor=world.analyst_a, installation_id=installation.pk, input={}, evidence_ids=[evidence.pk]
    )
    return run, evidence


@pytest.fixture
def sandbox_dir(settings, tmp_path) -> Path:
    settings.ARGUS_SANDBOX_WORK_DIR = str(tmp_path / "work")
    return tmp_path / "work"


def test_the_worker_streams_evidence_from_the_store_into_the_run_and_verifies_it(
    bucket, world, publisher_kit, sandbox_dir
):
    data = os.urandom(300_000)
    run, evidence = _queued_run(world, publisher_kit, data)
    prepared = worker.prepare(worker._load(str(run.pk)))
    assert prepared is not None
    copied = Path(prepared.evidence[str(evidence.pk)])
    assert copied.is_relative_to(sandbox_dir) and copied.read_bytes() == data


def test_a_flipped_byte_in_stored_evidence_rejects_the_run_with_the_reason(
    bucket, world, publisher_kit, sandbox_dir
):
    data = b"evidence bytes " * 1000
    run, evidence = _queued_run(world, publisher_kit, data)
    flipped = bytearray(data)
    flipped[100] ^= 0x01
    bucket.write(evidence.content.name, bytes(flipped))
    assert worker.prepare(worker._load(str(run.pk))) is None
    run.refresh_from_db()
    assert run.status == ExecutionStatus.REJECTED
    assert run.error_reason == f"Evidence {evidence.pk} does not match its recorded SHA-256: refused."


def test_a_store_that_is_down_fails_the_run_with_a_clear_reason(
    bucket, world, publisher_kit, sandbox_dir, settings
):
    run, _ = _queued_run(world, publisher_kit, b"data")
    settings.STORAGES = {**settings.STORAGES, "default": _unreachable()}
    assert worker.prepare(worker._load(str(run.pk))) is None
    run.refresh_from_db()
    assert run.status == ExecutionStatus.FAILED
    assert run.error_reason.startswith("Object storage is unavailable: ")
    assert run.ledger_entry is not None


def test_publishing_while_the_store_is_down_is_a_typed_error_and_leaves_no_version(
    settings, world, publisher_kit
):
    from registry import services as registry_services
    from registry.models import PluginVersion

    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="down", name="Down"
    )
    settings.STORAGES = {**settings.STORAGES, "default": _unreachable()}
    with pytest.raises(DomainError) as refused:
        publisher_kit.upload(plugin, "1.0.0")
    assert (refused.value.code, refused.value.field) == (CommonErrorCode.STORAGE_UNAVAILABLE, "bundle")
    assert not PluginVersion.objects.exists()
