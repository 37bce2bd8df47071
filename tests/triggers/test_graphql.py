"""The GraphQL surface: role matrix, typed errors for bad input (nothing written), feature flags, reads."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django_celery_beat.models import PeriodicTask

from argus_plugins.core import clock
from argus_plugins.core.models import TenantFlag
from triggers import schedules
from triggers.models import EventSubscription, Schedule, WebhookEndpoint

CREATE_SCHEDULE = """
mutation($installationId: ID!, $cron: String, $intervalSeconds: Int, $timezone: String, $input: JSONString,
         $evidenceIds: [ID!]) {
  createSchedule(installationId: $installationId, cron: $cron, intervalSeconds: $intervalSeconds,
                 timezone: $timezone, input: $input, evidenceIds: $evidenceIds) {
    schedule { id cron intervalSeconds timezone enabled overlapPolicy nextRunAt input }
    errors { code field message }
  }
}
"""
UPDATE_SCHEDULE = """
mutation($id: ID!, $cron: String, $enabled: Boolean) {
  updateSchedule(id: $id, cron: $cron, enabled: $enabled) {
    schedule { id cron intervalSeconds enabled pausedReason } errors { code field message }
  }
}
"""
PAUSE = 'mutation($id: ID!) { pauseSchedule(id: $id, reason: "x") { schedule { enabled } errors { code } } }'
DELETE = "mutation($id: ID!) { deleteSchedule(id: $id) { schedule { id } errors { code field } } }"
SCHEDULE = """
query($id: ID!) { schedule(id: $id) { id cron nextRunAt lastRunAt lastExecution { id status trigger }
  installation { id } createdBy } }
"""
SCHEDULES = """
query($tenantId: ID!) { schedules(tenantId: $tenantId, first: 10) { totalCount
  edges { node { id cron intervalSeconds nextRunAt lastRunAt enabled createdBy installation { id }
    lastExecution { id status } } } } }
"""
FIRINGS = """
query($id: ID!) { scheduleFirings(scheduleId: $id) { totalCount edges { node { outcome reason execution { id } } } } }
"""
CREATE_SUBSCRIPTION = """
mutation($installationId: ID!, $eventType: String!, $filter: String, $inputTemplate: JSONString) {
  createEventSubscription(installationId: $installationId, eventType: $eventType, filter: $filter,
                          inputTemplate: $inputTemplate) {
    subscription { id eventType filter inputTemplate } errors { code field message }
  }
}
"""
SUBSCRIPTIONS = "query($t: ID!) { eventSubscriptions(tenantId: $t) { totalCount edges { node { id } } } }"
CREATE_ENDPOINT = """
mutation($tenantId: ID!, $url: String!, $types: [String!]!) {
  createWebhookEndpoint(tenantId: $tenantId, url: $url, eventTypes: $types) {
    endpoint { id } secret errors { code field message }
  }
}
"""
ENDPOINTS = "query($t: ID!) { webhookEndpoints(tenantId: $t) { totalCount edges { node { id url } } } }"


def create_schedule(client, installation, **variables):
    variables = {"installationId": str(installation.pk), **variables}
    return client.execute(CREATE_SCHEDULE, variables).payload("createSchedule")


def errors_of(payload):
    return [(error["code"], error["field"]) for error in payload["errors"]]


# ---------------------------------------------------------------------------------- role matrix


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("analyst_a", "PERMISSION_DENIED"),
        ("viewer_a", "PERMISSION_DENIED"),
        ("admin_b", "NOT_FOUND"),
        ("outsider", "NOT_FOUND"),
        ("staff", "NOT_FOUND"),
        (None, "UNAUTHENTICATED"),
    ],
)
def test_only_tenant_admins_manage(world, gql_for, plugin_factory, settings, who, code):
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    installation = plugin_factory(events=["evidence.uploaded"])
    client = gql_for(getattr(world, who) if who else None)
    results = [
        create_schedule(client, installation, intervalSeconds=3600),
        client.execute(
            CREATE_SUBSCRIPTION, {"installationId": str(installation.pk), "eventType": "evidence.uploaded"}
        ).payload("createEventSubscription"),
        client.execute(
            CREATE_ENDPOINT,
            {"tenantId": str(world.tenant_a.pk), "url": "http://127.0.0.1:9/x", "types": ["custom.x"]},
        ).payload("createWebhookEndpoint"),
    ]
    for payload in results:
        assert [error["code"] for error in payload["errors"]] == [code]
    assert not Schedule.objects.exists() and not EventSubscription.objects.exists()
    assert not WebhookEndpoint.objects.exists() and not PeriodicTask.objects.filter(
        task="triggers.fire_schedule"
    )


def test_admin_manages_analyst_and_viewer_read_other_tenant_sees_nothing(
    world, gql_for, plugin_factory, settings
):
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    installation = plugin_factory(events=["evidence.uploaded"])
    admin = gql_for(world.admin_a)
    schedule = create_schedule(admin, installation, cron="0 9 * * 1-5", timezone="Europe/Berlin")["schedule"]
    subscription = admin.execute(
        CREATE_SUBSCRIPTION,
        {
            "installationId": str(installation.pk),
            "eventType": "evidence.uploaded",
            "filter": "size > `10`",
            "inputTemplate": json.dumps({"name": "$.name", "literal": "$$.keep", "n": 1}),
        },
    ).payload("createEventSubscription")
    assert subscription["errors"] == [] and subscription["subscription"]["filter"] == "size > `10`"
    assert json.loads(subscription["subscription"]["inputTemplate"]) == {
        "name": "$.name",
        "literal": "$$.keep",
        "n": 1,
    }
    endpoint = admin.execute(
        CREATE_ENDPOINT,
        {"tenantId": str(world.tenant_a.pk), "url": "http://127.0.0.1:9/x", "types": ["custom.*"]},
    ).payload("createWebhookEndpoint")
    assert endpoint["errors"] == []

    tenant = str(world.tenant_a.pk)
    for reader in (world.analyst_a, world.viewer_a):
        client = gql_for(reader)
        assert client.execute(SCHEDULE, {"id": schedule["id"]}).data["schedule"]["cron"] == "0 9 * * 1-5"
        assert client.execute(SCHEDULES, {"tenantId": tenant}).data["schedules"]["totalCount"] == 1
        assert client.execute(SUBSCRIPTIONS, {"t": tenant}).data["eventSubscriptions"]["totalCount"] == 1
        assert client.execute(ENDPOINTS, {"t": tenant}).data["webhookEndpoints"]["totalCount"] == 1
        denied = client.execute(PAUSE, {"id": schedule["id"]}).payload("pauseSchedule")
        assert denied["errors"] == [{"code": "PERMISSION_DENIED"}]

    other = gql_for(world.admin_b)
    for query, variables in [
        (SCHEDULE, {"id": schedule["id"]}),
        (SCHEDULES, {"tenantId": tenant}),
        (SUBSCRIPTIONS, {"t": tenant}),
        (ENDPOINTS, {"t": tenant}),
        (FIRINGS, {"id": schedule["id"]}),
    ]:
        assert other.execute(query, variables).errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert other.execute(PAUSE, {"id": schedule["id"]}).payload("pauseSchedule")["errors"] == [
        {"code": "NOT_FOUND"}
    ]

    paused = admin.execute(PAUSE, {"id": schedule["id"]}).payload("pauseSchedule")
    assert paused == {"schedule": {"enabled": False}, "errors": []}
    resumed = admin.execute(UPDATE_SCHEDULE, {"id": schedule["id"], "enabled": True}).payload(
        "updateSchedule"
    )
    assert resumed["schedule"]["enabled"] is True and resumed["schedule"]["pausedReason"] == ""
    deleted = admin.execute(DELETE, {"id": schedule["id"]}).payload("deleteSchedule")
    assert deleted["errors"] == []
    assert admin.execute(SCHEDULE, {"id": schedule["id"]}).errors[0]["extensions"]["code"] == "NOT_FOUND"


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"cron": "61 * * * *"}, ("INVALID_CRON", "cron")),
        ({"cron": "* * * *"}, ("INVALID_CRON", "cron")),
        ({"cron": "0 0 31 2 *"}, ("INVALID_CRON", "cron")),
        ({"intervalSeconds": 59}, ("INTERVAL_TOO_SHORT", "intervalSeconds")),
        ({"intervalSeconds": 0}, ("INVALID", "intervalSeconds")),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, ("INVALID_TIMEZONE", "timezone")),
        ({"cron": "0 9 * * *", "timezone": "../../etc/passwd"}, ("INVALID_TIMEZONE", "timezone")),
        ({}, ("SCHEDULE_REQUIRED", None)),
        ({"cron": "0 9 * * *", "intervalSeconds": 3600}, ("SCHEDULE_REQUIRED", None)),
        ({"intervalSeconds": 3600, "input": "[1, 2]"}, ("INPUT_INVALID", "input")),
        ({"intervalSeconds": 3600, "evidenceIds": ["nope"]}, ("INVALID", "evidenceIds")),
        (
            {"intervalSeconds": 3600, "evidenceIds": ["00000000-0000-4000-8000-000000000000"]},
            ("NOT_FOUND", "evidenceIds"),
        ),
    ],
)
def test_bad_schedule_input_is_typed_and_writes_nothing(world, gql_for, plugin_factory, variables, expected):
    installation = plugin_factory()
    payload = create_schedule(gql_for(world.admin_a), installation, **variables)
    assert errors_of(payload) == [expected] and payload["schedule"] is None
    assert (
        not Schedule.objects.exists()
        and not PeriodicTask.objects.filter(task="triggers.fire_schedule").exists()
    )


def test_malformed_ids_are_typed_errors(world, gql_for):
    client = gql_for(world.admin_a)
    payload = client.execute(CREATE_SCHEDULE, {"installationId": "nope", "intervalSeconds": 3600})
    assert errors_of(payload.payload("createSchedule")) == [("INVALID", "installationId")]
    assert errors_of(client.execute(DELETE, {"id": "1; drop"}).payload("deleteSchedule")) == [
        ("INVALID", "id")
    ]
    assert client.execute(SCHEDULE, {"id": "x"}).errors[0]["extensions"] == {"code": "INVALID", "field": "id"}
    assert client.execute(SCHEDULES, {"tenantId": "x"}).errors[0]["extensions"]["code"] == "INVALID"
    created = client.execute(CREATE_SUBSCRIPTION, {"installationId": "x", "eventType": "evidence.uploaded"})
    assert errors_of(created.payload("createEventSubscription")) == [("INVALID", "installationId")]
    endpoint = client.execute(
        CREATE_ENDPOINT, {"tenantId": "x", "url": "https://example.org", "types": ["custom.a"]}
    )
    assert errors_of(endpoint.payload("createWebhookEndpoint")) == [("INVALID", "tenantId")]


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"filter": "foo["}, ("INVALID_FILTER", "filter")),
        ({"filter": "nofunction(foo)"}, ("INVALID_FILTER", "filter")),
        ({"filter": "length(a, b)"}, ("INVALID_FILTER", "filter")),
        ({"inputTemplate": json.dumps({"a": "$.[broken"})}, ("INVALID_INPUT_TEMPLATE", "inputTemplate.a")),
        ({"inputTemplate": json.dumps("{a: ")}, ("INVALID_INPUT_TEMPLATE", "inputTemplate")),
        ({"inputTemplate": "[1]"}, ("INVALID_INPUT_TEMPLATE", "inputTemplate")),
        ({"eventType": "evidence.deleted"}, ("INVALID_EVENT_TYPE", "eventType")),
        ({"eventType": "custom.Bad-Name"}, ("INVALID_EVENT_TYPE", "eventType")),
        ({"eventType": "plugin.installed"}, ("EVENT_NOT_DECLARED", "eventType")),
    ],
)
def test_bad_subscription_input_is_typed_and_writes_nothing(
    world, gql_for, plugin_factory, variables, expected
):
    installation = plugin_factory(events=["evidence.uploaded"])
    variables = {"installationId": str(installation.pk), "eventType": "evidence.uploaded", **variables}
    payload = (
        gql_for(world.admin_a).execute(CREATE_SUBSCRIPTION, variables).payload("createEventSubscription")
    )
    assert errors_of(payload) == [expected]
    assert not EventSubscription.objects.exists()


def test_bad_endpoint_event_types_are_typed(world, gql_for, settings):
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    client = gql_for(world.admin_a)
    for types, code in [
        ([], "REQUIRED"),
        (["made.up"], "INVALID_EVENT_TYPE"),
        (["nothing.*"], "INVALID_EVENT_TYPE"),
    ]:
        payload = client.execute(
            CREATE_ENDPOINT,
            {"tenantId": str(world.tenant_a.pk), "url": "http://127.0.0.1:9/", "types": types},
        ).payload("createWebhookEndpoint")
        assert errors_of(payload) == [(code, "eventTypes")]
    assert not WebhookEndpoint.objects.exists()


# ------------------------------------------------------------------------------------ feature flags


@pytest.mark.parametrize("flag", ["triggers.schedules", "triggers.events", "webhooks"])
def test_feature_flags_off_refuse_and_write_nothing(world, gql_for, plugin_factory, settings, flag):
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    installation = plugin_factory(events=["evidence.uploaded"])
    admin = gql_for(world.admin_a)
    TenantFlag.objects.filter(name=flag).update(everyone=False)
    if flag == "triggers.schedules":
        payload = create_schedule(admin, installation, intervalSeconds=3600)
    elif flag == "triggers.events":
        payload = admin.execute(
            CREATE_SUBSCRIPTION, {"installationId": str(installation.pk), "eventType": "evidence.uploaded"}
        ).payload("createEventSubscription")
    else:
        payload = admin.execute(
            CREATE_ENDPOINT,
            {"tenantId": str(world.tenant_a.pk), "url": "http://127.0.0.1:9/", "types": ["custom.a"]},
        ).payload("createWebhookEndpoint")
    assert [error["code"] for error in payload["errors"]] == ["FEATURE_DISABLED"]
    assert not Schedule.objects.exists() and not EventSubscription.objects.exists()
    assert not WebhookEndpoint.objects.exists()


def test_flag_on_for_one_tenant_only(world, gql_for, plugin_factory):
    flag = TenantFlag.objects.get(name="triggers.schedules")
    flag.everyone = None
    flag.save()
    flag.tenants.add(world.tenant_b)
    installation = plugin_factory()
    payload = create_schedule(gql_for(world.admin_a), installation, intervalSeconds=3600)
    assert errors_of(payload) == [("FEATURE_DISABLED", None)]
    flag.tenants.add(world.tenant_a)
    assert create_schedule(gql_for(world.admin_a), installation, intervalSeconds=3600)["errors"] == []


# ------------------------------------------------------------------------------------------ reads


def test_schedule_shows_next_and_last_run_and_last_execution(world, gql_for, plugin_factory):
    installation = plugin_factory()
    with clock.frozen(dt.datetime(2026, 10, 30, 12, tzinfo=dt.UTC)):
        created = create_schedule(
            gql_for(world.admin_a), installation, cron="0 9 * * *", timezone="America/New_York"
        )
        assert created["schedule"]["nextRunAt"] == "2026-10-30T13:00:00+00:00"
    with clock.frozen(dt.datetime(2026, 10, 30, 13, tzinfo=dt.UTC)):
        firing = schedules.fire(created["schedule"]["id"])
    with clock.frozen(dt.datetime(2026, 10, 31, 20, tzinfo=dt.UTC)):
        data = gql_for(world.viewer_a).execute(SCHEDULE, {"id": created["schedule"]["id"]}).data["schedule"]
    assert data["nextRunAt"] == "2026-11-01T14:00:00+00:00"  # 09:00 EST, after the DST change
    assert data["lastRunAt"] == "2026-10-30T13:00:00+00:00" and data["createdBy"] == "alice-admin"
    assert data["lastExecution"] == {
        "id": str(firing.execution_id),
        "status": "QUEUED",
        "trigger": "SCHEDULED",
    }
    firings = gql_for(world.viewer_a).execute(FIRINGS, {"id": created["schedule"]["id"]}).data
    assert firings["scheduleFirings"]["edges"][0]["node"]["outcome"] == "STARTED"


def test_updating_switches_between_cron_and_interval(world, gql_for, plugin_factory):
    installation = plugin_factory()
    admin = gql_for(world.admin_a)
    created = create_schedule(admin, installation, intervalSeconds=3600)["schedule"]
    updated = admin.execute(UPDATE_SCHEDULE, {"id": created["id"], "cron": "@hourly"}).payload(
        "updateSchedule"
    )
    assert updated["errors"] == [] and updated["schedule"]["cron"] == "0 * * * *"
    assert updated["schedule"]["intervalSeconds"] is None
    bad = admin.execute(UPDATE_SCHEDULE, {"id": created["id"], "cron": "nope"}).payload("updateSchedule")
    assert errors_of(bad) == [("INVALID_CRON", "cron")]
    assert Schedule.objects.get().cron_expression == "0 * * * *"


def test_schedule_list_does_not_grow_queries(world, gql_for, plugin_factory, django_assert_max_num_queries):
    installation = plugin_factory()
    admin = gql_for(world.admin_a)
    create_schedule(admin, installation, cron="0 9 * * *")
    first = create_schedule(admin, installation, intervalSeconds=600)["schedule"]
    schedules.fire(first["id"])
    variables = {"tenantId": str(world.tenant_a.pk)}
    with django_assert_max_num_queries(12) as captured:
        admin.execute(SCHEDULES, variables)
    few = len(captured)
    for _ in range(4):
        created = create_schedule(admin, installation, intervalSeconds=600)["schedule"]
        schedules.fire(created["id"])
    with django_assert_max_num_queries(few):
        result = admin.execute(SCHEDULES, variables)
    assert result.data["schedules"]["totalCount"] == 6
