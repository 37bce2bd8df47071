"""Run by test_postgres_session.py in a subprocess against a PostgreSQL database (DATABASE_URL): the planner
settings the platform's connections start with, as JSON."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.check_scripts import start_django  # noqa: E402

start_django(migrate=False)

from django.db import connection  # noqa: E402

with connection.cursor() as cursor:
    cursor.execute("SHOW random_page_cost")
    (random_page_cost,) = cursor.fetchone()
print(json.dumps({"vendor": connection.vendor, "random_page_cost": random_page_cost}))
