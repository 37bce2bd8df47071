"""Per-container host directories ("slots") holding the bundle, the evidence and input.json.

A slot is created before its container (pre-started pool containers mount it while it is still
empty) and filled when a job arrives. Two read-only bind mounts (each mount is set-up work on every
container start, so the contract's paths share one):

    <slot>/argus/       -> /argus               plugin/, evidence/, input.json (written in place, never
                                                renamed over), and the empty mount points output/ and
                                                artifacts/ for the container's writable tmpfs mounts
    <slot>/resolv.conf  -> /etc/resolv.conf     empty: no resolver

The container can never write here, so nothing in a slot can be a trap for the worker; the only
untrusted content we copy in is the bundle, and we refuse symlinks and special files in it.
"""

from __future__ import annotations

import os
import shutil
import stat
import uuid
from collections.abc import Mapping
from pathlib import Path

from .errors import InvalidJob
from .spec import BundleFiles, BundleWriter, safe_relative_path

DIR_MODE = 0o755
FILE_MODE = 0o644
# The slots' parent. Nobody else on the host needs it: a container sees only its slot's bind
# mounts, whose host-side parents are never traversed from inside.
WORK_DIR_MODE = 0o700


def ensure_work_dir(work_dir: Path) -> Path:
    """Create the slots' parent; refuse one that another user could have planted (e.g. in /tmp)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(mode=WORK_DIR_MODE, parents=True, exist_ok=True)
    st = os.lstat(work_dir)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise InvalidJob(f"sandbox work dir {work_dir} must be a directory of this user, writable only by it")
    return work_dir


class Slot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.argus_dir = root / "argus"
        self.plugin_dir = self.argus_dir / "plugin"
        self.evidence_dir = self.argus_dir / "evidence"
        self.deps_dir = self.argus_dir / "deps"
        self.input_path = self.argus_dir / "input.json"
        self.mount_points = (self.argus_dir / "output", self.argus_dir / "artifacts")
        self.resolv_path = root / "resolv.conf"

    @classmethod
    def create(cls, work_dir: Path) -> Slot:
        ensure_work_dir(work_dir)
        slot = cls(Path(work_dir) / f"slot-{uuid.uuid4().hex}")
        # Plain os calls on strings: one is made per container, and pathlib's would double the cost.
        directories = (slot.root, slot.argus_dir, slot.plugin_dir, slot.evidence_dir, slot.deps_dir)
        for directory in (*directories, *slot.mount_points):
            name = os.fspath(directory)
            os.mkdir(name, DIR_MODE)
            os.chmod(name, DIR_MODE)  # mkdir's mode is filtered by the umask
        for file in (slot.input_path, slot.resolv_path):
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)
            finally:
                os.close(fd)
        return slot

    def binds(self) -> dict[str, dict[str, str]]:
        return {
            str(self.argus_dir): {"bind": "/argus", "mode": "ro"},
            # An empty resolv.conf instead of the host's: the sandbox has no network anyway, and the
            # host's resolver addresses are none of the plugin's business.
            str(self.resolv_path): {"bind": "/etc/resolv.conf", "mode": "ro"},
        }

    def fill(
        self,
        bundle: Path | BundleFiles | BundleWriter,
        entrypoint: str,
        input_bytes: bytes,
        evidence: Mapping[str, str | Path],
        layer: BundleWriter | None = None,
    ) -> None:
        if isinstance(bundle, str | Path):
            _copy_bundle_tree(Path(bundle), self.plugin_dir)
        elif callable(bundle):
            bundle(self.plugin_dir)
        else:
            _write_bundle_files(bundle, self.plugin_dir)
        entry = self.plugin_dir / safe_relative_path(entrypoint, what="entrypoint")
        try:
            if not stat.S_ISREG(os.lstat(entry).st_mode):
                raise InvalidJob(f"entrypoint {entrypoint!r} is not a regular file in the bundle")
        except FileNotFoundError:
            raise InvalidJob(f"entrypoint {entrypoint!r} is not in the bundle") from None
        if layer is not None:
            layer(self.deps_dir)
        for evidence_id, source in evidence.items():
            _place_file(Path(source), self.evidence_dir / evidence_id)
        # In place: the container's bind mount pins this inode.
        with open(self.input_path, "r+b") as fh:
            fh.truncate(0)
            fh.write(input_bytes)

    def destroy(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _write_bundle_files(files: BundleFiles, dest: Path) -> None:
    for rel, content in files:
        path = dest / safe_relative_path(rel, what="bundle file")
        _make_dirs(dest, path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.chmod(path, FILE_MODE)


def _make_dirs(root: Path, directory: Path) -> None:
    missing = []
    while directory != root and not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE)
        os.chmod(d, DIR_MODE)


def _copy_bundle_tree(source: Path, dest: Path) -> None:
    if not source.is_dir():
        raise InvalidJob(f"bundle directory {source} does not exist")
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(source)
        for name in dirnames:
            src = here / name
            if src.is_symlink():
                raise InvalidJob(f"bundle contains a symlink: {rel_dir / name}")
            target = dest / rel_dir / name
            target.mkdir(mode=DIR_MODE)
            os.chmod(target, DIR_MODE)
        for name in filenames:
            src = here / name
            st = os.lstat(src)
            if stat.S_ISLNK(st.st_mode):
                raise InvalidJob(f"bundle contains a symlink: {rel_dir / name}")
            if not stat.S_ISREG(st.st_mode):
                raise InvalidJob(f"bundle contains a non-regular file: {rel_dir / name}")
            _place_file(src, dest / rel_dir / name, st)


def _place_file(source: Path, target: Path, st: os.stat_result | None = None) -> None:
    """Hard-link when that is safe and possible (no copy of big evidence), copy otherwise.

    A hard link shares the inode, so we only link files the sandbox user may already read and
    that carry no special mode bits; the read-only bind mount stops any write through the link.
    """
    try:
        st = st or os.stat(source)
    except FileNotFoundError:
        raise InvalidJob(f"file {source} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidJob(f"{source} is not a regular file")
    linkable = (st.st_mode & 0o004) and not (st.st_mode & 0o7000)
    if linkable:
        try:
            os.link(source, target)
            return
        except OSError:
            pass  # other filesystem, or protected_hardlinks: fall back to a copy
    shutil.copyfile(source, target, follow_symlinks=True)
    os.chmod(target, FILE_MODE)
