"""GraphQL edge benchmark: server CPU spent to refuse hostile documents, against the 50 ms budget.

    .venv/bin/python bench/graphql_edge_bench.py [--rounds N] [--tiny]

In process (no server, no database): each document is sent through the real view with Django's test
client, anonymous, and also checked as an authenticated caller would be (introspection allowed: parse,
structural limits, validation and cost, exactly the view's ``check_document`` + ``operation_errors``).
Every round uses a fresh text (a unique comment), so the view's document cache never helps: an attacker
can vary the text just as easily. Printed per document: median and max CPU milliseconds (process time)
to refuse, the error code, and the ratio to the 50 ms budget. ``--tiny`` runs 2 rounds (CI smoke test).
It exits non-zero if a document is not refused or answers a 5xx.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "argus_plugins.settings")
os.environ["RATELIMIT_ENABLE"] = "false"  # measures the document checks, not the limiter

import django

django.setup()

from django.test import Client  # noqa: E402
from graphql import get_operation_ast  # noqa: E402

from argus_plugins.core.graphql import view  # noqa: E402
from argus_plugins.core.graphql.validation import operation_errors, validation_rules  # noqa: E402
from argus_plugins.schema import schema  # noqa: E402

BUDGET_MS = 50.0
DEEP_SCHEMA = (
    "__schema { types { name fields { name args { name type { name ofType { name ofType { name } } } } "
    "type { name ofType { name ofType { name ofType { name } } } } } } }"
)
DOCUMENTS = {
    "100 aliases of a deep __schema": "{ " + " ".join(f"a{i}: {DEEP_SCHEMA}" for i in range(100)) + " }",
    "10 aliases of a deep __schema": "{ " + " ".join(f"a{i}: {DEEP_SCHEMA}" for i in range(10)) + " }",
    "500 duplicated fields": "{ me { " + " ".join(["username"] * 500) + " } }",
    "fragment cycle": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
    "2 000 nested selections": "{ me " * 2_000 + "}" * 2_000,
    "100 aliased createApiToken": "mutation { "
    + " ".join(f'a{i}: createApiToken(name: "t{i}") {{ token }}' for i in range(100))
    + " }",
}


def refuse_anonymously(client: Client, query: str) -> tuple[float, int, str]:
    body = json.dumps({"query": query})
    start = time.process_time()
    response = client.post("/graphql/", data=body, content_type="application/json")
    elapsed = (time.process_time() - start) * 1000
    errors = json.loads(response.content).get("errors") or [{}]
    return elapsed, response.status_code, errors[0].get("extensions", {}).get("code", "")


def refuse_as_authenticated(query: str) -> tuple[float, str]:
    graphql_schema = schema.graphql_schema
    start = time.process_time()
    checked = view.check_document(graphql_schema, query, validation_rules(introspection=True))
    errors = list(checked.errors)
    if not errors and checked.document is not None:
        operation = get_operation_ast(checked.document)
        errors = operation_errors(graphql_schema, checked.document, operation, {}) if operation else []
    elapsed = (time.process_time() - start) * 1000
    code = (errors[0].extensions or {}).get("code", "GRAPHQL_VALIDATION_FAILED") if errors else "ACCEPTED"
    return elapsed, code


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--tiny", "--quick", action="store_true", help="2 rounds: a smoke test for CI")
    options = parser.parse_args()
    rounds = 2 if options.tiny else options.rounds
    client = Client(HTTP_ACCEPT="application/graphql-response+json")
    failed = False
    print(f"{'document':34} {'caller':14} {'median ms':>9} {'max ms':>8} {'÷ budget':>8}  answer")
    for name, document in DOCUMENTS.items():
        anonymous, authenticated = [], []
        for round_number in range(rounds):
            fresh = f"# round {round_number}\n{document}"
            elapsed, status, code = refuse_anonymously(client, fresh)
            anonymous.append(elapsed)
            if status >= 500 or code in ("", "INTERNAL_ERROR"):
                failed = True
            elapsed, auth_code = refuse_as_authenticated(f"# again {round_number}\n{document}")
            authenticated.append(elapsed)
            if auth_code == "ACCEPTED":
                failed = True
        for caller, times, answer in (
            ("anonymous", anonymous, f"HTTP {status} {code}"),
            ("authenticated", authenticated, auth_code),
        ):
            median = statistics.median(times)
            print(
                f"{name:34} {caller:14} {median:9.2f} {max(times):8.2f} {median / BUDGET_MS:8.2f}  {answer}"
            )
    if failed:
        print("FAILED: a document was accepted or answered a server error", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
