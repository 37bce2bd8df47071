"""Run by test_postgres_session.py in a subprocess against a PostgreSQL database (DATABASE_URL): the planner
settings the platform's connections start with, as JSON."""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

with connection.cursor() as cursor:
    cursor.execute("SHOW random_page_cost")
    (random_page_cost,) = cursor.fetchone()
print(json.dumps({"vendor": connection.vendor, "random_page_cost": random_page_cost}))
