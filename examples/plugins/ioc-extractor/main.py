"""Extract indicators (e-mails, phones, IBANs, crypto wallets, URLs, IPv4) from text evidence.

Argus container contract: input JSON on stdin, evidence at /argus/evidence/<id>, result JSON at
/argus/output/output.json. Standard library only.
"""

import collections
import contextlib
import ipaddress
import json
import os
import re
import sys

EVIDENCE_DIR = "/argus/evidence"
MAX_BYTES_PER_ITEM = 50 * 1024 * 1024

PATTERNS = {
    "email": re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b"),
    # International format only (+CC …): bare digit runs (account numbers, IBAN tails) are too ambiguous.
    "phone": re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,4}\)?){1,2}(?:[\s.-]?\d{2,4}){1,3}\b"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?\b"),
    "btc": re.compile(r"\b(?:bc1[ac-hj-np-z02-9]{25,87}|[13][a-km-zA-HJ-NP-Z1-9]{25,34})\b"),
    "eth": re.compile(r"\b0x[a-fA-F0-9]{40}\b"),
    "url": re.compile(r"\bhttps?://[^\s\"'<>]{3,2048}"),
    "ipv4": re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
}


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616 mod-97 check, so random letter/digit runs are not reported as IBANs."""
    iban = candidate.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def ipv4_is_valid(candidate: str) -> bool:
    try:
        ipaddress.IPv4Address(candidate)
    except ValueError:
        return False
    return True


def phone_is_valid(candidate: str) -> bool:
    """E.164 numbers have 8 to 15 digits; this also drops time-zone offsets such as +0000."""
    return 8 <= sum(ch.isdigit() for ch in candidate) <= 15


VALIDATORS = {"iban": iban_is_valid, "ipv4": ipv4_is_valid, "phone": phone_is_valid}


def normalise(kind: str, value: str) -> str:
    if kind == "email":
        return value.lower()
    if kind in ("iban", "phone"):
        return re.sub(r"[\s().-]", "", value)
    if kind == "url":
        return value.rstrip(".,;)")
    return value


def extract(text: str, kinds: list[str]) -> dict[str, collections.Counter]:
    found = {kind: collections.Counter() for kind in kinds}
    for kind in kinds:
        validate = VALIDATORS.get(kind)
        for match in PATTERNS[kind].finditer(text):
            value = normalise(kind, match.group(0))
            if validate is None or validate(value):
                found[kind][value] += 1
    return found


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
    kinds = request.get("types") or list(PATTERNS)
    limit = request.get("max_per_type", 1000)
    items, totals = [], collections.Counter()
    evidence_ids = sorted(os.listdir(EVIDENCE_DIR)) if os.path.isdir(EVIDENCE_DIR) else []
    for index, evidence_id in enumerate(evidence_ids):
        report_progress(index / len(evidence_ids), f"scanning evidence {index + 1} of {len(evidence_ids)}")
        with open(os.path.join(EVIDENCE_DIR, evidence_id), "rb") as handle:
            text = handle.read(MAX_BYTES_PER_ITEM).decode("utf-8", errors="replace")
        for kind, counter in extract(text, kinds).items():
            for value, count in counter.most_common(limit):
                items.append({"evidence_id": evidence_id, "type": kind, "value": value, "count": count})
                totals[kind] += 1
    print(f"scanned {len(evidence_ids)} evidence item(s); found {sum(totals.values())} distinct indicator(s)")
    result = {
        "evidence_scanned": len(evidence_ids),
        "totals": dict(sorted(totals.items())),
        "indicators": items,
    }
    with open("/argus/output/output.json", "w") as out:
        json.dump(result, out)
    report_progress(1.0, "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
