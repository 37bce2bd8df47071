"""Bundles: in-memory inspection, refusal of hostile archives, safe extraction, reproducible packing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import tarfile
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from argus_plugins.canonical import canonical_sha256
from registry import bundles
from registry.bundles import (
    BundleErrorCode,
    BundleInfo,
    BundleRejected,
    extract_bundle,
    inspect_bundle,
    pack_directory,
)

E = BundleErrorCode
MANIFEST = {
    "name": "acme-hasher",
    "version": "1.0.0",
    "runtime": "python3.11",
    "entrypoint": "src/main.py",
    "capabilities": ["evidence:read"],
    "resources": {"memory_mb": 256, "cpus": 0.5, "timeout_seconds": 60, "pids": 32},
}
MANIFEST_BYTES = json.dumps(MANIFEST, indent=2).encode()
MAIN = b"print('hello')\n"


# ------------------------------------------------------------------------------------ builders


def entry(name: str, data: bytes | None = b"", *, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, **attrs):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    for key, value in attrs.items():
        setattr(info, key, value)
    if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) and data is not None:
        info.size = len(data)
    return info, data


def valid_entries() -> list:
    return [
        entry("manifest.json", MANIFEST_BYTES),
        entry("src", None, kind=tarfile.DIRTYPE, mode=0o755),
        entry("src/main.py", MAIN),
    ]


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def gz(payload: bytes) -> bytes:
    return zlib.compress(payload, 6, wbits=31)


def bundle(entries=None, fmt=tarfile.PAX_FORMAT) -> bytes:
    return gz(tar_bytes(valid_entries() if entries is None else entries, fmt))


def ustar_header(
    name: bytes,
    size: int = 0,
    typeflag: bytes = b"0",
    *,
    mode: int = 0o644,
    prefix: bytes = b"",
    size_field: bytes | None = None,
    checksum_delta: int = 0,
) -> bytes:
    """A hand-made POSIX ustar header, for what tarfile refuses to write."""
    header = bytearray(512)
    header[0 : len(name)] = name
    header[100:108] = b"%07o\x00" % mode
    header[108:116] = b"0000000\x00"
    header[116:124] = b"0000000\x00"
    header[124:136] = size_field if size_field is not None else b"%011o\x00" % size
    header[136:148] = b"00000000000\x00"
    header[156:157] = typeflag
    header[257:263] = b"ustar\x00"
    header[263:265] = b"00"
    header[345 : 345 + len(prefix)] = prefix
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % (sum(header) + checksum_delta)
    return bytes(header)


def raw_member(name: bytes, data: bytes = b"", **kwargs) -> bytes:
    return ustar_header(name, len(data), **kwargs) + data + bytes(-len(data) % 512)


def pax(**records: str | bytes) -> bytes:
    """PAX extended-header payload with correct self-counting lengths."""
    out = b""
    for key, value in records.items():
        body = (
            b" "
            + key.replace("__", ".").encode()
            + b"="
            + (value if isinstance(value, bytes) else value.encode())
            + b"\n"
        )
        length = len(body) + 1
        while len(str(length)) + len(body) != length:
            length += 1
        out += str(length).encode() + body
    return out


def raw_bundle(*members: bytes, end: bytes = bytes(1024)) -> bytes:
    """A valid manifest and entrypoint, then ``members``, then ``end`` (the end-of-archive marker)."""
    valid = raw_member(b"manifest.json", MANIFEST_BYTES) + raw_member(b"src/main.py", MAIN)
    return gz(valid + b"".join(members) + end)


def rejected(data: bytes, code: BundleErrorCode, **limits) -> BundleRejected:
    with pytest.raises(BundleRejected) as info:
        inspect_bundle(data, **limits)
    assert info.value.code is code, info.value.message
    return info.value


def assert_refused_without_writing(data: bytes, code: BundleErrorCode, tmp_path: Path, **limits) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(BundleRejected) as info:
        extract_bundle(data, dest, **limits)
    assert info.value.code is code, info.value.message
    assert list(dest.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]  # nothing escaped either


# ----------------------------------------------------------------------------------- happy path


def test_inspect_describes_a_valid_bundle():
    data = bundle()
    info = inspect_bundle(data)
    assert isinstance(info, BundleInfo)
    assert info.manifest == MANIFEST
    assert info.manifest_sha256 == canonical_sha256(MANIFEST)
    assert info.code_sha256 == hashlib.sha256(data).hexdigest()
    assert [(f.path, f.size, f.mode) for f in info.files] == [
        ("manifest.json", len(MANIFEST_BYTES), 0o644),
        ("src/main.py", len(MAIN), 0o644),
    ]
    assert info.files[1].sha256 == hashlib.sha256(MAIN).hexdigest()
    assert info.directories == ("src",)
    assert info.file_names == {"manifest.json", "src/main.py"}
    assert info.compressed_size == len(data)


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_all_common_tar_dialects_are_read(fmt):
    long_name = "src/" + "deep/" * 30 + "x.py"
    entries = (
        [*valid_entries(), entry(long_name, b"long")] if fmt != tarfile.USTAR_FORMAT else valid_entries()
    )
    info = inspect_bundle(bundle(entries, fmt))
    assert "src/main.py" in info.file_names
    if fmt != tarfile.USTAR_FORMAT:
        assert long_name in info.file_names


def test_ustar_prefix_field_is_joined():
    data = raw_bundle(raw_member(b"file.py", b"x", prefix=b"src/pkg"))
    assert "src/pkg/file.py" in inspect_bundle(data).file_names


def test_leading_dot_slash_from_tar_dash_c_is_accepted(tmp_path):
    src = tmp_path / "src"
    (src / "src").mkdir(parents=True)
    (src / "manifest.json").write_bytes(MANIFEST_BYTES)
    (src / "src" / "main.py").write_bytes(MAIN)
    out = tmp_path / "b.tgz"
    subprocess.run(["tar", "-czf", str(out), "-C", str(src), "."], check=True)
    info = inspect_bundle(out.read_bytes())
    assert info.file_names == {"manifest.json", "src/main.py"}


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_archive_output_is_accepted(tmp_path):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "manifest.json").write_bytes(MANIFEST_BYTES)
    (repo / "src" / "main.py").write_bytes(MAIN)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}  # fmt: skip
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    data = subprocess.run(
        ["git", "archive", "--format=tar.gz", "HEAD"], cwd=repo, env=env, check=True, capture_output=True
    ).stdout
    assert inspect_bundle(data).file_names == {"manifest.json", "src/main.py"}


def test_extract_writes_regular_files_with_normalised_modes(tmp_path):
    entries = [
        entry("manifest.json", MANIFEST_BYTES, mode=0o600),
        entry("src", None, kind=tarfile.DIRTYPE, mode=0o700),
        entry("src/main.py", MAIN, mode=0o4777),  # setuid + world-writable in the archive
        entry("src/lib/util.py", b"util", mode=0o755),  # parent directory only implied
    ]
    dest = tmp_path / "dest"
    dest.mkdir()
    info = extract_bundle(bundle(entries), dest)
    assert (dest / "src" / "main.py").read_bytes() == MAIN
    assert (dest / "src" / "lib" / "util.py").read_bytes() == b"util"
    for path in dest.rglob("*"):
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
        assert path.lstat().st_uid == os.getuid()
    assert info.file_names == {"manifest.json", "src/main.py", "src/lib/util.py"}


def test_extract_needs_an_empty_directory(tmp_path):
    (tmp_path / "existing").write_text("x")
    with pytest.raises(FileExistsError):
        extract_bundle(bundle(), tmp_path)
    with pytest.raises(NotADirectoryError):
        extract_bundle(bundle(), tmp_path / "missing")


def test_extract_cleans_up_after_an_io_error(tmp_path, monkeypatch):
    calls = []

    def failing_write(fd, chunk):
        calls.append(chunk)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        os.write(fd, chunk)

    monkeypatch.setattr(bundles, "_write_all", failing_write)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(OSError, match="No space"):
        extract_bundle(bundle(), dest)
    assert list(dest.iterdir()) == []


# ------------------------------------------------------------------------------ hostile archives


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        pytest.param(entry("../evil.py", b"x"), E.PATH_TRAVERSAL, id="dotdot"),
        pytest.param(entry("src/../../evil.py", b"x"), E.PATH_TRAVERSAL, id="nested-dotdot"),
        pytest.param(entry("..", None, kind=tarfile.DIRTYPE), E.PATH_TRAVERSAL, id="dotdot-dir"),
        pytest.param(entry("/tmp/abs-evil.py", b"x"), E.ABSOLUTE_PATH, id="absolute"),
        pytest.param(entry("//etc/cron.d/x", b"x"), E.ABSOLUTE_PATH, id="double-slash-absolute"),
        pytest.param(entry("src/link.py", None, kind=tarfile.SYMTYPE, linkname="/etc/passwd"), E.LINK_NOT_ALLOWED, id="symlink"),
        pytest.param(entry("src/rel-link", None, kind=tarfile.SYMTYPE, linkname="main.py"), E.LINK_NOT_ALLOWED, id="relative-symlink"),
        pytest.param(entry("src/hard.py", None, kind=tarfile.LNKTYPE, linkname="src/main.py"), E.LINK_NOT_ALLOWED, id="hardlink"),
        pytest.param(entry("dev/null", None, kind=tarfile.CHRTYPE, devmajor=1, devminor=3), E.SPECIAL_FILE, id="char-device"),
        pytest.param(entry("dev/sda", None, kind=tarfile.BLKTYPE, devmajor=8, devminor=0), E.SPECIAL_FILE, id="block-device"),
        pytest.param(entry("fifo", None, kind=tarfile.FIFOTYPE), E.SPECIAL_FILE, id="fifo"),
        pytest.param(entry("contig.py", b"x", kind=tarfile.CONTTYPE), E.UNSUPPORTED_MEMBER, id="contiguous"),
        pytest.param(entry("src/main.py", b"again"), E.DUPLICATE_NAME, id="duplicate"),
        pytest.param(entry("./src/main.py", b"again"), E.DUPLICATE_NAME, id="duplicate-dot-slash"),
        pytest.param(entry("SRC/Main.py", b"x"), E.DUPLICATE_NAME, id="duplicate-by-case"),
        pytest.param(entry("manifest.json/x", b"x"), E.PATH_CONFLICT, id="file-used-as-dir"),
        pytest.param(entry("src", b"x"), E.DUPLICATE_NAME, id="dir-then-file"),
        pytest.param(entry("src\\..\\evil.py", b"x"), E.UNSAFE_NAME, id="backslash"),
        pytest.param(entry("src/\u202eyp.exe", b"x"), E.UNSAFE_NAME, id="rtl-override"),
        pytest.param(entry("src/zero\u200bwidth.py", b"x"), E.UNSAFE_NAME, id="zero-width"),
        pytest.param(entry("src/new\nline.py", b"x"), E.UNSAFE_NAME, id="newline"),
        pytest.param(entry("src/nbsp\u00a0.py", b"x"), E.UNSAFE_NAME, id="nbsp"),
        pytest.param(entry("src/e\u0301.py", b"x"), E.UNSAFE_NAME, id="not-nfc"),
        pytest.param(entry("src/a\x00b.py", b"x"), E.UNSAFE_NAME, id="nul-in-pax-path"),
        pytest.param(entry("src/./x.py", b"x"), E.UNSAFE_NAME, id="dot-segment"),
        pytest.param(entry("src//x.py", b"x"), E.UNSAFE_NAME, id="empty-segment"),
        pytest.param(entry("src/" + "a" * 256, b"x"), E.UNSAFE_NAME, id="segment-too-long"),
        pytest.param(entry("/".join(["d" * 200] * 6), b"x"), E.UNSAFE_NAME, id="path-too-long"),
    ],
)  # fmt: skip
def test_hostile_members_are_refused_and_nothing_is_written(tmp_path, extra, code):
    # The hostile member comes last, after valid content: refusal must still leave no trace.
    data = bundle([*valid_entries(), extra])
    rejected(data, code)
    assert_refused_without_writing(data, code, tmp_path)


@pytest.mark.parametrize(
    ("member", "code"),
    [
        pytest.param(raw_member(b"ok.py\x00../../etc/passwd", b"x"), E.UNSAFE_NAME, id="nul-then-text"),
        pytest.param(raw_member(b"caf\xe9.py", b"x"), E.UNSAFE_NAME, id="latin1-name"),
        pytest.param(raw_member(b"sparse.py", b"x", typeflag=b"S"), E.UNSUPPORTED_MEMBER, id="gnu-sparse"),
        pytest.param(raw_member(b"vol", b"", typeflag=b"V"), E.UNSUPPORTED_MEMBER, id="volume-header"),
        pytest.param(raw_member(b"odd.py", b"x", typeflag=b"Z"), E.UNSUPPORTED_MEMBER, id="unknown-type"),
        pytest.param(raw_member(b"big.py", b"", size_field=b"\x80" + bytes(10) + b"\x01"), E.UNSUPPORTED_MEMBER, id="base256-size"),
        pytest.param(raw_member(b"bad.py", b"x", checksum_delta=1), E.CORRUPT_ARCHIVE, id="bad-checksum"),
        pytest.param(raw_member(b"bad.py", b"", size_field=b"0000000009x\x00"), E.CORRUPT_ARCHIVE, id="non-octal-size"),
        pytest.param(raw_member(b"d", b"data", typeflag=b"5"), E.UNSUPPORTED_MEMBER, id="dir-with-data"),
        pytest.param(raw_member(b"file/", b"x", typeflag=b"0"), E.UNSAFE_NAME, id="file-with-trailing-slash"),
        pytest.param(raw_member(b"pax", pax(GNU__sparse__major="1"), typeflag=b"x") + raw_member(b"s.py", b"x"), E.UNSUPPORTED_MEMBER, id="pax-sparse"),
        pytest.param(raw_member(b"pax", b"99 path=x\n", typeflag=b"x") + raw_member(b"s.py", b"x"), E.CORRUPT_ARCHIVE, id="pax-bad-length"),
        pytest.param(raw_member(b"g", pax(comment="x", path="evil.py"), typeflag=b"g"), E.UNSUPPORTED_MEMBER, id="global-header-path"),
        pytest.param(raw_member(b"pax", pax(path="a.py"), typeflag=b"x") * 2 + raw_member(b"s.py", b"x"), E.CORRUPT_ARCHIVE, id="two-pax-headers"),
        pytest.param(raw_member(b"pax", pax(path="a.py"), typeflag=b"x"), E.CORRUPT_ARCHIVE, id="dangling-pax-header"),
        pytest.param(raw_member(b"long", b"x" * 70000, typeflag=b"L") + raw_member(b"s.py", b"x"), E.UNSUPPORTED_MEMBER, id="huge-longname"),
        pytest.param(raw_member(b"long", b"../../evil.py\x00", typeflag=b"L") + raw_member(b"s.py", b"x"), E.PATH_TRAVERSAL, id="gnu-longname-traversal"),
        pytest.param(raw_member(b"pax", pax(path="/etc/cron.d/evil"), typeflag=b"x") + raw_member(b"s.py", b"x"), E.ABSOLUTE_PATH, id="pax-absolute"),
    ],
)  # fmt: skip
def test_malformed_headers_are_refused(tmp_path, member, code):
    data = raw_bundle(member)
    rejected(data, code)
    assert_refused_without_writing(data, code, tmp_path)


def test_pax_path_and_size_override_the_header():
    # Regression guard for the reader itself: "path" and "size" from a PAX record are honoured.
    record = pax(path="src/x.py", size="3", mtime="1700000000.5", SCHILY__xattr__user__x="y")
    data = raw_bundle(
        raw_member(b"pax", record, typeflag=b"x") + ustar_header(b"ignored", 999) + b"abc" + bytes(509),
        raw_member(b"g", pax(comment="git commit id"), typeflag=b"g"),  # what git archive writes
    )
    info = inspect_bundle(data)
    assert "src/x.py" in info.file_names and "ignored" not in info.file_names
    assert next(f for f in info.files if f.path == "src/x.py").sha256 == hashlib.sha256(b"abc").hexdigest()


def test_overridden_ustar_name_is_not_decoded():
    # A writer may truncate the ustar name mid-character when the real name is in the PAX header.
    real = "src/x" + "\u00e9" * 60
    truncated = real.encode()[:100]
    with pytest.raises(UnicodeDecodeError):
        truncated.decode()
    data = raw_bundle(raw_member(b"pax", pax(path=real), typeflag=b"x") + raw_member(truncated, b"ok"))
    assert real in inspect_bundle(data).file_names


def test_two_pax_headers_are_refused_even_without_path():
    first = raw_member(b"pax", pax(mtime="1"), typeflag=b"x")
    second = raw_member(b"pax", pax(path="src/a.py"), typeflag=b"x")
    rejected(raw_bundle(first + second + raw_member(b"a.py", b"x")), E.CORRUPT_ARCHIVE)


# ------------------------------------------------------------------------------ size and count


def test_too_many_members(tmp_path):
    entries = [*valid_entries(), *(entry(f"data/{i}.txt", b"x") for i in range(10))]
    rejected(bundle(entries), E.TOO_MANY_MEMBERS, max_members=8)
    assert_refused_without_writing(bundle(entries), E.TOO_MANY_MEMBERS, tmp_path, max_members=8)
    assert len(inspect_bundle(bundle(entries), max_members=13).files) == 12


def test_compressed_size_limit():
    data = bundle()
    rejected(data, E.TOO_LARGE, max_bundle_bytes=len(data) - 1)
    assert inspect_bundle(data, max_bundle_bytes=len(data))


def test_declared_member_size_beyond_the_bound_is_refused_before_reading(tmp_path):
    # The header claims 200 MiB but only the header exists: refused on the claim alone.
    data = raw_bundle(ustar_header(b"huge.bin", 200 * 1024 * 1024), end=b"")
    rejected(data, E.UNCOMPRESSED_TOO_LARGE, max_uncompressed_bytes=10 * 1024 * 1024)


def test_real_content_beyond_the_bound_is_refused(tmp_path):
    data = bundle([*valid_entries(), entry("zeros.bin", bytes(3 * 1024 * 1024))])
    assert len(data) < 10_000  # a small gzip...
    assert_refused_without_writing(
        data, E.UNCOMPRESSED_TOO_LARGE, tmp_path, max_uncompressed_bytes=1024 * 1024
    )


def _zero_bomb(prefix: bytes, mebibytes: int) -> bytes:
    """gzip of ``prefix`` followed by ``mebibytes`` MiB of zeros, built in O(1 MiB) work: after a full
    flush deflate restarts, so each further MiB of zeros compresses to the same ~1 KB block."""
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()
    crc = zlib.crc32(prefix)
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    size = (len(prefix) + mebibytes * len(zeros)) & 0xFFFFFFFF
    return (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        + head
        + block * mebibytes
        + tail
        + struct.pack("<II", crc, size)
    )


def test_zip_bomb_with_honest_headers_is_cut_off_early():
    """Every header is small and truthful; the bomb is 1 GiB of zeros after the end-of-archive marker.
    Only counting real output catches it, and it must stop at the bound without inflating the rest."""
    prefix = tar_bytes(valid_entries())[:-1024]  # drop tarfile's end marker and record padding...
    prefix = prefix.rstrip(b"\x00")
    prefix += bytes(-len(prefix) % 512)  # ...but keep the last member's block padding
    data = _zero_bomb(prefix, 1024)
    assert len(data) < 2 * 1024 * 1024
    tracemalloc.start()
    started = time.monotonic()
    try:
        error = rejected(data, E.UNCOMPRESSED_TOO_LARGE)  # default bound: 100 MiB
        assert "decompresses to more than" in error.message  # the counter, not a header claim
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak memory {peak} bytes: the bomb was buffered"
    assert time.monotonic() - started < 20


def test_small_bomb_within_bound_is_fine_but_trailing_zeros_are_counted():
    prefix = tar_bytes(valid_entries())
    data = _zero_bomb(prefix, 2)
    info = inspect_bundle(data)
    assert info.uncompressed_size == len(prefix) + 2 * 1024 * 1024
    rejected(data, E.UNCOMPRESSED_TOO_LARGE, max_uncompressed_bytes=len(prefix) + 1024 * 1024)


# ------------------------------------------------------------------------------ container layer


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda: b"", E.NOT_GZIP, id="empty"),
        pytest.param(lambda: tar_bytes(valid_entries()), E.NOT_GZIP, id="plain-tar"),
        pytest.param(lambda: b"PK\x03\x04" + bytes(100), E.NOT_GZIP, id="zip"),
        pytest.param(lambda: zlib.compress(b"x" * 10), E.NOT_GZIP, id="zlib-not-gzip"),
        pytest.param(lambda: gz(b"this is not a tar archive" * 100), E.NOT_TAR, id="gzip-of-text"),
        pytest.param(lambda: bundle()[:-20], E.CORRUPT_ARCHIVE, id="truncated-gzip"),
        pytest.param(lambda: bundle()[:40], E.CORRUPT_ARCHIVE, id="very-truncated-gzip"),
        pytest.param(lambda: _corrupt(bundle(), -6), E.CORRUPT_ARCHIVE, id="bad-crc"),
        pytest.param(lambda: _corrupt(bundle(), 30), E.CORRUPT_ARCHIVE, id="bad-deflate"),
        pytest.param(lambda: gz(tar_bytes(valid_entries())[:1000]), E.CORRUPT_ARCHIVE, id="truncated-tar"),
        pytest.param(lambda: bundle() + b"junk", E.TRAILING_DATA, id="junk-after-gzip"),
        pytest.param(lambda: bundle() + bundle(), E.TRAILING_DATA, id="second-gzip-member"),
        pytest.param(lambda: gz(tar_bytes(valid_entries()) + tar_bytes([entry("hidden.py", b"x")])), E.TRAILING_DATA, id="archive-after-end-marker"),
        pytest.param(lambda: gz(tar_bytes(valid_entries()) + b"\x01"), E.TRAILING_DATA, id="byte-after-end-marker"),
    ],
)  # fmt: skip
def test_container_problems(tmp_path, make, code):
    data = make()
    rejected(data, code)
    assert_refused_without_writing(data, code, tmp_path)


def _corrupt(data: bytes, index: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]


def test_tar_without_end_marker_is_refused():
    raw = tar_bytes(valid_entries()).rstrip(b"\x00")
    raw += bytes(-len(raw) % 512)
    rejected(gz(raw), E.CORRUPT_ARCHIVE)


# -------------------------------------------------------------------------------- manifest layer


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        pytest.param([entry("src/main.py", MAIN)], E.MANIFEST_MISSING, id="missing"),
        pytest.param([entry("sub/manifest.json", MANIFEST_BYTES), entry("src/main.py", MAIN)], E.MANIFEST_MISSING, id="not-at-root"),
        pytest.param([entry("manifest.json", None, kind=tarfile.DIRTYPE), entry("src/main.py", MAIN)], E.MANIFEST_MISSING, id="directory"),
        pytest.param([entry("manifest.json", b"{not json"), entry("src/main.py", MAIN)], E.MANIFEST_INVALID, id="bad-json"),
        pytest.param([entry("manifest.json", b"[1, 2]"), entry("src/main.py", MAIN)], E.MANIFEST_INVALID, id="array"),
        pytest.param([entry("manifest.json", b'{"entrypoint": "a", "entrypoint": "b"}')], E.MANIFEST_INVALID, id="duplicate-keys"),
        pytest.param([entry("manifest.json", b'{"x": NaN}')], E.MANIFEST_INVALID, id="nan"),
        pytest.param([entry("manifest.json", b"\xef\xbb\xbf{}")], E.MANIFEST_INVALID, id="bom"),
        pytest.param([entry("manifest.json", b" " * (300 * 1024) + b"{}")], E.MANIFEST_INVALID, id="too-large"),
        pytest.param([entry("manifest.json", b"{}"), entry("src/main.py", MAIN)], E.ENTRYPOINT_MISSING, id="no-entrypoint"),
        pytest.param([entry("manifest.json", MANIFEST_BYTES)], E.ENTRYPOINT_MISSING, id="entrypoint-absent"),
        pytest.param([entry("manifest.json", MANIFEST_BYTES), entry("src/main.py", None, kind=tarfile.DIRTYPE)], E.ENTRYPOINT_MISSING, id="entrypoint-is-dir"),
        pytest.param([entry("manifest.json", MANIFEST_BYTES), entry("src/main.py", None, kind=tarfile.SYMTYPE, linkname="x")], E.LINK_NOT_ALLOWED, id="entrypoint-is-symlink"),
    ],
)  # fmt: skip
def test_manifest_and_entrypoint(tmp_path, entries, code):
    rejected(bundle(entries), code)
    assert_refused_without_writing(bundle(entries), code, tmp_path)


# -------------------------------------------------------------------------------------- packing


def make_source(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "manifest.json").write_bytes(MANIFEST_BYTES)
    (root / "src" / "main.py").write_bytes(MAIN)
    (root / "src" / "pkg" / "__init__.py").write_bytes(b"")
    (root / "src" / "pkg" / "data-\u00e9.txt").write_text("d\u00e9j\u00e0 vu")
    (root / "src" / "pkg" / ("long-" * 30 + ".py")).write_text("x = 1\n")
    (root / "empty-dir").mkdir()
    return root


def test_pack_is_deterministic_despite_mtimes_modes_and_creation_order(tmp_path):
    first = pack_directory(make_source(tmp_path / "a"))
    assert pack_directory(tmp_path / "a") == first

    # Same content created in another order, with other times and permissions.
    other = tmp_path / "b"
    (other / "empty-dir").mkdir(parents=True)
    (other / "src" / "pkg").mkdir(parents=True)
    (other / "src" / "pkg" / ("long-" * 30 + ".py")).write_text("x = 1\n")
    (other / "src" / "pkg" / "data-\u00e9.txt").write_text("d\u00e9j\u00e0 vu")
    (other / "src" / "pkg" / "__init__.py").write_bytes(b"")
    (other / "src" / "main.py").write_bytes(MAIN)
    (other / "manifest.json").write_bytes(MANIFEST_BYTES)
    for index, path in enumerate(sorted(other.rglob("*"))):
        os.utime(path, (1_000_000 + index, 1_700_000_000 + index * 7))
        if path.is_file():
            path.chmod(0o755 if index % 2 else 0o600)
    (other / "src").chmod(0o700)
    try:
        assert pack_directory(other) == first
    finally:
        (other / "src").chmod(0o755)

    (other / "src" / "main.py").write_bytes(MAIN + b"# changed\n")
    assert pack_directory(other) != first


def test_pack_normalises_metadata(tmp_path):
    data = pack_directory(make_source(tmp_path / "src"))
    assert data[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert names == [
        "empty-dir", "manifest.json", "src", "src/main.py", "src/pkg", "src/pkg/__init__.py",
        "src/pkg/data-\u00e9.txt", "src/pkg/" + "long-" * 30 + ".py",
    ]  # fmt: skip
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname, member.mtime) == (0, 0, "", "", 0)
        assert member.mode == (0o755 if member.isdir() else 0o644)
        assert member.isdir() or member.isreg()


def test_pack_known_answer_of_the_tar_stream(tmp_path):
    """Any change to the packing format changes every code_sha256: it must be deliberate."""
    root = tmp_path / "src"
    (root / "src").mkdir(parents=True)
    (root / "manifest.json").write_bytes(MANIFEST_BYTES)
    (root / "src" / "main.py").write_bytes(MAIN)
    tar_stream = zlib.decompress(pack_directory(root), wbits=31)
    assert hashlib.sha256(tar_stream).hexdigest() == KNOWN_TAR_SHA256


KNOWN_TAR_SHA256 = "f4ab4971f08bd56859d3f6d77ddc3309cff2902ad4171ea2eeb769ca252db963"


def test_pack_roundtrip_through_extract(tmp_path):
    source = make_source(tmp_path / "src")
    dest = tmp_path / "dest"
    dest.mkdir()
    info = extract_bundle(pack_directory(source), dest)
    for path in source.rglob("*"):
        twin = dest / path.relative_to(source)
        assert twin.is_dir() if path.is_dir() else twin.read_bytes() == path.read_bytes()
    assert "src/main.py" in info.file_names


def test_pack_skips_vcs_and_caches(tmp_path):
    source = make_source(tmp_path / "src")
    (source / ".git").mkdir()
    (source / ".git" / "config").write_text("[credential]\n")
    (source / "src" / "__pycache__").mkdir()
    (source / "src" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0")
    (source / "src" / "stale.pyc").write_bytes(b"\0")
    names = inspect_bundle(pack_directory(source)).file_names
    assert not any(".git" in n or "pycache" in n or n.endswith(".pyc") for n in names)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        pytest.param(lambda s: (s / "src" / "link.py").symlink_to(s / "src" / "main.py"), E.LINK_NOT_ALLOWED, id="symlink"),
        pytest.param(lambda s: (s / "dangling").symlink_to("/nonexistent"), E.LINK_NOT_ALLOWED, id="dangling-symlink"),
        pytest.param(lambda s: (s / "linked-dir").symlink_to(s / "src", target_is_directory=True), E.LINK_NOT_ALLOWED, id="dir-symlink"),
        pytest.param(lambda s: os.mkfifo(s / "pipe"), E.SPECIAL_FILE, id="fifo"),
        pytest.param(lambda s: (s / "manifest.json").unlink(), E.MANIFEST_MISSING, id="no-manifest"),
        pytest.param(lambda s: (s / "src" / "main.py").unlink(), E.ENTRYPOINT_MISSING, id="no-entrypoint"),
        pytest.param(lambda s: (s / "bad\\name.py").write_text(""), E.UNSAFE_NAME, id="backslash-name"),
    ],
)  # fmt: skip
def test_pack_refuses_unsafe_sources(tmp_path, make, code):
    source = make_source(tmp_path / "src")
    make(source)
    with pytest.raises(BundleRejected) as info:
        pack_directory(source)
    assert info.value.code is code, info.value.message


def test_pack_limits(tmp_path):
    source = make_source(tmp_path / "src")
    with pytest.raises(BundleRejected) as info:
        pack_directory(source, max_members=3)
    assert info.value.code is E.TOO_MANY_MEMBERS
    (source / "big.bin").write_bytes(bytes(2 * 1024 * 1024))
    with pytest.raises(BundleRejected) as info:
        pack_directory(source, max_uncompressed_bytes=1024 * 1024)
    assert info.value.code is E.UNCOMPRESSED_TOO_LARGE
