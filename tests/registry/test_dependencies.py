"""Plugin dependencies through the registry: lock files checked at upload, layers frozen at submission
(for real, from PyPI), approval gated on them, cached by lock hash, SBOM and changes through GraphQL."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from argus_plugins.core.errors import DomainError, DomainErrors
from registry import dependencies
from registry import services as registry_services
from registry.layers import extract_layer
from registry.models import DependencyLayer, LayerStatus, PluginVersion
from tests.support.object_store import s3_bucket
from tests.support.publishing import manifest_for

SIX = "six==1.17.0 --hash=sha256:4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274\n"
SIX_OLD = "six==1.16.0 --hash=sha256:8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254\n"
MAIN = "import six\nprint(six.__version__)\n"
VERSION = """query($id: ID!) { pluginVersion(id: $id) {
  status dependencies { lockFile status lockSha256 layerSha256 errorCode errorMessage
    packages { name version license sha256 } }
  sbom sbomChanges } }"""


@pytest.fixture
def plugin(publisher_kit):
    return registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="six-user", name="Six user"
    )


def _upload(kit, plugin, version, lock: str | None, *, lock_file: str = "requirements.lock"):
    manifest = manifest_for(plugin.slug, version, dependencies={"lock_file": lock_file})
    files = {"main.py": MAIN}
    if lock is not None:
        files["requirements.lock"] = lock
    return kit.upload(plugin, version, manifest=manifest, files=files)


@pytest.mark.parametrize(
    ("lock", "code", "says"),
    [
        ("six>=1.0 --hash=sha256:" + "a" * 64 + "\n", "DEPENDENCY_UNPINNED", "line 1: six is not pinned"),
        ("pefile==2024.8.26\n", "DEPENDENCY_UNHASHED", "line 1: pefile==2024.8.26 has no --hash"),
        ("-e git+https://example.org/x\n", "LOCK_FILE_INVALID", "line 1"),
    ],
)
def test_an_unpinned_or_unhashed_lock_is_refused_at_upload(world, publisher_kit, plugin, lock, code, says):
    with pytest.raises((DomainError, DomainErrors)) as refused:
        _upload(publisher_kit, plugin, "1.0.0", lock)
    errors = getattr(refused.value, "errors", [refused.value])
    assert [(e.code.value, e.field) for e in errors] == [(code, "bundle")]
    assert "requirements.lock: " + says in errors[0].message
    assert not PluginVersion.objects.exists()


def test_a_declared_lock_file_must_be_in_the_bundle(world, publisher_kit, plugin):
    with pytest.raises((DomainError, DomainErrors)) as refused:
        _upload(publisher_kit, plugin, "1.0.0", None)
    errors = getattr(refused.value, "errors", [refused.value])
    assert [e.code.value for e in errors] == ["LOCK_FILE_MISSING"]


def test_submission_freezes_a_layer_that_approval_requires(
    world, publisher_kit, plugin, gql_for, django_capture_on_commit_callbacks
):
    version = _upload(publisher_kit, plugin, "1.0.0", SIX)
    with django_capture_on_commit_callbacks(execute=False) as published:
        registry_services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    assert len(published) == 1  # the freeze task, after commit
    version.refresh_from_db()
    layer = version.dependency_layer
    assert layer.status == LayerStatus.PENDING and layer.lock_text == SIX

    with pytest.raises(DomainError) as refused:
        registry_services.approve_version(actor=world.staff, version_id=version.pk)
    assert refused.value.code.value == "DEPENDENCIES_NOT_RESOLVED"

    dependencies.freeze(layer.pk)  # the task body, for real
    layer.refresh_from_db()
    assert layer.status == LayerStatus.RESOLVED and len(layer.archive_sha256) == 64
    shown = gql_for(publisher_kit.owner).execute(VERSION, {"id": str(version.pk)}).data["pluginVersion"]
    assert shown["dependencies"]["status"] == "RESOLVED"
    assert shown["dependencies"]["layerSha256"] == layer.archive_sha256
    assert shown["dependencies"]["packages"][0]["name"] == "six"
    sbom = json.loads(shown["sbom"])
    assert sbom["bomFormat"] == "CycloneDX" and sbom["components"][0]["version"] == "1.17.0"
    assert json.loads(shown["sbomChanges"]) == {"added": ["six==1.17.0"], "removed": [], "changed": []}

    approved = registry_services.approve_version(actor=world.staff, version_id=version.pk)
    assert approved.status == "PUBLISHED"


def test_a_wrong_hash_fails_the_layer_visibly_and_blocks_approval(world, publisher_kit, plugin, gql_for):
    version = _upload(publisher_kit, plugin, "1.0.0", SIX.replace("4721f391", "0000f391"))
    registry_services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    version.refresh_from_db()
    dependencies.freeze(version.dependency_layer_id)
    shown = gql_for(publisher_kit.owner).execute(VERSION, {"id": str(version.pk)}).data["pluginVersion"]
    assert shown["dependencies"]["status"] == "FAILED"
    assert shown["dependencies"]["errorCode"] == "DEPENDENCY_HASH_MISMATCH"
    assert "six==1.17.0" in shown["dependencies"]["errorMessage"] and shown["sbom"] is None
    with pytest.raises(DomainError) as refused:
        registry_services.approve_version(actor=world.staff, version_id=version.pk)
    assert (
        refused.value.code.value == "DEPENDENCIES_NOT_RESOLVED"
        and "DEPENDENCY_HASH_MISMATCH" in refused.value.message
    )
    assert not DependencyLayer.objects.exclude(archive="").exists()  # nothing half-built stored


def test_layers_are_cached_by_lock_hash_and_changes_are_shown(world, publisher_kit, plugin, gql_for):
    old = _upload(publisher_kit, plugin, "1.0.0", SIX_OLD)
    registry_services.submit_for_review(actor=publisher_kit.owner, version_id=old.pk)
    old.refresh_from_db()
    dependencies.freeze(old.dependency_layer_id)
    registry_services.approve_version(actor=world.staff, version_id=old.pk)

    same = _upload(publisher_kit, plugin, "1.0.1", SIX_OLD)
    registry_services.submit_for_review(actor=publisher_kit.owner, version_id=same.pk)
    same.refresh_from_db()
    assert same.dependency_layer_id == old.dependency_layer_id  # no second build
    registry_services.approve_version(actor=world.staff, version_id=same.pk)

    new = _upload(publisher_kit, plugin, "1.1.0", SIX)
    registry_services.submit_for_review(actor=publisher_kit.owner, version_id=new.pk)
    new.refresh_from_db()
    dependencies.freeze(new.dependency_layer_id)
    shown = gql_for(world.staff).execute(VERSION, {"id": str(new.pk)}).data["pluginVersion"]
    assert json.loads(shown["sbomChanges"]) == {
        "added": [],
        "removed": [],
        "changed": ["six: 1.16.0 -> 1.17.0"],
    }
    assert DependencyLayer.objects.count() == 2


def test_the_review_page_shows_the_packages_their_changes_and_the_sbom(world, publisher_kit, plugin):
    from django.test import Client
    from django.urls import reverse

    version = _upload(publisher_kit, plugin, "1.0.0", SIX)
    registry_services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    version.refresh_from_db()
    client = Client()
    client.force_login(world.staff)
    url = reverse("admin:registry_pluginversionreview_change", args=[version.pk])
    pending = client.get(url).content.decode()
    assert "cannot be approved until its dependencies are frozen" in pending
    dependencies.freeze(version.dependency_layer_id)
    page = client.get(url).content.decode()
    assert "Third-party packages" in page and "<td>six</td><td>1.17.0</td><td>MIT License</td>" in page
    assert "<strong>added</strong>: six==1.17.0" in page and "CycloneDX" in page


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def store(request, settings):
    """The filesystem backend, and the real S3 server."""
    if request.param == "file":
        yield None
        return
    with s3_bucket() as bucket:
        settings.STORAGES = bucket.storages()
        yield bucket


def test_a_frozen_layer_is_streamed_to_the_store_and_back_into_a_run_hashed_on_the_way(
    store, world, publisher_kit, plugin, tmp_path
):
    version = _upload(publisher_kit, plugin, "1.0.0", SIX)
    registry_services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    version.refresh_from_db()
    dependencies.freeze(version.dependency_layer_id)
    version = PluginVersion.objects.select_related("dependency_layer").get(pk=version.pk)
    layer = version.dependency_layer
    with default_storage.open(layer.archive.name, "rb") as handle:
        stored = handle.read()
    assert hashlib.sha256(stored).hexdigest() == layer.archive_sha256 and len(stored) == layer.archive_size
    if store is not None:
        assert store.keys() >= {layer.archive.name}  # in the bucket (and nowhere on local disk)

    copied = dependencies.verified_layer(version, tmp_path / "layer.tar.gz")
    assert copied == tmp_path / "layer.tar.gz" and copied.read_bytes() == stored
    extract_layer(copied, tmp_path / "deps")
    assert (tmp_path / "deps" / "site-packages" / "six.py").is_file()

    # One flipped byte in the stored object: refused, and nothing of it is left where it was copied to.
    altered = bytearray(stored)
    altered[len(altered) // 2] ^= 0x01
    default_storage.delete(layer.archive.name)
    default_storage.save(layer.archive.name, ContentFile(bytes(altered)))
    with pytest.raises(DomainError) as refused:
        dependencies.verified_layer(version, tmp_path / "again.tar.gz")
    assert refused.value.code.value == "INTEGRITY_MISMATCH"
    assert refused.value.message == "The dependency layer does not match its recorded SHA-256."
    assert not (tmp_path / "again.tar.gz").exists()

    default_storage.delete(layer.archive.name)
    with pytest.raises(DomainError, match="The dependency layer is missing"):
        dependencies.verified_layer(version, tmp_path / "missing.tar.gz")
    assert not (tmp_path / "missing.tar.gz").exists()
