"""{{title}}: counts the lines of each evidence item that mention a keyword.

The Argus container contract (see the platform README, "The container contract"):
- the run's input is /argus/input.json (also on stdin), checked against manifest.json's input_schema;
- evidence items are read-only files under /argus/evidence/;
- the result is the JSON written to /argus/output/output.json;
- stdout and stderr are kept with the run (the first MiB of each);
- no network, a read-only file system except /tmp and /argus/output; standard library only.
"""

import contextlib
import json
import os
import sys

INPUT = "/argus/input.json"
EVIDENCE_DIR = "/argus/evidence"
OUTPUT = "/argus/output/output.json"


def report_progress(fraction: float, message: str) -> None:
    """Tell the platform how far the run is (shown while it runs): one JSON line on the progress file
    descriptor ($ARGUS_PROGRESS_FD); harmless where nobody listens."""
    fd = os.environ.get("ARGUS_PROGRESS_FD")
    line = json.dumps({"progress": round(fraction, 3), "message": message}) + "\n"
    if fd:
        with contextlib.suppress(OSError):
            os.write(int(fd), line.encode())


def scan(path: str, keyword: str) -> dict:
    matches = 0
    lines = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            lines += 1
            if keyword.lower() in line.lower():
                matches += 1
    return {"lines": lines, "matches": matches}


def main() -> int:
    with open(INPUT, encoding="utf-8") as handle:
        params = json.load(handle)
    keyword = params["keyword"]
    # Evidence files are named by their id on the platform (a UUID), by their file name in local runs:
    # report totals, not names, so that both give the same output.
    names = sorted(os.listdir(EVIDENCE_DIR)) if os.path.isdir(EVIDENCE_DIR) else []
    totals = {"lines": 0, "matches": 0}
    for index, name in enumerate(names):
        report_progress(index / max(len(names), 1), f"scanning evidence {index + 1} of {len(names)}")
        for key, value in scan(os.path.join(EVIDENCE_DIR, name), keyword).items():
            totals[key] += value
    report_progress(1.0, "done")
    with open(OUTPUT, "w", encoding="utf-8") as handle:
        json.dump({"keyword": keyword, "evidence_items": len(names), **totals}, handle, sort_keys=True)
    print(f"scanned {len(names)} evidence item(s) for {keyword!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
