"""PreparedQuery: the instances the plain QuerySet gives, from SQL compiled once per connection."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler

from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.tenancy.models import ApiToken, Membership, Role, Tenant, TenantPolicy
from argus_plugins.tenancy.permissions import CALLER_ROLE, with_role_of_user
from tests.support.postgres import run_check_script
from tests.support.prepared import compare, create_world, hot_path_queries, values_for


def membership_query() -> PreparedQuery[Membership]:
    return PreparedQuery(
        lambda pk: Membership.objects.select_related("user", "tenant__policy").filter(pk=pk),
        Membership._meta.pk,
    )


def plain_membership(pk):
    return Membership.objects.select_related("user", "tenant__policy").get(pk=pk)


def stored_values(obj) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


def snapshot(membership: Membership) -> dict:
    """Every stored value of the membership and of the objects select_related brought along."""
    tenant = membership.tenant
    policy = tenant.policy if hasattr(tenant, "policy") else None
    return {
        "membership": stored_values(membership),
        "user": stored_values(membership.user),
        "tenant": stored_values(tenant),
        "policy": stored_values(policy) if policy else None,
    }


def test_rows_and_select_related_objects_equal_the_plain_querysets(world, django_assert_num_queries):
    TenantPolicy.objects.create(tenant=world.tenant_a, max_concurrent_executions=3)
    prepared = membership_query()
    memberships = [
        Membership.objects.get(user=world.analyst_a),  # tenant A, which has a policy
        Membership.objects.get(user=world.admin_b),  # tenant B, which has none
    ]
    for membership in memberships:
        with django_assert_num_queries(1):
            loaded = prepared.first(membership.pk)
        with django_assert_num_queries(0):  # everything select_related promised is there
            got = snapshot(loaded)
        assert got == snapshot(plain_membership(membership.pk))
    assert snapshot(prepared.first(memberships[0].pk))["policy"]["max_concurrent_executions"] == 3
    assert snapshot(prepared.first(memberships[1].pk))["policy"] is None


def test_values_are_accepted_as_the_orm_accepts_them(world):
    membership = Membership.objects.get(user=world.analyst_a)
    prepared = membership_query()
    assert prepared.first(str(membership.pk)).pk == membership.pk
    assert prepared.first(membership.pk.hex).pk == membership.pk


def test_nothing_found_is_none_or_an_empty_list(world):
    prepared = membership_query()
    assert prepared.first(uuid.uuid4()) is None
    assert prepared.fetch(uuid.uuid4()) == []


def test_the_sql_is_compiled_once_per_connection(world):
    prepared = membership_query()
    ids = list(Membership.objects.values_list("pk", flat=True))
    with mock.patch.object(SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql) as as_sql:
        for pk in ids * 2:
            assert prepared.first(pk).pk == pk
    assert as_sql.call_count == 1


def test_annotations_and_several_values(world):
    prepared = PreparedQuery(
        lambda pk, user_id: with_role_of_user(Tenant.objects.all(), user_id, "pk").filter(pk=pk),
        Tenant._meta.pk,
        Membership._meta.get_field("user"),
    )
    tenant_a = world.tenant_a.pk
    assert getattr(prepared.first(tenant_a, world.analyst_a.pk), CALLER_ROLE) == Role.ANALYST
    assert getattr(prepared.first(tenant_a, world.admin_a.pk), CALLER_ROLE) == Role.ADMIN
    assert getattr(prepared.first(tenant_a, world.admin_b.pk), CALLER_ROLE) is None
    assert getattr(prepared.first(world.tenant_b.pk, world.admin_b.pk), CALLER_ROLE) == Role.ADMIN
    with pytest.raises(TypeError):
        prepared.first(tenant_a)


def test_a_text_value_and_limits_and_ordering(world):
    from argus_plugins.tenancy import services
    from argus_plugins.tenancy.tokens import hash_token

    _, raw = services.create_api_token(actor=world.admin_a, name="t")
    by_hash = PreparedQuery(
        lambda digest: ApiToken.objects.select_related("user").filter(token_hash=digest).order_by("-pk")[:1],
        ApiToken._meta.get_field("token_hash"),
    )
    assert by_hash.first(hash_token(raw)).user == world.admin_a
    assert by_hash.first(hash_token(raw + "x")) is None


def test_it_reads_inside_the_callers_transaction(world):
    prepared = membership_query()
    with transaction.atomic():
        created = Membership.objects.create(user=world.outsider, tenant=world.tenant_b, role=Role.VIEWER)
        assert prepared.first(created.pk).user == world.outsider


def test_querysets_whose_sql_depends_on_more_than_values_are_refused(world):
    with pytest.raises(TypeError):
        PreparedQuery(lambda pk: Membership.objects.filter(pk=pk).values("role"), Membership._meta.pk).fetch(
            uuid.uuid4()
        )
    with pytest.raises(ValueError, match="plain value"):
        PreparedQuery(lambda pk: Membership.objects.all(), Membership._meta.pk).fetch(uuid.uuid4())


@pytest.mark.django_db(transaction=True)
def test_each_thread_uses_its_own_connection(world):
    prepared = membership_query()
    memberships = list(Membership.objects.all())
    results: dict[int, list] = {}

    def load(index: int) -> None:
        try:
            results[index] = [prepared.first(m.pk).user_id for m in memberships]
        finally:
            connection.close()

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {i: [m.user_id for m in memberships] for i in range(4)}


def test_every_hot_path_query_equals_the_plain_orm(db):
    """Each PreparedQuery the code keeps (bench/prepared_bench.py measures each) against the QuerySet it
    stands for: rows, select_related objects and annotations."""
    world = create_world()
    queries = hot_path_queries()
    assert len(queries) == 11, [label for label, _ in queries]  # the table in argus_plugins/core/prepared.py
    differing = [label for label, prepared in queries if not compare(prepared, values_for(prepared, world))]
    assert differing == []
    found_nothing = {label for label, prepared in queries if not prepared.fetch(*values_for(prepared, world))}
    assert found_nothing == {"execution.worker._EVIDENCE_LINKS", "marketplace.plans._CURRENT_PLAN_MODELS"}


@pytest.mark.postgres
def test_the_hot_queries_on_postgresql_equal_the_plain_orm(postgres_database, tmp_path):
    result = run_check_script(
        Path(__file__).with_name("prepared_postgres_check.py"), postgres_database, tmp_path
    )
    assert result["compared"] >= 15 and result["mismatches"] == []
