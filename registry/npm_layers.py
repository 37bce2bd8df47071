"""Freezing an npm lock into a layer: each tarball fetched from the configured registry (never from the
lock's own ``resolved`` URL), its sha512 integrity checked, unpacked (regular files only, first path
segment stripped as npm does) into node_modules/ at the lock's path, then archived reproducibly like a
Python layer. No install scripts run: packages that need them are refused by the lock check.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import requests

from .layers import FrozenLayer, LayerBuildFailed, LayerErrorCode, ResolvedPackage, write_layer_archive
from .lockfile import LockedRequirement

DOWNLOAD_TIMEOUT = (15, 120)
MAX_TARBALL_BYTES = 200 * 1024 * 1024


def tarball_url(registry_url: str, name: str, version: str) -> str:
    base = name.rsplit("/", 1)[-1]
    return f"{registry_url.rstrip('/')}/{quote(name, safe='@/')}/-/{base}-{version}.tgz"


def freeze_npm_layer(
    requirements: Sequence[LockedRequirement], *, registry_url: str, archive: Path
) -> FrozenLayer:
    """Fetch, verify and unpack ``requirements`` and archive them into the new file ``archive``."""
    with tempfile.TemporaryDirectory(prefix="argus-npm-layer-") as scratch, requests.Session() as session:
        root = Path(scratch) / "layer"
        root.mkdir()
        packages = [_install(session, registry_url, requirement, root) for requirement in requirements]
        return write_layer_archive(root, archive, packages)


def _download(session: requests.Session, url: str, requirement: LockedRequirement) -> bytes:
    try:
        response = session.get(url, timeout=DOWNLOAD_TIMEOUT, stream=True)
        response.raise_for_status()
        data = bytearray()
        for chunk in response.iter_content(1 << 20):
            data += chunk
            if len(data) > MAX_TARBALL_BYTES:
                raise LayerBuildFailed(
                    LayerErrorCode.DEPENDENCY_UNAVAILABLE,
                    f"{requirement.pin}: tarball too large",
                    requirement.name,
                )
    except requests.RequestException as exc:
        raise LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_UNAVAILABLE,
            f"{requirement.pin}: cannot fetch {url}: {exc}",
            requirement.name,
        ) from None
    return bytes(data)


def _install(
    session: requests.Session, registry_url: str, requirement: LockedRequirement, root: Path
) -> ResolvedPackage:
    url = tarball_url(registry_url, requirement.name, requirement.version)
    data = _download(session, url, requirement)
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest not in requirement.hashes:
        raise LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_HASH_MISMATCH,
            f"{requirement.pin}: the tarball the registry serves matches no integrity in the lock file",
            requirement.name,
        )
    target = root / PurePosixPath(requirement.path)
    manifest: dict = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts[1:]  # npm strips the first segment ("package/")
                if not parts or ".." in parts or member.name.startswith("/"):
                    continue
                if member.isdir():
                    continue
                if not member.isreg():  # symlinks, devices: never part of a layer
                    continue
                destination = target.joinpath(*parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                content = source.read()
                destination.write_bytes(content)
                destination.chmod(0o644)
                if parts == ("package.json",):
                    manifest = json.loads(content)
    except (tarfile.TarError, OSError, ValueError) as exc:
        raise LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_INSTALL_FAILED,
            f"{requirement.pin}: cannot unpack: {exc}",
            requirement.name,
        ) from None
    license_field = manifest.get("license") if isinstance(manifest, dict) else None
    return ResolvedPackage(
        name=requirement.name,
        version=requirement.version,
        filename=url.rsplit("/", 1)[-1],
        sha256=hashlib.sha256(data).hexdigest(),
        license=license_field if isinstance(license_field, str) else "",
        summary=str(manifest.get("description", ""))[:300] if isinstance(manifest, dict) else "",
    )
