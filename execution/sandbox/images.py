"""Runtime images, built offline: debootstrap a minimal Debian rootfs, trim it, add the sandbox user
and the launcher, and ``docker import`` it. No registry is involved at any point.

Two caches keep rebuilds cheap:

* the raw debootstrap output is kept as ``<cache_dir>/rootfs-<key>.tar`` (key = suite, variant,
  packages, architecture), so changing the launcher or the trimming rules re-imports in seconds;
* images carry ``org.argus.runtime.revision`` (a hash of the whole recipe, launcher.py included)
  and are only rebuilt when that label differs from the expected revision (or with force=True).

debootstrap must run as root; on a fresh Debian machine ``apt-get install debootstrap`` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import io
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors

from argus_plugins.runtimes import runtime_images

from .container import LAUNCHER_COMMAND, LAUNCHER_PATH, docker_errors
from .errors import ImageBuildError, RuntimeImageMissing
from .spec import SANDBOX_GID, SANDBOX_UID

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_CACHE_DIR = Path("/var/cache/argus-runtime")

# What settings.ARGUS_RUNTIME_IMAGES defaults to (one table: argus_plugins/runtimes.py). Bump a tag's
# number only for a deliberate break; ordinary recipe changes are tracked by the revision label.
DEFAULT_RUNTIME_IMAGES: dict[str, dict[str, Any]] = runtime_images()

LABEL_RUNTIME = "org.argus.runtime"
LABEL_REVISION = "org.argus.runtime.revision"

# Bump when the way the rules below are applied changes (the rules themselves are hashed).
RECIPE_VERSION = 2  # 2: the launcher ships pre-compiled
DEBOOTSTRAP_VARIANT = "minbase"

# Removed from the image: documentation, translations, package-manager caches and logs. The
# copyright files stay (licence compliance), like in Debian's own slim images.
_DOC = "usr/share/doc/"
_STRIP_TREES = (
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "usr/share/linda/",
    "usr/share/doc-base/",
    "usr/share/bug/",
    "var/lib/apt/lists/",
    "var/cache/apt/",
    "var/log/",
)
# Mount points and pseudo filesystems: the engine provides their contents.
_EMPTY_DIRS = ("dev/", "proc/", "sys/", "tmp/", "run/")
_ARGUS_DIRS = ("argus", "argus/plugin", "argus/evidence", "argus/output", "argus/artifacts", "opt/argus")

Log = Callable[[str], None]
_NOISY = ("I: Retrieving ", "I: Validating ", "I: Unpacking ", "I: Configuring ", "I: Extracting ")


@dataclass(frozen=True)
class RuntimeRecipe:
    name: str
    image: str
    suite: str = "bookworm"
    packages: tuple[str, ...] = ("python3",)
    interpreter: tuple[str, ...] = ("python3",)
    mirror: str = DEFAULT_MIRROR

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any], mirror: str | None = None) -> RuntimeRecipe:
        return cls(
            name=name,
            image=config["image"],
            suite=config.get("suite", "bookworm"),
            packages=tuple(config.get("packages", ("python3",))),
            interpreter=tuple(config.get("interpreter", ("python3",))),
            mirror=mirror or config.get("mirror", DEFAULT_MIRROR),
        )

    def rootfs_key(self) -> str:
        arch = os.uname().machine
        raw = json.dumps([self.suite, DEBOOTSTRAP_VARIANT, sorted(self.packages), arch])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def revision(self, launcher: bytes | None = None) -> str:
        """Changes whenever anything that ends up in the image changes (the mirror does not)."""
        digest = hashlib.sha256()
        rules = [RECIPE_VERSION, _DOC, _STRIP_TREES, _EMPTY_DIRS, _ARGUS_DIRS, SANDBOX_UID, SANDBOX_GID]
        digest.update(json.dumps([rules, self.rootfs_key(), list(self.interpreter)]).encode())
        digest.update(launcher_source() if launcher is None else launcher)
        digest.update(f"{sys.implementation.cache_tag}:{importlib.util.MAGIC_NUMBER.hex()}".encode())
        digest.update(json.dumps(import_changes(self, "")).encode())
        return digest.hexdigest()[:16]


@dataclass
class BuildReport:
    name: str
    image: str
    revision: str
    built: bool
    seconds: float
    size_bytes: int = 0


def launcher_source() -> bytes:
    return (Path(__file__).parent / "launcher.py").read_bytes()


def launcher_bytecode(source: bytes) -> tuple[str, bytes]:
    """The launcher compiled here, at build time, as (path in the image, pyc bytes).

    Every run starts a launcher; compiling its source each time (the root filesystem is read-only, so
    Python cannot cache it) would cost each run several milliseconds of CPU. An unchecked-hash pyc is
    used as is; an image whose Python has another cache tag or magic number just compiles the source.
    """
    with tempfile.TemporaryDirectory(prefix="argus-launcher-") as tmp:
        source_path, pyc_path = Path(tmp) / "launcher.py", Path(tmp) / "launcher.pyc"
        source_path.write_bytes(source)
        py_compile.compile(
            str(source_path),
            cfile=str(pyc_path),
            dfile=LAUNCHER_PATH,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        bytecode = pyc_path.read_bytes()
    directory = PurePosixPath(LAUNCHER_PATH).parent / "__pycache__"
    name = f"{PurePosixPath(LAUNCHER_PATH).stem}.{sys.implementation.cache_tag}.pyc"
    return str(directory / name).lstrip("/"), bytecode


def import_changes(recipe: RuntimeRecipe, revision: str) -> list[str]:
    return [
        f"LABEL {LABEL_RUNTIME}={recipe.name}",
        f"LABEL {LABEL_REVISION}={revision}",
        f"USER {SANDBOX_UID}:{SANDBOX_GID}",
        "WORKDIR /argus/plugin",
        "ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8",
        "CMD " + json.dumps(LAUNCHER_COMMAND),
    ]


def installed_revision(client: docker.DockerClient, image: str) -> str | None:
    try:
        with docker_errors("inspect a runtime image"):
            info = client.api.inspect_image(image)
    except RuntimeImageMissing:
        return None
    labels = (info.get("Config") or {}).get("Labels") or {}
    return labels.get(LABEL_REVISION)


def ensure_runtime_images(
    client: docker.DockerClient,
    images: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    force: bool = False,
    refresh_rootfs: bool = False,
    mirror: str | None = None,
    log: Log = print,
) -> list[BuildReport]:
    """Build every runtime image that is missing or out of date; returns one report each."""
    reports = []
    for name, config in (images or DEFAULT_RUNTIME_IMAGES).items():
        recipe = RuntimeRecipe.from_config(name, config, mirror)
        reports.append(
            ensure_runtime_image(
                client, recipe, cache_dir=cache_dir, force=force, refresh_rootfs=refresh_rootfs, log=log
            )
        )
    return reports


def ensure_runtime_image(
    client: docker.DockerClient,
    recipe: RuntimeRecipe,
    *,
    cache_dir: Path = DEFAULT_CACHE_DIR,
    force: bool = False,
    refresh_rootfs: bool = False,
    log: Log = print,
) -> BuildReport:
    started = time.monotonic()
    launcher = launcher_source()  # read once: the label and the content must match
    revision = recipe.revision(launcher)
    if not force and installed_revision(client, recipe.image) == revision:
        log(f"[{recipe.name}] {recipe.image} is up to date (revision {revision})")
        return BuildReport(recipe.name, recipe.image, revision, False, time.monotonic() - started)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # One build at a time per cache dir (parallel test workers, two deploy scripts...).
    with _locked(cache_dir / ".build.lock"):
        if not force and installed_revision(client, recipe.image) == revision:
            log(f"[{recipe.name}] {recipe.image} was built meanwhile (revision {revision})")
            return BuildReport(recipe.name, recipe.image, revision, False, time.monotonic() - started)
        rootfs_tar = _rootfs_tarball(recipe, cache_dir, refresh=refresh_rootfs, log=log)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix="image-") as tmp:
            image_tar = Path(tmp) / "image.tar"
            log(f"[{recipe.name}] trimming the rootfs and adding the launcher")
            _write_image_tar(rootfs_tar, image_tar, launcher, log=log)
            log(f"[{recipe.name}] importing {image_tar.stat().st_size // (1 << 20)} MiB as {recipe.image}")
            _import(client, image_tar, recipe, revision)
    size = client.api.inspect_image(recipe.image).get("Size", 0)
    seconds = time.monotonic() - started
    mib = size // (1 << 20)
    log(f"[{recipe.name}] built {recipe.image} (revision {revision}, {mib} MiB) in {seconds:.1f}s")
    return BuildReport(recipe.name, recipe.image, revision, True, seconds, size)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rootfs_tarball(recipe: RuntimeRecipe, cache_dir: Path, *, refresh: bool, log: Log) -> Path:
    target = cache_dir / f"rootfs-{recipe.suite}-{recipe.rootfs_key()}.tar"
    if target.exists() and not refresh:
        log(f"[{recipe.name}] using cached rootfs {target}")
        return target
    # debootstrap and the tools it calls (chroot, mknod...) live in sbin, which a service's PATH
    # may lack.
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
    debootstrap = shutil.which("debootstrap", path=path)
    if debootstrap is None:
        raise ImageBuildError(
            "debootstrap is not installed (apt-get install debootstrap); cannot build runtime images"
        )
    if os.geteuid() != 0:
        raise ImageBuildError(
            "building runtime images needs root (debootstrap creates device nodes and owners)"
        )
    work = Path(tempfile.mkdtemp(dir=cache_dir, prefix="debootstrap-"))
    rootfs = work / "rootfs"
    try:
        cmd = [
            debootstrap,
            f"--variant={DEBOOTSTRAP_VARIANT}",
            f"--include={','.join(recipe.packages)}",
            recipe.suite,
            str(rootfs),
            recipe.mirror,
        ]
        log(f"[{recipe.name}] {' '.join(cmd)}")
        t = time.monotonic()
        _run_logged(cmd, prefix=f"[{recipe.name}] debootstrap: ", log=log, env={**os.environ, "PATH": path})
        log(f"[{recipe.name}] debootstrap done in {time.monotonic() - t:.0f}s; packing {target.name}")
        partial = work / "rootfs.tar"
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(partial), "."],
            check=True,
        )
        os.replace(partial, target)
    except subprocess.CalledProcessError as exc:
        raise ImageBuildError(f"{exc.cmd[0]} failed with exit code {exc.returncode}") from exc
    finally:
        _unmount_under(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    return target


def _run_logged(cmd: list[str], *, prefix: str, log: Log, env: dict[str, str]) -> None:
    # debootstrap is chatty: show its milestones, warnings and errors; keep a tail for failures.
    tail: list[str] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-30:], line]
            if line[:2] in {"W:", "E:"} or (line.startswith("I:") and not line.startswith(_NOISY)):
                log(prefix + line)
    if proc.returncode != 0:
        log(prefix + "last output:\n" + "\n".join(tail))
        raise subprocess.CalledProcessError(proc.returncode, cmd)


def _unmount_under(path: Path) -> None:
    """A failed debootstrap can leave /proc or /sys mounted inside the target: never rm -r those."""
    try:
        with open("/proc/mounts") as fh:
            mounts = [line.split()[1] for line in fh]
    except OSError:
        return
    prefix = str(path.resolve()) + "/"
    for mountpoint in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", mountpoint], check=False)


def _keep(name: str) -> bool:
    if any(name.startswith(d) for d in _EMPTY_DIRS):
        return False
    if name.startswith(_DOC):
        # Keep each package's directory and its copyright file, nothing else.
        rest = name[len(_DOC) :]
        return "/" not in rest or (rest.count("/") == 1 and rest.endswith("/copyright"))
    return not any(name.startswith(tree) for tree in _STRIP_TREES)


def _write_image_tar(rootfs_tar: Path, image_tar: Path, launcher: bytes, *, log: Log) -> None:
    """Copy the debootstrap tarball member by member, trimming and fixing it on the way."""
    dropped: set[str] = set()
    kept = 0
    with (
        tarfile.open(rootfs_tar, "r:") as src,
        tarfile.open(image_tar, "w:", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member in src:
            name = str(PurePosixPath(member.name))
            name = "" if name == "." else name.removeprefix("./")
            if not name:
                continue
            if not _keep(name) or (member.islnk() and _norm(member.linkname) in dropped):
                dropped.add(name)
                continue
            member.name = name
            if member.islnk():
                member.linkname = _norm(member.linkname)
            member.uname = member.gname = ""
            if member.isfile():
                # No setuid/setgid programs: nothing in the sandbox may gain privileges.
                member.mode &= ~0o6000
            if name in {"etc/passwd", "etc/group"}:
                fh = src.extractfile(member)
                assert fh is not None
                data = fh.read() + _user_line(name)
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            elif member.isfile():
                dst.addfile(member, src.extractfile(member))
            else:
                dst.addfile(member)
            kept += 1
        for directory in _ARGUS_DIRS:
            _add_entry(dst, directory, tarfile.DIRTYPE, 0o755)
        _add_entry(dst, "argus/input.json", tarfile.REGTYPE, 0o644, b"")
        _add_entry(dst, LAUNCHER_PATH.lstrip("/"), tarfile.REGTYPE, 0o644, launcher)
        pyc_name, bytecode = launcher_bytecode(launcher)
        _add_entry(dst, str(PurePosixPath(pyc_name).parent), tarfile.DIRTYPE, 0o755)
        _add_entry(dst, pyc_name, tarfile.REGTYPE, 0o644, bytecode)
    log(f"  kept {kept} entries, dropped {len(dropped)}")


def _norm(name: str) -> str:
    name = str(PurePosixPath(name))
    return name.removeprefix("./")


def _user_line(name: str) -> bytes:
    if name == "etc/passwd":
        return f"argus:x:{SANDBOX_UID}:{SANDBOX_GID}:Argus sandbox:/nonexistent:/usr/sbin/nologin\n".encode()
    return f"argus:x:{SANDBOX_GID}:\n".encode()


def _add_entry(dst: tarfile.TarFile, name: str, kind: bytes, mode: int, data: bytes | None = None) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = 0
    info.mtime = 0  # reproducible
    if data is not None:
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
    else:
        dst.addfile(info)


def _import(client: docker.DockerClient, image_tar: Path, recipe: RuntimeRecipe, revision: str) -> None:
    repository, _, tag = recipe.image.rpartition(":")
    if not repository or "/" in tag:
        repository, tag = recipe.image, "latest"
    previous = _image_id(client, recipe.image)
    with docker_errors("import a runtime image"):
        answer = client.api.import_image(
            src=str(image_tar), repository=repository, tag=tag, changes=import_changes(recipe, revision)
        )
    text = answer if isinstance(answer, str) else json.dumps(answer)
    if '"error' in text:
        raise ImageBuildError(f"docker import failed: {text[-2000:]}")
    if installed_revision(client, recipe.image) != revision:
        raise ImageBuildError(f"{recipe.image} does not carry revision {revision} after import")
    if previous and previous != _image_id(client, recipe.image):
        # The old revision is now untagged; drop it unless containers still use it.
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_image(previous)


def _image_id(client: docker.DockerClient, image: str) -> str | None:
    try:
        return client.api.inspect_image(image)["Id"]
    except docker.errors.ImageNotFound:
        return None
