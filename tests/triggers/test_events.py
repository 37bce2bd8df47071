"""Events in-process (no worker): emission hooks, custom events, exactly-once dispatch, chain depth,
tenant isolation, filters and input templates. The real-worker chain is in integration/."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from argus_plugins.core.models import TenantFlag
from execution import services as execution_services
from execution.models import Execution, ExecutionStatus, Trigger
from installations import services as installation_services
from tests.triggers.conftest import complete, run_trigger_hooks
from triggers import dispatch, subscriptions
from triggers.events import store_event
from triggers.models import DeliveryOutcome, Event, EventDelivery


def subscribe(world, installation, event_type, **options):
    return subscriptions.create_subscription(
        actor=world.admin_a, installation_id=installation.pk, event_type=event_type, **options
    )


def run_manually(world, installation, input=None):
    return execution_services.run_plugin(
        actor=world.analyst_a, installation_id=installation.pk, input=input or {}
    )


def emits(*events):
    return {"events": [{"type": event_type, "payload": payload} for event_type, payload in events]}


def test_platform_hooks_emit_after_commit(world, plugin_factory):
    start = len(connection.run_on_commit)
    installation = plugin_factory()
    upload = SimpleUploadedFile("notes.txt", b"hello")
    evidence = execution_services.upload_evidence(
        actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=upload
    )
    stored = run_trigger_hooks(connection.run_on_commit[start:])
    assert [event.type for event in stored] == ["plugin.installed", "evidence.uploaded"]
    installed, uploaded = stored
    assert (
        installed.payload["installation_id"] == str(installation.pk) and installed.payload["plugin"] == "t1"
    )
    assert (
        uploaded.payload["evidence_id"] == str(evidence.pk) and uploaded.payload["sha256"] == evidence.sha256
    )
    assert {installed.tenant_id, uploaded.tenant_id} == {world.tenant_a.pk}
    assert installed.chain_depth == 0 and installed.source_execution is None
    # Stored once: running the hooks again stores nothing new.
    assert run_trigger_hooks(connection.run_on_commit[start:]) == []
    assert Event.objects.count() == 2


def test_execution_events_and_declared_custom_events(world, plugin_factory):
    installation = plugin_factory(capabilities=["events:emit"], emits=["custom.found"])
    execution = run_manually(world, installation)
    stored = complete(execution, emits(("custom.found", {"ip": "10.0.0.1"})))
    assert [event.type for event in stored] == ["execution.succeeded", "custom.found"]
    succeeded, custom = stored
    assert (
        succeeded.payload["execution_id"] == str(execution.pk) and succeeded.payload["status"] == "SUCCEEDED"
    )
    assert succeeded.payload["output"] == emits(("custom.found", {"ip": "10.0.0.1"}))
    assert custom.payload == {"ip": "10.0.0.1"} and custom.source_execution_id == execution.pk
    assert custom.chain_depth == 0  # a manual run starts a chain

    failed = complete(run_manually(world, installation), status=ExecutionStatus.FAILED)
    assert [event.type for event in failed] == ["execution.failed"] and failed[0].payload[
        "error_reason"
    ] == "boom"


def test_undeclared_custom_events_are_refused_and_noted(world, plugin_factory):
    installation = plugin_factory(capabilities=["events:emit"], emits=["custom.found"])
    execution = run_manually(world, installation)
    output = emits(("custom.found", {}), ("custom.secret", {}), ("evidence.uploaded", {}))
    output["events"].append("not an object")
    stored = complete(execution, output)
    assert [event.type for event in stored] == ["execution.succeeded", "custom.found"]
    warnings = Execution.objects.get(pk=execution.pk).warnings
    assert "Custom event #1 'custom.secret' refused: the manifest's 'emits' does not declare it." in warnings
    assert "Custom event #2 'evidence.uploaded' refused: the type must look like 'custom.<name>'." in warnings
    assert "Custom event #3 refused: the type must look like 'custom.<name>'." in warnings
    assert not Event.objects.filter(type="custom.secret").exists()


def test_custom_events_without_the_grant_are_refused_and_noted(world, plugin_factory):
    installation = plugin_factory(capabilities=["events:emit"], grant=False, emits=["custom.found"])
    installation_services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="events:emit"
    )
    grant = installation.grants.get()
    execution = run_manually(world, installation)
    installation_services.revoke_capability_grant(actor=world.admin_a, grant_id=grant.pk, reason="no")
    Execution.objects.filter(pk=execution.pk).update(capabilities=[])  # the run held no events:emit
    execution.refresh_from_db()
    stored = complete(execution, emits(("custom.found", {})))
    assert [event.type for event in stored] == ["execution.succeeded"]
    assert Execution.objects.get(pk=execution.pk).warnings == [
        "Custom events refused: the run did not hold the 'events:emit' capability (1 event(s) dropped)."
    ]


def test_dispatch_starts_one_run_per_matching_subscription_exactly_once(world, plugin_factory):
    source = plugin_factory(capabilities=["events:emit"], emits=["custom.found"])
    target = plugin_factory(events=["custom.found"])
    other = plugin_factory(events=["custom.found"])
    subscription = subscribe(
        world, target, "custom.found", filter="severity == 'high'", input_template={"ip": "$.ip"}
    )
    subscribe(world, other, "custom.found", filter="severity == 'low'")
    event = complete(
        run_manually(world, source), emits(("custom.found", {"ip": "10.0.0.9", "severity": "high"}))
    )[1]

    first = dispatch.dispatch(event.pk)
    again = dispatch.dispatch(event.pk)  # a re-delivered dispatch message
    assert len(first) == 1 and again == []
    delivery = EventDelivery.objects.get()
    assert (delivery.subscription, delivery.event, delivery.outcome) == (
        subscription,
        event,
        DeliveryOutcome.STARTED,
    )
    run = delivery.execution
    assert run.trigger == Trigger.EVENT and run.installation == target and run.input == {"ip": "10.0.0.9"}
    assert run.triggered_by == world.admin_a and run.status == ExecutionStatus.QUEUED
    assert Execution.objects.filter(installation=target).count() == 1
    assert not Execution.objects.filter(installation=other).exists()  # filter did not match
    assert Event.objects.get(pk=event.pk).dispatched_at is not None


def test_delivery_row_and_execution_commit_together(world, plugin_factory):
    """A dispatch that already inserted the delivery (a concurrent one) starts nothing more."""
    source = plugin_factory()
    target = plugin_factory(events=["execution.succeeded"])
    subscription = subscribe(world, target, "execution.succeeded")
    event = complete(run_manually(world, source), {"ok": True})[0]
    EventDelivery.objects.create(
        tenant=world.tenant_a, subscription=subscription, event=event, outcome=DeliveryOutcome.STARTED
    )
    assert dispatch.deliver(subscription, event) is None
    assert not Execution.objects.filter(installation=target).exists()


def test_a_cycle_stops_at_the_depth_limit_with_the_reason(world, plugin_factory, settings):
    settings.ARGUS_EVENT_MAX_CHAIN_DEPTH = 5
    a = plugin_factory(capabilities=["events:emit"], events=["custom.b"], emits=["custom.a"])
    b = plugin_factory(capabilities=["events:emit"], events=["custom.a"], emits=["custom.b"])
    subscribe(world, b, "custom.a")
    subscribe(world, a, "custom.b")
    pending = [run_manually(world, a)]
    triggered = []
    while pending:
        execution = pending.pop()
        emitted = "custom.a" if execution.installation_id == a.pk else "custom.b"
        for event in complete(execution, emits((emitted, {"hop": len(triggered)}))):
            for delivery in dispatch.dispatch(event.pk):
                if delivery.execution is not None:
                    triggered.append(delivery.execution)
                    pending.append(delivery.execution)
    assert len(triggered) == 5  # A(manual) → B → A → B → A → B, then stop
    assert [run.installation_id for run in triggered] == [b.pk, a.pk, b.pk, a.pk, b.pk]
    stopped = EventDelivery.objects.get(outcome=DeliveryOutcome.DEPTH_LIMIT)
    assert stopped.execution is None and stopped.subscription.installation == a
    assert stopped.event.type == "custom.b" and stopped.event.chain_depth == 5
    assert "limit (ARGUS_EVENT_MAX_CHAIN_DEPTH) is 5" in stopped.reason and "loop" in stopped.reason
    assert sorted(Event.objects.filter(type__startswith="custom.").values_list("chain_depth", flat=True)) == [
        0,
        1,
        2,
        3,
        4,
        5,
    ]


def test_events_never_cross_tenants(world, plugin_factory):
    mine = plugin_factory(events=["custom.found"])
    theirs = plugin_factory(tenant="b", events=["custom.found"])
    subscribe(world, mine, "custom.found")
    subscriptions.create_subscription(
        actor=world.admin_b, installation_id=theirs.pk, event_type="custom.found"
    )
    event = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="test:1")
    deliveries = dispatch.dispatch(event.pk)
    assert [d.subscription.installation for d in deliveries] == [mine]
    assert not Execution.objects.filter(tenant=world.tenant_b).exists()
    assert not EventDelivery.objects.filter(tenant=world.tenant_b).exists()


def test_events_start_nothing_while_the_feature_is_off(world, plugin_factory):
    target = plugin_factory(events=["custom.found"])
    subscribe(world, target, "custom.found")
    TenantFlag.objects.filter(name="triggers.events").update(everyone=False)
    event = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="test:2")
    assert dispatch.dispatch(event.pk) == []
    assert not Execution.objects.exists()


def test_template_string_multiselect_and_evidence_expression(world, plugin_factory):
    target = plugin_factory(capabilities=["evidence:read"], events=["evidence.uploaded"])
    subscribe(
        world,
        target,
        "evidence.uploaded",
        filter="starts_with(name, 'case-')",
        input_template="{file: name, digest: sha256}",
        evidence_expression="evidence_id",
    )
    start = len(connection.run_on_commit)
    for name in ("case-1.txt", "other.txt"):
        execution_services.upload_evidence(
            actor=world.analyst_a, tenant_id=world.tenant_a.pk, upload=SimpleUploadedFile(name, b"x")
        )
    started = []
    for event in run_trigger_hooks(connection.run_on_commit[start:]):
        started.extend(dispatch.dispatch(event.pk))
    assert len(started) == 1
    run = started[0].execution
    assert run.input["file"] == "case-1.txt" and len(run.input["digest"]) == 64
    assert [str(e.pk) for e in run.evidence.all()] == [started[0].event.payload["evidence_id"]]


def test_template_failures_and_refusals_are_recorded(world, plugin_factory):
    schema = {"type": "object", "required": ["ip"], "properties": {"ip": {"type": "string"}}}
    strict = plugin_factory(events=["custom.found"], input_schema=schema)
    refused = plugin_factory(capabilities=["artifacts:write"], grant=False, events=["custom.found"])
    subscribe(world, strict, "custom.found", input_template="ip")  # a string, not an object
    subscribe(world, refused, "custom.found")
    event = store_event(
        tenant_id=world.tenant_a.pk, type="custom.found", payload={"ip": "1.2.3.4"}, dedupe_key="t"
    )
    outcomes = {d.subscription.installation_id: d for d in dispatch.dispatch(event.pk)}
    assert outcomes[strict.pk].outcome == DeliveryOutcome.FAILED
    assert "produced str, not a JSON object" in outcomes[strict.pk].reason
    assert outcomes[refused.pk].outcome == DeliveryOutcome.REJECTED
    assert outcomes[refused.pk].execution.status == ExecutionStatus.REJECTED
    assert "artifacts:write" in outcomes[refused.pk].reason


EVENTS = """
query($t: ID!) { events(tenantId: $t, type: "custom.found") { totalCount edges { node { id type payload chainDepth
  sourceExecution { id } } } } }
"""
DELIVERIES = """
query($t: ID!) { eventDeliveries(tenantId: $t) { totalCount edges { node { outcome reason
  event { type } subscription { eventType filter } execution { id trigger } } } } }
"""


def test_events_and_deliveries_through_graphql(world, gql_for, plugin_factory):
    source = plugin_factory(capabilities=["events:emit"], emits=["custom.found"])
    target = plugin_factory(events=["custom.found"])
    subscribe(world, target, "custom.found", filter="ip")
    run = run_manually(world, source)
    event = complete(run, emits(("custom.found", {"ip": "10.0.0.9"})))[1]
    dispatch.dispatch(event.pk)
    viewer = gql_for(world.viewer_a)
    events = viewer.execute(EVENTS, {"t": str(world.tenant_a.pk)}).data["events"]
    node = events["edges"][0]["node"]
    assert events["totalCount"] == 1 and node["sourceExecution"] == {"id": str(run.pk)}
    assert json.loads(node["payload"]) == {"ip": "10.0.0.9"} and node["chainDepth"] == 0
    deliveries = viewer.execute(DELIVERIES, {"t": str(world.tenant_a.pk)}).data["eventDeliveries"]
    delivered = deliveries["edges"][0]["node"]
    assert delivered["outcome"] == "STARTED" and delivered["execution"]["trigger"] == "EVENT"
    assert delivered["subscription"] == {"eventType": "custom.found", "filter": "ip"}
    other = gql_for(world.admin_b)
    assert other.execute(EVENTS, {"t": str(world.tenant_a.pk)}).errors[0]["extensions"]["code"] == "NOT_FOUND"
    found = other.execute("query($id: ID!) { event(id: $id) { id } }", {"id": str(event.pk)})
    assert found.errors[0]["extensions"]["code"] == "NOT_FOUND"


def _dispatch_state(event):
    event.refresh_from_db()
    return (event.dispatch_enqueued_at is not None, event.dispatched_at is not None)


def test_an_event_nobody_listens_to_is_stored_as_dispatched_without_a_task(world, plugin_factory):
    start = len(connection.run_on_commit)
    event = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="quiet")
    assert _dispatch_state(event) == (False, True)
    assert connection.run_on_commit[start:] == []  # no dispatch task published


def test_a_subscription_of_the_tenant_makes_the_event_dispatched(world, plugin_factory):
    target = plugin_factory(events=["custom.found", "custom.other"])
    subscribe(world, target, "custom.other")  # another type: still nobody listens to custom.found
    other = plugin_factory(tenant="b", events=["custom.found"])
    subscriptions.create_subscription(
        actor=world.admin_b, installation_id=other.pk, event_type="custom.found"
    )
    quiet = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="q1")
    assert _dispatch_state(quiet) == (False, True)  # tenant B's subscription does not count for A
    subscribe(world, target, "custom.found")
    start = len(connection.run_on_commit)
    heard = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="q2")
    assert _dispatch_state(heard) == (True, False)
    assert len(connection.run_on_commit[start:]) == 1  # its dispatch, after commit


def test_a_subscription_whose_filter_cannot_match_the_payload_does_not_make_it_dispatched(
    world, plugin_factory
):
    target = plugin_factory(events=["custom.found"])
    subscribe(world, target, "custom.found", filter="severity == 'high'")
    start = len(connection.run_on_commit)
    quiet = store_event(
        tenant_id=world.tenant_a.pk, type="custom.found", payload={"severity": "low"}, dedupe_key="f1"
    )
    assert _dispatch_state(quiet) == (False, True)
    assert connection.run_on_commit[start:] == []  # nothing to dispatch: no delivery could come of it
    heard = store_event(
        tenant_id=world.tenant_a.pk, type="custom.found", payload={"severity": "high"}, dedupe_key="f2"
    )
    assert _dispatch_state(heard) == (True, False)


def test_beyond_a_few_subscriptions_the_filters_are_left_to_dispatch(world, plugin_factory, monkeypatch):
    from triggers import events

    monkeypatch.setattr(events, "MAX_FILTERS_CHECKED_AT_STORE", 1)
    target = plugin_factory(events=["custom.found"])
    subscribe(world, target, "custom.found", filter="severity == 'high'")
    quiet = store_event(
        tenant_id=world.tenant_a.pk, type="custom.found", payload={"severity": "low"}, dedupe_key="m1"
    )
    assert _dispatch_state(quiet) == (False, True)
    subscribe(world, target, "custom.found", filter="severity == 'high'")
    many = store_event(
        tenant_id=world.tenant_a.pk, type="custom.found", payload={"severity": "low"}, dedupe_key="m2"
    )
    assert _dispatch_state(many) == (True, False)  # two filters: not evaluated in the transaction
    assert dispatch.dispatch(many.pk) == []  # dispatch evaluates them: neither matches


def test_a_filter_that_fails_on_the_payload_still_dispatches_it_so_the_failure_is_recorded(
    world, plugin_factory
):
    target = plugin_factory(events=["custom.found"])
    subscription = subscribe(world, target, "custom.found", filter="starts_with(name, 'case-')")
    event = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={"name": 7}, dedupe_key="f3")
    assert _dispatch_state(event) == (True, False)
    [delivery] = dispatch.dispatch(event.pk)
    assert delivery.subscription_id == subscription.pk
    assert delivery.outcome == "FAILED" and delivery.reason.startswith("The filter failed on this payload")


def test_a_webhook_endpoint_listens_only_to_the_types_it_wants(world):
    from triggers import webhooks

    webhooks.create_endpoint(
        actor=world.admin_a,
        tenant_id=world.tenant_a.pk,
        url="https://hooks.example.com/a",
        event_types=["custom.*"],
    )
    heard = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="w1")
    quiet = store_event(tenant_id=world.tenant_a.pk, type="evidence.uploaded", payload={}, dedupe_key="w2")
    assert _dispatch_state(heard) == (True, False)
    assert _dispatch_state(quiet) == (False, True)


def test_a_tenant_is_marked_once_it_has_any_listener(world, plugin_factory):
    from triggers import webhooks

    target = plugin_factory(events=["custom.found"])
    assert not _listeners_configured(world.tenant_a) and not _listeners_configured(world.tenant_b)
    subscribe(world, target, "custom.found")
    assert _listeners_configured(world.tenant_a) and not _listeners_configured(world.tenant_b)
    webhooks.create_endpoint(
        actor=world.admin_b,
        tenant_id=world.tenant_b.pk,
        url="https://hooks.example.com/b",
        event_types=["custom.*"],
    )
    assert _listeners_configured(world.tenant_b)


def test_a_listener_made_directly_through_the_orm_marks_its_tenant_too(world, plugin_factory):
    from triggers.models import EventSubscription

    target = plugin_factory(events=["custom.found"])
    EventSubscription.objects.create(
        tenant=world.tenant_a, installation=target, event_type="custom.found", created_by=world.admin_a
    )
    heard = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="orm")
    assert _dispatch_state(heard) == (True, False)


def test_a_tenant_without_listeners_stores_an_event_with_one_lookup_and_one_insert(world):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="cheap")
    statements = [q["sql"].split()[0] for q in captured.captured_queries]
    # (SAVEPOINT/RELEASE only because the test itself runs inside a transaction.)
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["SELECT", "INSERT"]


def _listeners_configured(tenant):
    tenant.refresh_from_db()
    return tenant.event_listeners_configured


def test_a_finished_runs_event_commits_or_rolls_back_with_its_terminal_status(world, plugin_factory):
    from django.db import transaction

    execution = run_manually(world, plugin_factory())

    class Abandon(Exception):
        pass

    try:
        with transaction.atomic():
            stored = complete(execution, {"n": 1})
            assert [event.type for event in stored] == ["execution.succeeded"]  # already there, before commit
            raise Abandon
    except Abandon:
        pass
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.QUEUED
    assert not Event.objects.filter(source_execution=execution).exists()


def test_an_event_that_cannot_be_stored_never_undoes_the_runs_record(
    world, plugin_factory, monkeypatch, caplog
):
    from triggers import events

    def broken(**_kwargs):
        raise RuntimeError("event table unavailable")

    monkeypatch.setattr(events, "store_event", broken)
    execution = run_manually(world, plugin_factory())
    assert complete(execution, {"n": 1}) == []
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.SUCCEEDED and execution.ledger_entry_id is not None
    assert f"Emitting events for {execution.pk} failed" in caplog.text


def test_a_runs_event_is_dispatched_by_the_worker_right_after_the_commit_without_a_task(
    world, plugin_factory, monkeypatch, django_capture_on_commit_callbacks
):
    """An event chain's next run is queued by the process that recorded the previous one, in an after-commit
    step (no dispatch task, no Celery round trip); a dispatch that fails there falls back to the task."""
    from argus_plugins.core import publishing
    from triggers import events

    installation = plugin_factory(events=["execution.succeeded"])
    subscribe(world, installation, "execution.succeeded")
    first = run_manually(world, installation)
    sent = []
    monkeypatch.setattr(publishing, "publish", lambda task_name, *args: sent.append(task_name))
    with django_capture_on_commit_callbacks(execute=True):
        (stored,) = complete(first, {"n": 1})
    assert "triggers.dispatch_event" not in sent
    assert _dispatch_state(stored) == (True, True)
    (delivery,) = EventDelivery.objects.filter(event=stored)
    assert delivery.outcome == DeliveryOutcome.STARTED and delivery.execution.trigger == Trigger.EVENT

    def broken(event_id):
        raise RuntimeError("database gone")  # fault injection: the after-commit dispatch fails

    second = run_manually(world, installation)
    monkeypatch.setattr(events.dispatch, "dispatch", broken)
    with django_capture_on_commit_callbacks(execute=True):
        (stored,) = complete(second, {"n": 2})
    assert "triggers.dispatch_event" in sent  # the task dispatches it instead
    assert _dispatch_state(stored) == (True, False)
