"""The bundle reader (registry/bundles.py) against the standard library's ``tarfile``, on this interpreter.

    .venv/bin/python bench/bundle_reader_bench.py [--rounds R] [--files F] [--pax-kib K] [--tiny]

Two measurements, side by side in one run, CPU time of this process, best of R rounds:

1. **A hostile PAX header** (CVE-2024-6232): one ``x`` header of K KiB of digits. ``tarfile`` before
   3.11.10 / 3.12.6 searches it with a backtracking regular expression (quadratic in its length), and
   reads extended headers of any size; ``inspect_bundle`` refuses it after reading at most 12 bytes of
   it. Printed: each side's milliseconds, and the ratio. ``requires-python`` allows any 3.11 and the
   image follows ``python:3.11``'s tag, so no fixed ``tarfile`` can be counted on.
2. **A well-formed bundle** of F small Python files: ``inspect_bundle`` (gunzip, parse, name policy,
   SHA-256 of every file, manifest) against ``tarfile.open(mode="r:gz")`` iterating the members and
   hashing every file (no policy at all). Printed: milliseconds and the ratio, so that keeping our reader
   is seen to cost nothing on the common path.

``--tiny`` (2 rounds, 50 files, 16 KiB) only proves the bench still runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.bundles import BundleRejected, inspect_bundle, pack_directory


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--pax-kib", type=int, default=64)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    if args.tiny:
        args.rounds, args.files, args.pax_kib = 2, 50, 16
    return args


def hostile_pax_bundle(size: int) -> bytes:
    """A gzip'd tar whose first member is a PAX ``x`` header of ``size`` ASCII digits, then a file."""
    info = tarfile.TarInfo("PaxHeaders/main.py")
    info.type = tarfile.XHDTYPE
    info.size = size
    header = info.tobuf(tarfile.USTAR_FORMAT)
    payload = b"1" * size + bytes(-size % tarfile.BLOCKSIZE)
    member = tarfile.TarInfo("main.py")
    member.size = 3
    body = member.tobuf(tarfile.USTAR_FORMAT) + b"hi\n" + bytes(tarfile.BLOCKSIZE - 3)
    return gzip.compress(header + payload + body + bytes(2 * tarfile.BLOCKSIZE), mtime=0)


def bundle_of(files: int) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "manifest.json").write_text('{"name": "bench", "entrypoint": "main.py"}')
        (root / "main.py").write_text("print('hi')\n")
        (root / "pkg").mkdir()
        for index in range(files):
            (root / "pkg" / f"module_{index:04d}.py").write_text(f"VALUE = {index}\n" * 40)
        return pack_directory(root)


def ours(data: bytes) -> None:
    with contextlib.suppress(BundleRejected):
        inspect_bundle(data)


def stdlib(data: bytes) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                if member.isfile():
                    hashlib.sha256(archive.extractfile(member).read()).hexdigest()
    except tarfile.TarError:
        pass


def best_ms(function: Callable[[bytes], None], data: bytes, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        function(data)
        best = min(best, time.process_time() - start)
    return best * 1000


def main() -> int:
    args = parse_args()
    print(f"Python {sys.version.split()[0]}; CPU ms, best of {args.rounds} rounds")
    hostile = hostile_pax_bundle(args.pax_kib * 1024)
    try:
        inspect_bundle(hostile)
        raise SystemExit("inspect_bundle accepted the hostile PAX header")
    except BundleRejected as rejected:
        print(f"hostile PAX header ({args.pax_kib} KiB): inspect_bundle refuses it with {rejected.code}")
    our_ms, stdlib_ms = best_ms(ours, hostile, args.rounds), best_ms(stdlib, hostile, args.rounds)
    ratio = stdlib_ms / max(our_ms, 1e-3)
    print(f"  inspect_bundle {our_ms:9.2f} ms   tarfile {stdlib_ms:9.2f} ms   tarfile/ours {ratio:8.0f}x")
    bundle = bundle_of(args.files)
    our_ms, stdlib_ms = best_ms(ours, bundle, args.rounds), best_ms(stdlib, bundle, args.rounds)
    print(f"well-formed bundle ({args.files + 2} files, {len(bundle)} bytes gzip'd):")
    ratio = our_ms / stdlib_ms
    print(f"  inspect_bundle {our_ms:9.2f} ms   tarfile {stdlib_ms:9.2f} ms   ours/tarfile {ratio:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
