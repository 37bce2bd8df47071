from pathlib import Path

from django.conf import settings

from argus_plugins.schema import schema


def test_checked_in_schema_matches_live_schema():
    checked_in = Path(settings.GRAPHENE["SCHEMA_OUTPUT"]).read_text()
    assert checked_in.strip() == str(schema).strip(), (
        "schema.graphql is stale: run `python manage.py graphql_schema` and commit the result"
    )
