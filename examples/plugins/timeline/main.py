"""Build a UTC timeline from the timestamps in text evidence; write timeline.csv as an artifact."""

import contextlib
import csv
import datetime as dt
import email.utils
import json
import os
import re
import sys

EVIDENCE_DIR = "/argus/evidence"
ARTIFACTS_DIR = "/argus/artifacts"
MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1
    )
}

ISO = re.compile(r"\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)(Z|[+-]\d{2}:?\d{2})?")
RFC2822 = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}")
NCSA = re.compile(r"\[(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]")
SYSLOG = re.compile(r"^(\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b")
EPOCH = re.compile(r"\b(1[0-9]{9})(?:\.\d+)?\b")


def parse_line(line: str, syslog_year: int) -> tuple[dt.datetime, str] | None:
    if m := ISO.search(line):
        zone = m.group(3) or "Z"
        text = f"{m.group(1)}T{m.group(2)}{'+00:00' if zone == 'Z' else zone}"
        try:
            return dt.datetime.fromisoformat(text).astimezone(dt.UTC), "iso8601"
        except ValueError:
            pass
    if m := RFC2822.search(line):
        return email.utils.parsedate_to_datetime(m.group(0)).astimezone(dt.UTC), "rfc2822"
    if m := NCSA.search(line):
        day, month, year, hh, mm, ss, zone = m.groups()
        offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * (1 if zone[0] == "+" else -1)
        local = dt.datetime(
            int(year), MONTHS.get(month, 1), int(day), int(hh), int(mm), int(ss), tzinfo=dt.timezone(offset)
        )
        return local.astimezone(dt.UTC), "ncsa"
    if (m := SYSLOG.match(line)) and m.group(1) in MONTHS:
        month, day, hh, mm, ss = m.groups()
        return dt.datetime(
            syslog_year, MONTHS[month], int(day), int(hh), int(mm), int(ss), tzinfo=dt.UTC
        ), "syslog"
    if m := EPOCH.search(line):
        return dt.datetime.fromtimestamp(int(m.group(1)), tz=dt.UTC), "epoch"
    return None


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
    syslog_year = request.get("year_for_syslog", dt.datetime.now(dt.UTC).year)
    max_events = request.get("max_events", 10000)
    events = []
    ids = sorted(os.listdir(EVIDENCE_DIR)) if os.path.isdir(EVIDENCE_DIR) else []
    for index, evidence_id in enumerate(ids):
        report_progress(index / len(ids), f"reading evidence {index + 1} of {len(ids)}")
        with open(os.path.join(EVIDENCE_DIR, evidence_id), encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                parsed = parse_line(line, syslog_year)
                if parsed:
                    when, source_format = parsed
                    events.append(
                        {
                            "time": when.isoformat().replace("+00:00", "Z"),
                            "format": source_format,
                            "evidence_id": evidence_id,
                            "line": number,
                            "text": line.strip()[:500],
                        }
                    )
    events.sort(key=lambda event: (event["time"], event["evidence_id"], event["line"]))
    events = events[:max_events]
    if os.path.isdir(ARTIFACTS_DIR) and os.access(ARTIFACTS_DIR, os.W_OK):
        with open(os.path.join(ARTIFACTS_DIR, "timeline.csv"), "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["time", "format", "evidence_id", "line", "text"])
            writer.writeheader()
            writer.writerows(events)
    first = events[0]["time"] if events else None
    last = events[-1]["time"] if events else None
    print(f"{len(events)} event(s) from {len(ids)} evidence item(s), {first} .. {last}")
    with open("/argus/output/output.json", "w") as out:
        json.dump({"count": len(events), "first": first, "last": last, "events": events}, out)
    report_progress(1.0, "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
