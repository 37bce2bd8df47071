"""Hash evidence, identify file types by magic bytes and flag high-entropy (encrypted/packed) content."""

import contextlib
import hashlib
import json
import math
import os
import sys

EVIDENCE_DIR = "/argus/evidence"
CHUNK = 1024 * 1024

# (offset, magic bytes, type, MIME type)
SIGNATURES = [
    (0, b"%PDF-", "PDF document", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG image", "image/png"),
    (0, b"\xff\xd8\xff", "JPEG image", "image/jpeg"),
    (0, b"GIF87a", "GIF image", "image/gif"),
    (0, b"GIF89a", "GIF image", "image/gif"),
    (0, b"PK\x03\x04", "ZIP archive (or OOXML/JAR/APK)", "application/zip"),
    (0, b"\x1f\x8b", "gzip archive", "application/gzip"),
    (0, b"7z\xbc\xaf\x27\x1c", "7-Zip archive", "application/x-7z-compressed"),
    (0, b"Rar!\x1a\x07", "RAR archive", "application/vnd.rar"),
    (0, b"\x7fELF", "ELF executable", "application/x-elf"),
    (0, b"MZ", "Windows PE executable", "application/vnd.microsoft.portable-executable"),
    (
        0,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "OLE2 compound document (legacy Office)",
        "application/x-ole-storage",
    ),
    (0, b"SQLite format 3\x00", "SQLite database", "application/vnd.sqlite3"),
    (4, b"ftyp", "ISO media (MP4/MOV/HEIC)", "video/mp4"),
    (0, b"{\\rtf", "RTF document", "application/rtf"),
]


def identify(head: bytes) -> tuple[str, str]:
    for offset, magic, kind, mime in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind, mime
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown binary data", "application/octet-stream"
    return "text", "text/plain"


def entropy(counts: list[int], total: int) -> float:
    if total == 0:
        return 0.0
    return -sum(c / total * math.log2(c / total) for c in counts if c)


def triage(path: str) -> dict:
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    counts, size, head = [0] * 256, 0, b""
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            if not head:
                head = chunk[:64]
            sha256.update(chunk)
            sha512.update(chunk)
            size += len(chunk)
            for byte in chunk:
                counts[byte] += 1
    kind, mime = identify(head)
    return {
        "size": size,
        "sha256": sha256.hexdigest(),
        "sha512": sha512.hexdigest(),
        "type": kind,
        "mime": mime,
        "entropy": round(entropy(counts, size), 4),
    }


def report_progress(fraction: float, message: str) -> None:
    """Tell the platform how far along the run is (shown while it runs): one JSON line on the progress
    descriptor the platform passes in ARGUS_PROGRESS_FD. Never fails the plugin."""
    descriptor = os.environ.get("ARGUS_PROGRESS_FD")
    if descriptor is None:
        return
    line = json.dumps({"progress": round(fraction, 4), "message": message[:200]}) + "\n"
    with contextlib.suppress(OSError, ValueError):
        os.write(int(descriptor), line.encode())


def main() -> int:
    request = json.load(sys.stdin)
    threshold = float(request.get("entropy_threshold", 7.5))
    report = []
    ids = sorted(os.listdir(EVIDENCE_DIR)) if os.path.isdir(EVIDENCE_DIR) else []
    for index, evidence_id in enumerate(ids):
        report_progress(index / len(ids), f"triaging evidence {index + 1} of {len(ids)}")
        item = triage(os.path.join(EVIDENCE_DIR, evidence_id))
        item["evidence_id"] = evidence_id
        item["likely_encrypted_or_packed"] = item["entropy"] >= threshold and item["type"] in (
            "unknown binary data",
            "Windows PE executable",
            "ELF executable",
        )
        report.append(item)
        print(f"{evidence_id}: {item['type']}, {item['size']} bytes, entropy {item['entropy']}")
    with open("/argus/output/output.json", "w") as out:
        json.dump({"items": report}, out)
    report_progress(1.0, "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
