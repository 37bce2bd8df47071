"""Plugin bundles: gzip-compressed tar archives with manifest.json at the root.

Uploads are hostile input, so inspection streams through the archive in memory, never writes to disk,
and stops at the first problem with a typed ``BundleRejected``. Decompressed bytes are counted as they
are produced (a zip bomb is cut off at the bound, whatever the headers claim).

The tar reader is our own, deliberately small, strict subset instead of ``tarfile``, for two reasons:

* ``tarfile`` is only as safe as the interpreter it comes with, and nothing fixes that interpreter: the
  CLI runs on any 3.11 (``requires-python``), the image follows the ``python:3.11`` tag. Parsing fixes came
  late (CVE-2024-6232, PAX-header ReDoS, in 3.11.10; CVE-2025-8194, negative offsets looping, later
  still), and ``tarfile`` reads extended headers of any size before a caller sees a member. Measured by
  ``bench/bundle_reader_bench.py`` on 3.11.7: one 64 KiB PAX header of digits costs ``tarfile`` 4.3 s of
  CPU (quadratic: 1 MiB, a few KiB gzip'd, would cost ~18 min); this reader refuses it in 0.2 ms. On a
  well-formed 302-file bundle both take about 8 ms (ours/tarfile 0.91x, validation and hashing included).
* every oddity (NUL after a name, base-256 numbers, sparse files, bytes after the end-of-archive marker)
  must be an explicit rejection, and ``tarfile`` normalises most of them away before a member policy
  could see them.

Supported: POSIX ustar/pax and GNU tar with regular files and directories, PAX ``x`` headers (path/size
honoured, others ignored), GNU ``L`` long names, and a ``g`` global header holding only a comment (what
``git archive`` writes).

``pack_directory`` builds bundles reproducibly (sorted entries, fixed mtime/owner/modes, gzip header
without name or time) so the same sources give the same bytes and therefore the same code_sha256.
Writing uses ``tarfile``: it only ever sees our own trusted entries.

This module must stay free of Django imports: the publisher CLI uses it too.
"""

from __future__ import annotations

import enum
import hashlib
import io
import os
import stat
import struct
import tarfile
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argus_plugins.canonical import CanonicalJSONError, canonical_sha256, parse_json, sha256_hex

MiB = 1024 * 1024
DEFAULT_MAX_BUNDLE_BYTES = 20 * MiB
DEFAULT_MAX_UNCOMPRESSED_BYTES = 100 * MiB
DEFAULT_MAX_MEMBERS = 1000
MAX_MANIFEST_BYTES = 256 * 1024
MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255  # NAME_MAX on every filesystem we extract to
MAX_EXTENDED_HEADER_BYTES = 64 * 1024

MANIFEST_NAME = "manifest.json"
FILE_MODE = 0o644
DIR_MODE = 0o755
PACK_MTIME = 0
# Never packed: VCS metadata (can be huge and hold secrets) and interpreter caches (non-reproducible).
PACK_EXCLUDED_NAMES = frozenset({".git", ".hg", ".svn", "__pycache__", ".DS_Store"})
PACK_EXCLUDED_SUFFIXES = (".pyc", ".pyo")

_BLOCK = 512
_CHUNK = 64 * 1024
_GZIP_MAGIC = b"\x1f\x8b\x08"


class BundleErrorCode(enum.StrEnum):
    TOO_LARGE = "TOO_LARGE"
    NOT_GZIP = "NOT_GZIP"
    NOT_TAR = "NOT_TAR"
    CORRUPT_ARCHIVE = "CORRUPT_ARCHIVE"
    TRAILING_DATA = "TRAILING_DATA"
    UNCOMPRESSED_TOO_LARGE = "UNCOMPRESSED_TOO_LARGE"
    TOO_MANY_MEMBERS = "TOO_MANY_MEMBERS"
    ABSOLUTE_PATH = "ABSOLUTE_PATH"
    PATH_TRAVERSAL = "PATH_TRAVERSAL"
    UNSAFE_NAME = "UNSAFE_NAME"
    DUPLICATE_NAME = "DUPLICATE_NAME"
    PATH_CONFLICT = "PATH_CONFLICT"
    LINK_NOT_ALLOWED = "LINK_NOT_ALLOWED"
    SPECIAL_FILE = "SPECIAL_FILE"
    UNSUPPORTED_MEMBER = "UNSUPPORTED_MEMBER"
    MANIFEST_MISSING = "MANIFEST_MISSING"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    ENTRYPOINT_MISSING = "ENTRYPOINT_MISSING"


class BundleRejected(ValueError):
    """The bundle (or, for pack_directory, the source directory) is not acceptable."""

    def __init__(self, code: BundleErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"BundleRejected({self.code.value}, {self.message!r})"


@dataclass(frozen=True)
class BundleFile:
    path: str
    size: int
    mode: int  # as declared in the archive (& 0o7777); extraction always writes FILE_MODE
    sha256: str


@dataclass(frozen=True)
class BundleInfo:
    manifest: dict[str, Any]
    manifest_sha256: str  # SHA-256 of the manifest's RFC 8785 canonical form
    code_sha256: str  # SHA-256 of the bundle bytes exactly as uploaded
    files: tuple[BundleFile, ...]  # regular files, archive order
    directories: tuple[str, ...]  # explicit directory entries, archive order
    compressed_size: int
    uncompressed_size: int  # decompressed tar stream, headers and padding included

    @property
    def file_names(self) -> frozenset[str]:
        return frozenset(f.path for f in self.files)


@dataclass(frozen=True)
class _Limits:
    max_bundle_bytes: int
    max_uncompressed_bytes: int
    max_members: int


def _reject(code: BundleErrorCode, message: str) -> BundleRejected:
    return BundleRejected(code, message)


# ------------------------------------------------------------------------------------ decompression


class _Gunzip:
    """Pull-based gzip decoder over in-memory bytes with a hard cap on decompressed output."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._src = memoryview(data)
        self._pos = 0
        self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip wrapper, one member
        self._buffer = bytearray()
        self.limit = limit
        self.produced = 0

    def _fill(self, want: int) -> None:
        """Decompress until ``want`` bytes are buffered or the gzip member ends."""
        while len(self._buffer) < want and not self._inflater.eof:
            pending = self._inflater.unconsumed_tail
            if not pending:
                if self._pos >= len(self._src):
                    raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "The gzip stream is truncated.")
                pending = self._src[self._pos : self._pos + _CHUNK]
                self._pos += len(pending)
            # max_length bounds every step, so a bomb never materialises more than one chunk at once.
            try:
                out = self._inflater.decompress(pending, max(_CHUNK, want - len(self._buffer)))
            except zlib.error as exc:
                raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, f"The gzip data is corrupt ({exc}).") from None
            self.produced += len(out)
            if self.produced > self.limit:
                raise _reject(
                    BundleErrorCode.UNCOMPRESSED_TOO_LARGE,
                    f"The bundle decompresses to more than {self.limit} bytes.",
                )
            self._buffer += out

    def read_exact(self, size: int) -> bytes:
        self._fill(size)
        if len(self._buffer) < size:
            raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "The tar archive is truncated.")
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def read_rest(self) -> Iterator[bytes]:
        while True:
            self._fill(_CHUNK)
            if not self._buffer:
                return
            out = bytes(self._buffer)
            self._buffer.clear()
            yield out

    def finish(self) -> None:
        """After the last read: the gzip member must be complete and nothing may follow it."""
        if not self._inflater.eof:  # pragma: no cover - read_rest drains to eof
            raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "The gzip stream is truncated.")
        if self._inflater.unused_data or self._inflater.unconsumed_tail or self._pos < len(self._src):
            raise _reject(
                BundleErrorCode.TRAILING_DATA, "Data follows the gzip stream (concatenated or appended)."
            )


# -------------------------------------------------------------------------------------- tar reading


@dataclass(frozen=True)
class _Member:
    name: str
    is_dir: bool
    size: int
    mode: int


_TYPE_REJECTIONS = {
    b"1": (BundleErrorCode.LINK_NOT_ALLOWED, "hard link"),
    b"2": (BundleErrorCode.LINK_NOT_ALLOWED, "symbolic link"),
    b"K": (BundleErrorCode.LINK_NOT_ALLOWED, "GNU long link name"),
    b"3": (BundleErrorCode.SPECIAL_FILE, "character device"),
    b"4": (BundleErrorCode.SPECIAL_FILE, "block device"),
    b"6": (BundleErrorCode.SPECIAL_FILE, "FIFO"),
    b"7": (BundleErrorCode.UNSUPPORTED_MEMBER, "contiguous file"),
    b"S": (BundleErrorCode.UNSUPPORTED_MEMBER, "GNU sparse file"),
    b"M": (BundleErrorCode.UNSUPPORTED_MEMBER, "multi-volume continuation"),
    b"V": (BundleErrorCode.UNSUPPORTED_MEMBER, "volume header"),
}


class _TarReader:
    """Iterates members of a tar stream. Member data must be read (or is skipped) before advancing."""

    def __init__(self, source: _Gunzip) -> None:
        self._src = source
        self._unread = 0  # data bytes of the current member not consumed yet
        self._padding = 0
        self.headers_seen = 0

    def members(self) -> Iterator[_Member]:
        pending_pax = False
        pending_path: str | None = None
        pending_size: int | None = None
        pending_longname: str | None = None
        while True:
            self._skip_current()
            block = self._src.read_exact(_BLOCK)
            if block == bytes(_BLOCK):
                if pending_pax or pending_longname is not None:
                    raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "Extended header without a member.")
                self._check_end_of_archive()
                return
            header = _parse_header(block, first=self.headers_seen == 0)
            self.headers_seen += 1
            typeflag, size = header["typeflag"], header["size"]
            if typeflag in (b"x", b"g", b"L"):
                if size > MAX_EXTENDED_HEADER_BYTES:
                    raise _reject(BundleErrorCode.UNSUPPORTED_MEMBER, "Extended tar header is too large.")
                payload = self._src.read_exact(size)
                self._src.read_exact(_padding(size))
                if typeflag == b"g":
                    _check_global_header(_parse_pax(payload))
                elif typeflag == b"x":
                    if pending_pax:
                        raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "Two PAX headers for one member.")
                    pending_pax = True
                    pending_path, pending_size = _pax_overrides(_parse_pax(payload))
                else:
                    if pending_longname is not None:
                        raise _reject(
                            BundleErrorCode.CORRUPT_ARCHIVE, "Two long-name headers for one member."
                        )
                    pending_longname = _field_str(payload)
                continue

            # The ustar name field is only decoded when nothing overrides it: writers truncate it (possibly
            # mid-character) when the real name lives in a PAX or GNU long-name header.
            name = pending_path if pending_path is not None else pending_longname or _header_name(header)
            if pending_size is not None:
                size = pending_size
            pending_pax, pending_path, pending_size, pending_longname = False, None, None, None

            if typeflag in _TYPE_REJECTIONS:
                code, what = _TYPE_REJECTIONS[typeflag]
                raise _reject(code, f"{name!r} is a {what}; only regular files and directories are allowed.")
            if typeflag not in (b"0", b"\x00", b"5"):
                raise _reject(
                    BundleErrorCode.UNSUPPORTED_MEMBER, f"{name!r} has unsupported tar type {typeflag!r}."
                )
            is_dir = typeflag == b"5"
            if is_dir and size:
                raise _reject(BundleErrorCode.UNSUPPORTED_MEMBER, f"Directory {name!r} carries data.")
            self._unread, self._padding = size, _padding(size)
            yield _Member(name=name, is_dir=is_dir, size=size, mode=header["mode"])

    def read_data(self) -> Iterator[bytes]:
        """Stream the current member's data in bounded chunks."""
        while self._unread:
            step = min(self._unread, _CHUNK)
            chunk = self._src.read_exact(step)
            self._unread -= step
            yield chunk

    def _skip_current(self) -> None:
        for _ in self.read_data():
            pass
        if self._padding:
            self._src.read_exact(self._padding)
            self._padding = 0

    def _check_end_of_archive(self) -> None:
        # After the first zero block only zero padding may follow; anything else would be content that
        # tar tools silently ignore but that is still part of the signed bytes.
        for chunk in self._src.read_rest():
            if chunk.count(0) != len(chunk):
                raise _reject(BundleErrorCode.TRAILING_DATA, "Data follows the end-of-archive marker.")
        self._src.finish()


def _padding(size: int) -> int:
    return -size % _BLOCK


def _parse_header(block: bytes, *, first: bool) -> dict[str, Any]:
    bad = BundleErrorCode.NOT_TAR if first else BundleErrorCode.CORRUPT_ARCHIVE
    posix = block[257:263] == b"ustar\x00" and block[263:265] == b"00"
    gnu = block[257:265] == b"ustar  \x00"
    if not (posix or gnu):
        raise _reject(bad, "Not a ustar/pax/GNU tar archive." if first else "Invalid tar header.")
    stored = _octal(block[148:156], bad)
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    signed = sum(struct.unpack("148b", block[:148])) + 8 * 0x20 + sum(struct.unpack("356b", block[156:]))
    if stored not in (unsigned, signed):
        raise _reject(bad, "Tar header checksum mismatch.")
    return {
        "name_field": block[0:100],
        # Only POSIX ustar has a prefix field; GNU stores timestamps at the same offset.
        "prefix_field": block[345:500] if posix else b"",
        "mode": _octal(block[100:108], bad) & 0o7777,
        "size": _octal(block[124:136], bad),
        "typeflag": block[156:157],
    }


def _header_name(header: dict[str, Any]) -> str:
    name = _field_str(header["name_field"])
    prefix = _field_str(header["prefix_field"])
    return f"{prefix}/{name}" if prefix else name


def _field_str(field: bytes) -> str:
    raw, _, rest = field.partition(b"\x00")
    if rest.strip(b"\x00"):
        # Text after the terminating NUL: readers disagree on where such a name ends.
        raise _reject(BundleErrorCode.UNSAFE_NAME, "A member name contains a NUL byte.")
    return _decode_name(raw)


def _decode_name(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _reject(BundleErrorCode.UNSAFE_NAME, f"Member name {raw[:100]!r} is not valid UTF-8.") from None


def _octal(field: bytes, bad: BundleErrorCode) -> int:
    if field[:1] and field[0] & 0x80:
        raise _reject(BundleErrorCode.UNSUPPORTED_MEMBER, "Base-256 numeric tar fields are not supported.")
    text = field.rstrip(b"\x00 ").lstrip(b" ")
    if not text:
        return 0
    if not all(0x30 <= byte <= 0x37 for byte in text):
        raise _reject(bad, "Invalid numeric field in a tar header.")
    return int(text, 8)


def _parse_pax(payload: bytes) -> dict[str, bytes]:
    records: dict[str, bytes] = {}
    pos = 0
    end = len(payload.rstrip(b"\x00"))
    while pos < end:
        space = payload.find(b" ", pos, pos + 12)
        length_text = payload[pos:space] if space > pos else b""
        if not length_text.isdigit():
            raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "Malformed PAX record.")
        length = int(length_text)
        record = payload[space + 1 : pos + length]
        if pos + length > end or not record.endswith(b"\n") or b"=" not in record:
            raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "Malformed PAX record.")
        key_bytes, _, value = record[:-1].partition(b"=")
        key = _decode_name(key_bytes)
        if key in records:
            raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, f"PAX key {key!r} is repeated.")
        records[key] = value
        pos += length
    return records


def _pax_overrides(records: dict[str, bytes]) -> tuple[str | None, int | None]:
    if any(key.startswith("GNU.sparse") for key in records):
        raise _reject(BundleErrorCode.UNSUPPORTED_MEMBER, "Sparse files are not supported.")
    path = _decode_name(records["path"]) if "path" in records else None
    size = None
    if "size" in records:
        if not records["size"].isdigit():
            raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, "Invalid PAX size.")
        size = int(records["size"])
    return path, size


def _check_global_header(records: dict[str, bytes]) -> None:
    # git archive writes {"comment": <commit id>}; anything else would change how later members read.
    if set(records) - {"comment"}:
        raise _reject(
            BundleErrorCode.UNSUPPORTED_MEMBER,
            f"PAX global headers are not supported (keys: {', '.join(sorted(records))}).",
        )


# ------------------------------------------------------------------------------------ name policy


def normalize_member_name(raw: str, *, is_dir: bool) -> str | None:
    """Validate an archive path; return it normalised, or None for the archive root ("./").

    Leading "./" is tolerated (``tar -C dir -czf x .`` writes it) and removed; other "." or empty
    segments, "..", absolute paths, backslashes, control/format/private-use/unassigned characters,
    non-ASCII spaces and non-NFC spellings are refused.
    """
    if "\x00" in raw:
        raise _reject(BundleErrorCode.UNSAFE_NAME, f"{raw!r}: member names must not contain NUL.")
    if raw.startswith("/"):
        raise _reject(BundleErrorCode.ABSOLUTE_PATH, f"{raw!r}: absolute paths are not allowed.")
    if "\\" in raw:
        raise _reject(BundleErrorCode.UNSAFE_NAME, f"{raw!r}: backslashes are not allowed in names.")
    segments = raw.split("/")
    if ".." in segments:
        raise _reject(BundleErrorCode.PATH_TRAVERSAL, f"{raw!r}: '..' is not allowed in paths.")
    for char in raw:
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") or (category == "Zs" and char != " "):
            raise _reject(
                BundleErrorCode.UNSAFE_NAME,
                f"{raw!r}: names must not contain control, format or invisible characters "
                f"(U+{ord(char):04X}).",
            )
    if unicodedata.normalize("NFC", raw) != raw:
        raise _reject(BundleErrorCode.UNSAFE_NAME, f"{raw!r}: names must be in Unicode NFC form.")

    while segments and segments[0] == ".":
        segments.pop(0)
    if segments and segments[-1] == "":
        if not is_dir:
            raise _reject(BundleErrorCode.UNSAFE_NAME, f"{raw!r}: a file name cannot end with '/'.")
        segments.pop()
    if not segments:
        if is_dir:
            return None
        raise _reject(BundleErrorCode.UNSAFE_NAME, f"{raw!r}: empty member name.")
    if any(segment in ("", ".") for segment in segments):
        raise _reject(BundleErrorCode.UNSAFE_NAME, f"{raw!r}: empty or '.' path segments are not allowed.")
    name = "/".join(segments)
    if len(name.encode()) > MAX_PATH_BYTES or any(len(s.encode()) > MAX_SEGMENT_BYTES for s in segments):
        raise _reject(BundleErrorCode.UNSAFE_NAME, f"{raw[:80]!r}...: path is too long.")
    return name


class _Namespace:
    """Tracks names so duplicates (also case-only ones) and file/directory clashes are refused."""

    def __init__(self) -> None:
        self._files: dict[str, str] = {}  # casefold -> name
        self._dirs: dict[str, str] = {}  # explicit directory entries
        self._implied_dirs: set[str] = set()  # parents of any entry

    def add(self, name: str, *, is_dir: bool) -> None:
        key = name.casefold()
        existing = self._files.get(key) or self._dirs.get(key)
        if existing is not None:
            detail = "" if existing == name else f" (differs from {existing!r} only by case)"
            raise _reject(BundleErrorCode.DUPLICATE_NAME, f"{name!r} appears more than once{detail}.")
        if not is_dir and key in self._implied_dirs:
            raise _reject(BundleErrorCode.PATH_CONFLICT, f"{name!r} is both a file and a directory.")
        parts = key.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in self._files:
                raise _reject(BundleErrorCode.PATH_CONFLICT, f"{name!r} is inside the file {parent!r}.")
            self._implied_dirs.add(parent)
        (self._dirs if is_dir else self._files)[key] = name


# ------------------------------------------------------------------------------------- inspection


def _walk(
    data: bytes,
    limits: _Limits,
    on_member: Callable[[_Member, str, _TarReader], None],
) -> tuple[int, int]:
    """Shared validating pass. Calls ``on_member(member, normalised_name, reader)`` for each file or
    directory (except the root); returns (member count, decompressed size)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("bundle data must be bytes")
    if len(data) > limits.max_bundle_bytes:
        raise _reject(
            BundleErrorCode.TOO_LARGE,
            f"The bundle is {len(data)} bytes; at most {limits.max_bundle_bytes} bytes are accepted.",
        )
    if bytes(data[:3]) != _GZIP_MAGIC:
        raise _reject(BundleErrorCode.NOT_GZIP, "The bundle is not a gzip file (.tar.gz expected).")
    source = _Gunzip(bytes(data), limits.max_uncompressed_bytes)
    reader = _TarReader(source)
    namespace = _Namespace()
    count = 0
    declared = 0
    for member in reader.members():
        count += 1
        if count > limits.max_members:
            raise _reject(
                BundleErrorCode.TOO_MANY_MEMBERS, f"The bundle has more than {limits.max_members} entries."
            )
        declared += member.size
        if declared > limits.max_uncompressed_bytes:
            # Fail before reading, but never rely on this alone: _Gunzip counts real output.
            raise _reject(
                BundleErrorCode.UNCOMPRESSED_TOO_LARGE,
                f"The bundle's files add up to more than {limits.max_uncompressed_bytes} bytes.",
            )
        name = normalize_member_name(member.name, is_dir=member.is_dir)
        if name is None:
            continue
        namespace.add(name, is_dir=member.is_dir)
        on_member(member, name, reader)
    return count, source.produced


def inspect_bundle(
    data: bytes,
    *,
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> BundleInfo:
    """Validate a bundle entirely in memory and describe it; raise BundleRejected on any problem.

    Checks the manifest only as far as the bundle is concerned (present, strict JSON object, entrypoint
    names a regular file); full validation is registry.manifest.validate_manifest.
    """
    limits = _Limits(max_bundle_bytes, max_uncompressed_bytes, max_members)
    files: list[BundleFile] = []
    directories: list[str] = []
    manifest_bytes: list[bytes] = []

    def on_member(member: _Member, name: str, reader: _TarReader) -> None:
        if member.is_dir:
            directories.append(name)
            return
        is_manifest = name == MANIFEST_NAME
        if is_manifest and member.size > MAX_MANIFEST_BYTES:
            raise _reject(
                BundleErrorCode.MANIFEST_INVALID, f"manifest.json is larger than {MAX_MANIFEST_BYTES} bytes."
            )
        digest = hashlib.sha256()
        for chunk in reader.read_data():
            digest.update(chunk)
            if is_manifest:
                manifest_bytes.append(chunk)
        files.append(BundleFile(path=name, size=member.size, mode=member.mode, sha256=digest.hexdigest()))

    _, produced = _walk(data, limits, on_member)
    manifest = _load_manifest(b"".join(manifest_bytes), present=any(f.path == MANIFEST_NAME for f in files))
    _check_entrypoint(manifest, {f.path for f in files}, set(directories))
    return BundleInfo(
        manifest=manifest,
        manifest_sha256=canonical_sha256(manifest),
        code_sha256=sha256_hex(data),
        files=tuple(files),
        directories=tuple(directories),
        compressed_size=len(data),
        uncompressed_size=produced,
    )


@dataclass(frozen=True)
class FileHead:
    """The first bytes of one regular file of a bundle (for showing code to a reviewer)."""

    path: str
    size: int
    head: bytes

    @property
    def truncated(self) -> bool:
        return len(self.head) < self.size


def read_file_heads(
    data: bytes,
    *,
    max_file_bytes: int,
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> tuple[FileHead, ...]:
    """Every regular file's first ``max_file_bytes`` bytes, in archive order, with the same validation as
    inspect_bundle's walk (the rest of each file is read and discarded, never kept)."""
    heads: list[FileHead] = []

    def on_member(member: _Member, name: str, reader: _TarReader) -> None:
        if member.is_dir:
            return
        kept = bytearray()
        for chunk in reader.read_data():
            if len(kept) < max_file_bytes:
                kept += chunk[: max_file_bytes - len(kept)]
        heads.append(FileHead(path=name, size=member.size, head=bytes(kept)))

    _walk(data, _Limits(max_bundle_bytes, max_uncompressed_bytes, max_members), on_member)
    return tuple(heads)


def read_bundle_file(
    data: bytes,
    path: str,
    *,
    max_bytes: int,
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> bytes | None:
    """The content of the regular file ``path`` in a bundle (validated as inspect_bundle does), None when
    absent; BundleRejected when it is larger than ``max_bytes``."""
    found: list[bytes] = []

    def on_member(member: _Member, name: str, reader: _TarReader) -> None:
        if member.is_dir or name != path:
            return
        if member.size > max_bytes:
            raise _reject(BundleErrorCode.TOO_LARGE, f"{path} is larger than {max_bytes} bytes.")
        found.append(b"".join(reader.read_data()))

    _walk(data, _Limits(max_bundle_bytes, max_uncompressed_bytes, max_members), on_member)
    return found[0] if found else None


def _load_manifest(raw: bytes, *, present: bool) -> dict[str, Any]:
    if not present:
        raise _reject(BundleErrorCode.MANIFEST_MISSING, "manifest.json is missing from the bundle root.")
    try:
        manifest = parse_json(raw)
    except CanonicalJSONError as exc:
        raise _reject(BundleErrorCode.MANIFEST_INVALID, f"manifest.json is not valid JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise _reject(BundleErrorCode.MANIFEST_INVALID, "manifest.json must contain a JSON object.")
    return manifest


def _check_entrypoint(manifest: dict[str, Any], files: set[str], directories: set[str]) -> None:
    entrypoint = manifest.get("entrypoint")
    if not isinstance(entrypoint, str) or not entrypoint:
        raise _reject(BundleErrorCode.ENTRYPOINT_MISSING, "manifest.json has no 'entrypoint' string.")
    if entrypoint not in files:
        where = "a directory" if entrypoint.rstrip("/") in directories else "not in the bundle"
        raise _reject(
            BundleErrorCode.ENTRYPOINT_MISSING,
            f"The entrypoint {entrypoint!r} must be a regular file in the bundle; it is {where}.",
        )


# ------------------------------------------------------------------------------------- extraction


def extract_bundle(
    data: bytes,
    dest_dir: str | os.PathLike[str],
    *,
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> BundleInfo:
    """Validate the bundle completely, then extract it into the EMPTY directory ``dest_dir``.

    Only regular files (mode 0644) and directories (0755) are created, owned by the current user.
    Nothing is written unless the whole bundle is valid; on an I/O error midway, whatever was written is
    removed again.
    """
    info = inspect_bundle(
        data,
        max_bundle_bytes=max_bundle_bytes,
        max_uncompressed_bytes=max_uncompressed_bytes,
        max_members=max_members,
    )
    dest = Path(dest_dir)
    if dest.is_symlink() or not dest.is_dir():
        raise NotADirectoryError(f"{dest} is not a directory")
    if any(dest.iterdir()):
        # An empty target means no pre-existing symlink can redirect a write.
        raise FileExistsError(f"{dest} is not empty")
    root = dest.resolve()
    expected = {f.path: f.sha256 for f in info.files}
    limits = _Limits(max_bundle_bytes, max_uncompressed_bytes, max_members)

    def on_member(member: _Member, name: str, reader: _TarReader) -> None:
        target = root.joinpath(*name.split("/"))
        if root not in target.parents:  # pragma: no cover - names are already validated
            raise _reject(BundleErrorCode.PATH_TRAVERSAL, f"{name!r} escapes the destination.")
        _make_dirs(root, target.parent)
        if member.is_dir:
            _make_dirs(root, target)
            return
        digest = hashlib.sha256()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(target, flags, FILE_MODE)
        try:
            for chunk in reader.read_data():
                digest.update(chunk)
                _write_all(fd, chunk)
            os.fchmod(fd, FILE_MODE)  # exact mode regardless of umask
        finally:
            os.close(fd)
        if digest.hexdigest() != expected.get(name):  # pragma: no cover - the input is immutable bytes
            raise _reject(BundleErrorCode.CORRUPT_ARCHIVE, f"{name!r} changed between passes.")

    try:
        _walk(data, limits, on_member)
    except BaseException:
        _empty_directory(root)
        raise
    return info


def _write_all(fd: int, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _make_dirs(root: Path, path: Path) -> None:
    missing = []
    while path != root and not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        os.mkdir(directory, DIR_MODE)
        os.chmod(directory, DIR_MODE, follow_symlinks=False)


def _empty_directory(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            _empty_directory(child)
            child.rmdir()
        else:
            child.unlink()


# ---------------------------------------------------------------------------------------- packing


def pack_directory(
    src_dir: str | os.PathLike[str],
    *,
    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> bytes:
    """Pack ``src_dir`` into a reproducible bundle and return its bytes.

    Entries are sorted (by UTF-8 bytes of the path), mtime is PACK_MTIME, uid/gid 0 with empty owner
    names, files 0644 and directories 0755 (executable bits are not kept: the runtime starts the
    entrypoint through its interpreter), and the gzip header carries neither a file name nor a time.
    PACK_EXCLUDED_NAMES / PACK_EXCLUDED_SUFFIXES are skipped; symlinks and special files are refused.
    The result is checked with inspect_bundle before it is returned.
    """
    root = Path(src_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    entries: list[tuple[str, Path | None]] = []  # (archive name, file path or None for a directory)
    total = 0

    def visit(directory: Path, prefix: str) -> None:
        nonlocal total
        with os.scandir(directory) as iterator:
            children = sorted(iterator, key=lambda entry: entry.name.encode("utf-8", "surrogateescape"))
        for child in children:
            name = f"{prefix}{child.name}"
            if child.name in PACK_EXCLUDED_NAMES or child.name.endswith(PACK_EXCLUDED_SUFFIXES):
                continue
            info = os.lstat(child.path)
            if stat.S_ISLNK(info.st_mode):
                raise _reject(BundleErrorCode.LINK_NOT_ALLOWED, f"{name}: symbolic links cannot be packed.")
            is_dir = stat.S_ISDIR(info.st_mode)
            if not is_dir and not stat.S_ISREG(info.st_mode):
                raise _reject(BundleErrorCode.SPECIAL_FILE, f"{name}: only regular files can be packed.")
            normalize_member_name(name, is_dir=is_dir)
            if len(entries) >= max_members:
                raise _reject(BundleErrorCode.TOO_MANY_MEMBERS, f"More than {max_members} entries to pack.")
            total += info.st_size if not is_dir else 0
            if total > max_uncompressed_bytes:
                raise _reject(
                    BundleErrorCode.UNCOMPRESSED_TOO_LARGE,
                    f"The files add up to more than {max_uncompressed_bytes} bytes.",
                )
            entries.append((name, None if is_dir else Path(child.path)))
            if is_dir:
                visit(Path(child.path), f"{name}/")

    visit(root, "")
    tar_bytes = _write_tar(entries)
    bundle = _deterministic_gzip(tar_bytes)
    inspect_bundle(
        bundle,
        max_bundle_bytes=max_bundle_bytes,
        max_uncompressed_bytes=max_uncompressed_bytes,
        max_members=max_members,
    )
    return bundle


def _write_tar(entries: list[tuple[str, Path | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as archive:
        for name, path in entries:
            info = tarfile.TarInfo(name)
            info.mtime = PACK_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path is None:
                info.type = tarfile.DIRTYPE
                info.mode = DIR_MODE
                archive.addfile(info)
            else:
                content = path.read_bytes()  # size from the bytes read, not a racy stat
                info.type = tarfile.REGTYPE
                info.mode = FILE_MODE
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _deterministic_gzip(payload: bytes) -> bytes:
    # Hand-built header: gzip.compress() varies across Python versions (OS byte, mtime handling).
    # ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=2 (max compression) OS=255 (unknown).
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY)
    body = compressor.compress(payload) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(payload) & 0xFFFFFFFF, len(payload) & 0xFFFFFFFF)
    return header + body + trailer
