"""A version's third-party packages: checked at upload, frozen into a layer at submission, required
before approval, verified before every run.

Why at submission: the reviewer must see exactly what will run (the SBOM of the frozen layer) before
approving, and a lock file that cannot be resolved (a yanked file, a wrong hash, no wheel for the runtime)
should reach the publisher before a reviewer spends time on the version. Approval is refused until the
layer is RESOLVED; runs verify the layer's archive SHA-256 like the bundle's code_sha256.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError, DomainErrors
from argus_plugins.core.objects import copy_object, delete_object, storage_errors
from argus_plugins.core.publishing import publish_after_commit

from . import bundles, ecosystems
from .error_codes import RegistryErrorCode
from .layers import LayerBuildFailed, ResolvedPackage
from .lockfile import MAX_LOCK_FILE_BYTES, LockedRequirement, LockFileInvalid
from .manifest import lock_file_of
from .models import DependencyLayer, LayerStatus, PluginVersion
from .sbom import build_sbom, sbom_diff

logger = logging.getLogger(__name__)
FREEZE_TASK = "registry.freeze_dependencies"


def ecosystem_of(runtime: str) -> str:
    return settings.ARGUS_RUNTIME_IMAGES.get(runtime, {}).get("dependencies", ecosystems.PIP)


def sources() -> ecosystems.Sources:
    return ecosystems.Sources(
        pip_index_url=settings.ARGUS_PACKAGE_INDEX_URL, npm_registry_url=settings.ARGUS_NPM_REGISTRY_URL
    )


def locked_requirements(manifest: dict[str, Any], bundle_bytes: bytes) -> list[LockedRequirement] | None:
    """The parsed lock file a manifest declares (None when it declares none); typed errors naming the
    file and line otherwise. Called at upload, so that nothing unpinned or unhashed is ever stored."""
    lock_file = lock_file_of(manifest)
    if lock_file is None:
        return None
    try:
        data = bundles.read_bundle_file(
            bundle_bytes,
            lock_file,
            max_bytes=MAX_LOCK_FILE_BYTES,
            max_bundle_bytes=settings.ARGUS_MAX_BUNDLE_BYTES,
            max_uncompressed_bytes=settings.ARGUS_MAX_BUNDLE_UNCOMPRESSED_BYTES,
            max_members=settings.ARGUS_MAX_BUNDLE_MEMBERS,
        )
    except bundles.BundleRejected as rejected:
        raise DomainError(rejected.code, rejected.message, "bundle") from None
    try:
        return ecosystems.parse_lock(ecosystem_of(str(manifest.get("runtime"))), data or b"")
    except LockFileInvalid as invalid:
        raise DomainErrors(
            DomainError(problem.code, f"{lock_file}: {problem}", "bundle") for problem in invalid.problems
        ) from None


def attach_layer(version: PluginVersion, bundle_bytes: bytes) -> DependencyLayer | None:
    """At submission: point the version at the layer of its lock file, creating it (PENDING, frozen by a
    task after commit) unless an identical lock was frozen before; a FAILED one is tried again."""
    requirements = locked_requirements(version.manifest, bundle_bytes)
    if requirements is None:
        return None
    ecosystem = ecosystem_of(version.runtime)
    text = ecosystems.normalized_lock(ecosystem, requirements)
    digest = hashlib.sha256(text.encode()).hexdigest()
    layer, created = DependencyLayer.objects.get_or_create(
        runtime=version.runtime, lock_sha256=digest, defaults={"lock_text": text, "ecosystem": ecosystem}
    )
    if not created and layer.status == LayerStatus.FAILED:
        DependencyLayer.objects.filter(pk=layer.pk, status=LayerStatus.FAILED).update(
            status=LayerStatus.PENDING, error_code="", error_message=""
        )
        layer.refresh_from_db()
    PluginVersion.objects.filter(pk=version.pk).update(dependency_layer=layer)
    version.dependency_layer = layer
    if layer.status == LayerStatus.PENDING:
        publish_after_commit(FREEZE_TASK, str(layer.pk))
    return layer


def require_resolved(version: PluginVersion) -> None:
    """Approval's precondition: a declared lock file has been frozen."""
    if lock_file_of(version.manifest) is None:
        return
    layer = version.dependency_layer
    if layer is None or layer.status != LayerStatus.RESOLVED:
        state = "not resolved yet" if layer is None or layer.status == LayerStatus.PENDING else "failed"
        detail = f": [{layer.error_code}] {layer.error_message}" if layer and layer.error_message else ""
        raise DomainError(
            RegistryErrorCode.DEPENDENCIES_NOT_RESOLVED,
            f"The version's dependencies are {state}{detail}; it cannot be approved until they are frozen.",
            "id",
        )


def freeze(layer_id: Any) -> DependencyLayer | None:
    """The task body: fetch, verify, install and store the layer; record RESOLVED or FAILED. Idempotent.

    The archive is built in a temporary file and streamed from there to the store (in parts, on S3): a layer
    is never held in memory whole."""
    layer = DependencyLayer.objects.filter(pk=layer_id).first()
    if layer is None or layer.status != LayerStatus.PENDING:
        return layer
    requirements = ecosystems.parse_lock(layer.ecosystem, layer.lock_text.encode())
    python_version = settings.ARGUS_RUNTIME_IMAGES.get(layer.runtime, {}).get("python_version", "3.11")
    with tempfile.TemporaryDirectory(prefix="argus-freeze-") as scratch:
        try:
            frozen = ecosystems.freeze(
                layer.ecosystem,
                requirements,
                dataclasses.replace(sources(), python_version=python_version),
                Path(scratch) / "layer.tar.gz",
            )
        except LayerBuildFailed as failed:
            DependencyLayer.objects.filter(pk=layer.pk, status=LayerStatus.PENDING).update(
                status=LayerStatus.FAILED, error_code=failed.code.value, error_message=failed.message
            )
            logger.warning("Dependency layer %s failed: %s", layer.pk, failed.message)
            layer.refresh_from_db()
            return layer
        # StorageUnavailable: stays PENDING, the sweeper publishes it again.
        with storage_errors(), frozen.archive.open("rb") as handle:
            name = default_storage.save(f"layers/{layer.runtime}/{frozen.sha256}.tar.gz", File(handle))
    with transaction.atomic():
        updated = DependencyLayer.objects.filter(pk=layer.pk, status=LayerStatus.PENDING).update(
            status=LayerStatus.RESOLVED,
            archive=name,
            archive_sha256=frozen.sha256,
            archive_size=frozen.size,
            packages=[package.__dict__ for package in frozen.packages],
            resolved_at=clock.now(),
        )
    if not updated:  # resolved concurrently by a redelivered task: keep theirs
        delete_object(name)
    layer.refresh_from_db()
    return layer


def verified_layer(version: PluginVersion, target: Path) -> Path | None:
    """Stream the version's frozen layer from the store into the new file ``target``, hashing it while it is
    copied (what is hashed is what is mounted), and return ``target``; None when the version has no
    dependencies. INTEGRITY_MISMATCH when the layer is unresolved, missing or altered (``target`` is gone
    then); StorageUnavailable when the store cannot be reached."""
    if lock_file_of(version.manifest) is None:
        return None
    layer = version.dependency_layer
    if layer is None or layer.status != LayerStatus.RESOLVED:
        raise DomainError(
            RegistryErrorCode.INTEGRITY_MISMATCH, "The version's dependency layer is not resolved."
        )
    try:
        digest = copy_object(layer.archive.name, target)
    except FileNotFoundError:
        raise DomainError(RegistryErrorCode.INTEGRITY_MISMATCH, "The dependency layer is missing.") from None
    if digest != layer.archive_sha256:
        target.unlink()
        raise DomainError(
            RegistryErrorCode.INTEGRITY_MISMATCH, "The dependency layer does not match its recorded SHA-256."
        )
    return target


def sbom_of(version: PluginVersion) -> dict[str, Any] | None:
    """The CycloneDX SBOM of a version's frozen layer (None without dependencies or before freezing)."""
    layer = version.dependency_layer
    if layer is None or layer.status != LayerStatus.RESOLVED:
        return None
    packages = [ResolvedPackage(**package) for package in layer.packages]
    return build_sbom(
        version.plugin.slug,
        version.version,
        packages,
        layer_sha256=layer.archive_sha256,
        purl_type=ecosystems.PURL_TYPES[layer.ecosystem],
    )


def sbom_changes(version: PluginVersion) -> dict[str, list[str]] | None:
    """Packages added, removed and changed since the previous published version of the same plugin."""
    current = sbom_of(version)
    if current is None:
        return None
    previous_version = (
        PluginVersion.objects.filter(
            plugin_id=version.plugin_id,
            precedence_key__lt=version.precedence_key,
            published_at__isnull=False,
        )
        .select_related("dependency_layer", "plugin")
        .order_by("-precedence_key")
        .first()
    )
    return sbom_diff(sbom_of(previous_version) if previous_version else None, current)


def sweep_stale_layers() -> int:
    """Publish the freeze task again for layers left PENDING (the first message was lost)."""
    stale = clock.now() - dt.timedelta(seconds=settings.ARGUS_LAYER_STALE_SECONDS)
    layer_ids = list(
        DependencyLayer.objects.filter(status=LayerStatus.PENDING, created_at__lt=stale).values_list(
            "pk", flat=True
        )
    )
    for layer_id in layer_ids:
        publish_after_commit(FREEZE_TASK, str(layer_id))
    return len(layer_ids)
