"""Match YARA rules against every evidence item; report each matching rule with its string offsets.

Uses yara-python (native code, from the version's frozen dependency layer): the rules are compiled once,
then each evidence file is scanned. Reports progress on fd 3 when the platform provides it.
"""

import contextlib
import json
import os
import sys

import yara

EVIDENCE_DIR = "/argus/evidence"
OUTPUT = "/argus/output/output.json"
HERE = os.path.dirname(os.path.abspath(__file__))
MAX_STRINGS_PER_RULE = 20


def progress(fraction, message):
    """The platform's progress protocol: one JSON line on $ARGUS_PROGRESS_FD, when it is open."""
    with contextlib.suppress(OSError):
        line = json.dumps({"progress": fraction, "message": message}) + "\n"
        os.write(int(os.environ.get("ARGUS_PROGRESS_FD", "3")), line.encode())


def main():
    params = json.load(sys.stdin)
    if params.get("rules"):
        rules = yara.compile(source=params["rules"])
    else:
        rules = yara.compile(filepath=os.path.join(HERE, "rules", "default.yar"))
    names = sorted(os.listdir(EVIDENCE_DIR))
    results = []
    for index, name in enumerate(names):
        progress(index / max(len(names), 1), f"scanning evidence {index + 1} of {len(names)}")
        matches = rules.match(os.path.join(EVIDENCE_DIR, name), timeout=60)
        results.append(
            {
                "evidence": index,
                "matches": [
                    {
                        "rule": match.rule,
                        "description": match.meta.get("description", ""),
                        "strings": [
                            {
                                "identifier": found.identifier,
                                "offsets": [hit.offset for hit in found.instances][:MAX_STRINGS_PER_RULE],
                            }
                            for found in match.strings
                        ],
                    }
                    for match in matches
                ],
            }
        )
    progress(1.0, "done")
    with open(OUTPUT, "w") as out:
        json.dump({"yara_version": yara.__version__, "evidence_items": len(names), "results": results}, out)
    print(f"scanned {len(names)} evidence item(s) with yara {yara.__version__}")


if __name__ == "__main__":
    main()
