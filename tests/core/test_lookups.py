"""``field__any_of`` (argus_plugins.core.lookups): the rows ``__in`` finds, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import Plugin, Publisher
from tests.conftest import make_user


@pytest.mark.django_db
def test_any_of_finds_what_in_finds():
    publishers = [Publisher.objects.create(name=f"P{index}", slug=f"p{index}") for index in range(4)]
    wanted = [publishers[2].pk, publishers[0].pk, publishers[2].pk, None, uuid.uuid4()]
    for values in (wanted, [], [None], {publishers[1].pk: "a dict's keys"}, (publishers[3].pk,)):
        found = set(Publisher.objects.filter(pk__any_of=values).values_list("slug", flat=True))
        assert found == set(Publisher.objects.filter(pk__in=values).values_list("slug", flat=True))
    assert Publisher.objects.filter(pk__any_of=wanted).count() == 2
    assert Publisher.objects.filter(name__any_of=["P1", "P3", "nobody"]).count() == 2
    # Relations: ids or instances, as with __in.
    owner = make_user("lookup-owner")
    for publisher in publishers[:3]:
        Plugin.objects.create(publisher=publisher, slug=publisher.slug, name=publisher.name, created_by=owner)
    for values in ([publishers[0].pk, publishers[2].pk, None], [publishers[1]], []):
        found = sorted(Plugin.objects.filter(publisher__any_of=values).values_list("slug", flat=True))
        assert found == sorted(Plugin.objects.filter(publisher__in=values).values_list("slug", flat=True))
    assert Plugin.objects.filter(publisher_id__any_of=[publishers[1].pk, publishers[3].pk]).count() == 1
    subquery = Publisher.objects.filter(slug="p1").values("pk")
    assert list(Publisher.objects.filter(pk__any_of=subquery).values_list("slug", flat=True)) == ["p1"]
    with CaptureQueriesContext(connection) as captured:
        list(Publisher.objects.filter(pk__any_of=wanted))
    sql = captured.captured_queries[0]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql and " IN (" not in sql
    else:
        assert " IN (" in sql
