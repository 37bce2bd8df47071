"""Freezing a version's locked dependencies into one read-only layer, verified file by file.

    lock file (signed with the bundle)
      -> pip download --require-hashes --only-binary=:all: --no-deps  (the runtime's Python and platform,
         from the configured index: PyPI, or an agency's internal mirror)
      -> every wheel re-hashed here and matched to exactly one pinned requirement
      -> installed with `installer` (PyPA's wheel installer; no build step, no code run) into site-packages/
      -> a reproducible tar.gz (sorted, mtime 0, root-owned, normalised modes) whose SHA-256 is the layer's
         digest, recorded with the version and checked before every run like code_sha256.

Wheels only: building an sdist would run the publisher's (or an attacker's) setup code on the platform.
Django-free, so that the publisher CLI can build the same layer locally for `argus-plugin run`.
"""

from __future__ import annotations

import enum
import gzip
import hashlib
import os
import platform
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.parser import BytesParser
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from .lockfile import LockedRequirement

SITE_PACKAGES = "site-packages"
CHUNK = 1 << 20
PIP_TIMEOUT_SECONDS = 600
# glibc of the runtime images (Debian bookworm: 2.36) bounds the manylinux tags a wheel may carry.
RUNTIME_GLIBC_MINOR = 36


class LayerErrorCode(enum.StrEnum):
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
    DEPENDENCY_HASH_MISMATCH = "DEPENDENCY_HASH_MISMATCH"
    DEPENDENCY_INSTALL_FAILED = "DEPENDENCY_INSTALL_FAILED"


class LayerBuildFailed(Exception):
    def __init__(self, code: LayerErrorCode, message: str, package: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.package = package


@dataclass(frozen=True)
class ResolvedPackage:
    name: str
    version: str
    filename: str
    sha256: str
    license: str
    summary: str


@dataclass(frozen=True)
class FrozenLayer:
    archive: Path  # the tar.gz file, where the caller asked for it
    sha256: str
    size: int
    packages: list[ResolvedPackage] = field(default_factory=list)


@dataclass(frozen=True)
class TargetPython:
    """The interpreter the wheels must fit: the runtime image's, not the platform's own."""

    version: str = "3.11"
    machine: str = field(default_factory=platform.machine)

    @property
    def abi(self) -> str:
        return "cp" + self.version.replace(".", "")

    def platforms(self) -> list[str]:
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(RUNTIME_GLIBC_MINOR, 4, -1)]
        legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
        return tags + [f"{name}_{self.machine}" for name in legacy]


def freeze_layer(
    requirements: Sequence[LockedRequirement],
    *,
    index_url: str,
    archive: Path,
    target: TargetPython | None = None,
    pip: Sequence[str] = (sys.executable, "-m", "pip"),
) -> FrozenLayer:
    """Fetch, verify, install and archive ``requirements`` into the new file ``archive``; LayerBuildFailed
    names the package at fault."""
    target = target or TargetPython()
    with tempfile.TemporaryDirectory(prefix="argus-layer-") as scratch:
        root = Path(scratch)
        wheels = _download(requirements, root / "download", index_url=index_url, target=target, pip=pip)
        site = root / "layer" / SITE_PACKAGES
        site.mkdir(parents=True)
        packages = [_install(path, requirement, site, target) for requirement, path in wheels]
        return write_layer_archive(root / "layer", archive, packages)


def lock_text(requirements: Sequence[LockedRequirement]) -> str:
    """The lock file pip is given: only what was parsed and checked, never the publisher's raw text."""
    return "".join(
        f"{r.name}=={r.version} " + " ".join(f"--hash=sha256:{h}" for h in r.hashes) + "\n"
        for r in requirements
    )


def _download(
    requirements: Sequence[LockedRequirement],
    directory: Path,
    *,
    index_url: str,
    target: TargetPython,
    pip: Sequence[str],
) -> list[tuple[LockedRequirement, Path]]:
    directory.mkdir(parents=True)
    lock = directory.parent / "requirements.lock"
    lock.write_text(lock_text(requirements), encoding="utf-8")
    command = [
        *pip, "download", "--require-hashes", "--only-binary=:all:", "--no-deps", "--no-cache-dir",
        "--disable-pip-version-check", "--no-input", "--index-url", index_url,
        "--implementation", "cp", "--python-version", target.version, "--abi", target.abi, "--abi", "abi3",
        "--abi", "none", *[arg for tag in target.platforms() for arg in ("--platform", tag)],
        "--dest", str(directory), "-r", str(lock),
    ]  # fmt: skip
    # Only the configured index decides what is fetched: no pip.conf, no PIP_* index/link/constraint options.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PIP_") or k in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT")
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, env=env)
    except subprocess.TimeoutExpired:
        raise LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_UNAVAILABLE,
            f"the package index did not answer in {PIP_TIMEOUT_SECONDS} s",
        ) from None
    if done.returncode != 0:
        raise _explain_pip_failure(done.stderr, requirements)
    return _match_files(requirements, directory)


def _explain_pip_failure(stderr: str, requirements: Sequence[LockedRequirement]) -> LayerBuildFailed:
    names = {r.name: r for r in requirements}
    if "DO NOT MATCH THE HASHES" in stderr:
        for line in stderr.splitlines():
            match = re.match(r"\s*(\S+?)(?:==\S+)? from ", line)
            if match and canonicalize_name(match.group(1)) in names:
                name = canonicalize_name(match.group(1))
                return LayerBuildFailed(
                    LayerErrorCode.DEPENDENCY_HASH_MISMATCH,
                    f"{names[name].pin}: the file the index serves matches no --hash in the lock file",
                    name,
                )
        return LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_HASH_MISMATCH, "a downloaded file did not match its hash"
        )
    match = re.search(r"No matching distribution found for (\S+)", stderr) or re.search(
        r"Could not find a version that satisfies the requirement (\S+)", stderr
    )
    if match:
        spec = match.group(1)
        name = canonicalize_name(re.split(r"[=<>!~ ]", spec, maxsplit=1)[0])
        return LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_UNAVAILABLE,
            f"{spec}: no wheel for CPython {TargetPython().version} on Linux in the package index "
            "(source distributions are not built)",
            name if name in names else None,
        )
    tail = " ".join(stderr.strip().splitlines()[-3:])[-500:]
    return LayerBuildFailed(LayerErrorCode.DEPENDENCY_UNAVAILABLE, f"pip download failed: {tail}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _match_files(
    requirements: Sequence[LockedRequirement], directory: Path
) -> list[tuple[LockedRequirement, Path]]:
    """Exactly one verified wheel per requirement: pip checked the hashes, we check them again."""
    by_name = {r.name: r for r in requirements}
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        try:
            name, version, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            raise LayerBuildFailed(
                LayerErrorCode.DEPENDENCY_UNAVAILABLE,
                f"{path.name} is not a wheel (only wheels are installed)",
            ) from None
        requirement = by_name.get(name)
        if requirement is None or canonicalize_version(version) != canonicalize_version(requirement.version):
            raise LayerBuildFailed(
                LayerErrorCode.DEPENDENCY_UNAVAILABLE, f"{path.name} was not asked for by the lock file"
            )
        if sha256_file(path) not in requirement.hashes:
            raise LayerBuildFailed(
                LayerErrorCode.DEPENDENCY_HASH_MISMATCH,
                f"{requirement.pin}: {path.name} does not match any --hash in the lock file",
                requirement.name,
            )
        found[name] = path
    missing = [r.pin for r in requirements if r.name not in found]
    if missing:
        raise LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_UNAVAILABLE,
            f"not downloaded: {', '.join(missing)}",
            missing[0].split("==")[0],
        )
    return [(r, found[r.name]) for r in requirements]


def _install(path: Path, requirement: LockedRequirement, site: Path, target: TargetPython) -> ResolvedPackage:
    destination = SchemeDictionaryDestination(
        {
            "purelib": str(site),
            "platlib": str(site),
            "headers": str(site.parent / "include" / requirement.name),
            "scripts": str(site.parent / "bin"),
            "data": str(site.parent / "data"),
        },
        interpreter=f"/usr/bin/python{target.version}",
        script_kind="posix",
        bytecode_optimization_levels=(),  # no .pyc: the plugin's files stay exactly what was hashed
    )
    try:
        with WheelFile.open(path) as wheel:
            metadata = BytesParser().parsebytes(wheel.read_dist_info("METADATA").encode())
            install(wheel, destination, additional_metadata={})
    except (InstallerError, ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:  # a malformed wheel
        raise LayerBuildFailed(
            LayerErrorCode.DEPENDENCY_INSTALL_FAILED,
            f"{requirement.pin}: {path.name} cannot be installed: {exc}",
            requirement.name,
        ) from None
    return ResolvedPackage(
        name=requirement.name,
        version=requirement.version,
        filename=path.name,
        sha256=sha256_file(path),
        license=_license(metadata),
        summary=str(metadata.get("Summary") or "")[:300],
    )


def _license(metadata) -> str:
    expression = metadata.get("License-Expression")
    if expression:
        return str(expression)
    classifiers = [
        c.split(" :: ")[-1] for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    if classifiers:
        return ", ".join(classifiers)
    text = str(metadata.get("License") or "").strip()
    return text.splitlines()[0][:100] if text else ""


#: Where the layer appears in the sandbox (the slot's deps/ directory) and what joins sys.path.
SANDBOX_LAYER_DIR = "/argus/deps"
SANDBOX_SITE_PACKAGES = f"{SANDBOX_LAYER_DIR}/{SITE_PACKAGES}"
MAX_LAYER_UNCOMPRESSED_BYTES = 1 << 30


def extract_layer(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Unpack the layer file ``archive`` this module built (and whose SHA-256 the caller verified) into the
    empty ``dest``, streaming: regular files and directories only, relative paths that stay inside, bounded
    in size."""
    root = Path(dest)
    total = 0
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            if not parts or member.name.startswith("/") or ".." in parts:
                raise LayerBuildFailed(
                    LayerErrorCode.DEPENDENCY_INSTALL_FAILED, f"unsafe path {member.name!r}"
                )
            target = root.joinpath(*parts)
            if member.isdir():
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            if not member.isreg():
                raise LayerBuildFailed(
                    LayerErrorCode.DEPENDENCY_INSTALL_FAILED, f"not a file: {member.name!r}"
                )
            total += member.size
            if total > MAX_LAYER_UNCOMPRESSED_BYTES:
                raise LayerBuildFailed(LayerErrorCode.DEPENDENCY_INSTALL_FAILED, "the layer is too large")
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None  # a regular file
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(CHUNK):
                    handle.write(chunk)
            os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)


def write_layer_archive(root: Path, archive: Path, packages: list[ResolvedPackage]) -> FrozenLayer:
    """Archive the tree under ``root`` into the new file ``archive`` (never held in memory) and hash it."""
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as out:
        deterministic_tar_gz(root, out)
    return FrozenLayer(archive, sha256_file(archive), archive.stat().st_size, packages)


def deterministic_tar_gz(root: Path, out: BinaryIO) -> None:
    """Write the tree under ``root`` to ``out`` as a tar.gz whose bytes depend only on names, contents and
    the executable bit: the same wheels give the same digest on every node and at every rebuild."""
    with (
        # filename="": no file name in the gzip header (GzipFile would take out.name), only the contents.
        gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0, compresslevel=6) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for path in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
            relative = path.relative_to(root).as_posix()
            info = tarfile.TarInfo(relative)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_symlink():
                raise LayerBuildFailed(
                    LayerErrorCode.DEPENDENCY_INSTALL_FAILED, f"symlink in layer: {relative}"
                )
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
                continue
            info.size = path.stat().st_size
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            with path.open("rb") as handle:
                archive.addfile(info, handle)
