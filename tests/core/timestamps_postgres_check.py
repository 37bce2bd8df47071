"""Run by test_postgres_timestamps.py in a subprocess against a fresh PostgreSQL database (DATABASE_URL):
loads the same timestamptz values through the platform's connection (psycopg's C loader) and through
Django's own loader, in a UTC session and in another time zone, and prints both as JSON."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.check_scripts import start_django  # noqa: E402

start_django(migrate=False)

from django.db import connection  # noqa: E402
from django.db.backends.postgresql.psycopg_any import register_tzloader  # noqa: E402
from psycopg.pq import Format  # noqa: E402

VALUES = (
    "'2024-03-01 12:34:56.123456+05:30'",
    "'1999-12-31 23:59:59.5-08'",
    "'0001-01-02 00:00:00+00'",
    "'9999-12-31 23:59:59.999999+00'",
    "'2026-10-25 01:30:00+02'",
    "now()",
    "null",
)
SQL = "SELECT " + ", ".join(f"{value}::timestamptz" for value in VALUES)


def load(django_loader: bool) -> list:
    with connection.cursor() as cursor:
        if django_loader:  # what Django registers on its connections
            register_tzloader(connection.timezone, cursor.cursor)
        cursor.execute(SQL)
        row = cursor.fetchone()
    return [
        None if value is None else [value.isoformat(), value.tzinfo is connection.timezone] for value in row
    ]


with connection.cursor() as cursor:
    cursor.execute("SELECT now()")  # connects
loader = connection.connection.adapters.get_loader(1184, Format.TEXT)
with connection.cursor() as cursor:  # one statement: now() is the transaction's time in both loads
    cursor.execute("BEGIN")
utc = {"platform": load(False), "django": load(True)}
with connection.cursor() as cursor:
    cursor.execute("COMMIT")
    cursor.execute("SET TIME ZONE 'America/New_York'")
    cursor.execute("BEGIN")
other = {"platform": load(False), "django": load(True)}
with connection.cursor() as cursor:
    cursor.execute("COMMIT")
print(json.dumps({"vendor": connection.vendor, "loader": loader.__name__, "utc": utc, "other_zone": other}))
