"""Rejected and cancelled runs emit ``execution.rejected`` / ``execution.cancelled`` like finished ones,
through the same path (stored with the terminal status), and reach subscriptions and signed webhooks."""

from __future__ import annotations

from standardwebhooks.webhooks import Webhook

from execution import services as execution_services
from execution.models import ExecutionStatus
from tests.triggers.conftest import complete
from triggers import dispatch, subscriptions, webhook_delivery, webhooks
from triggers.models import Event, EventDelivery, WebhookDelivery


def _run(world, installation):
    return execution_services.run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})


def test_a_run_rejected_by_the_worker_emits_execution_rejected(world, plugin_factory):
    execution = _run(world, plugin_factory())
    [event] = complete(execution, status=ExecutionStatus.REJECTED)
    assert event.type == "execution.rejected" and event.tenant_id == world.tenant_a.pk
    assert event.payload["status"] == "REJECTED" and event.payload["error_reason"] == "boom"
    assert event.payload["execution_id"] == str(execution.pk) and "output" not in event.payload


def test_a_cancelled_queued_run_emits_execution_cancelled_with_its_status(world, plugin_factory):
    execution = _run(world, plugin_factory())
    execution_services.cancel_execution(actor=world.analyst_a, execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED and execution.ledger_entry_id is not None
    [event] = Event.objects.filter(source_execution=execution)
    assert event.type == "execution.cancelled"
    assert event.payload["status"] == "CANCELLED" and event.payload["error_reason"] == "Cancelled by andy-analyst."


def test_subscriptions_to_the_new_types_start_runs(world, plugin_factory):
    watched, reactor = plugin_factory(), plugin_factory(events=["execution.cancelled"])
    subscriptions.create_subscription(
        actor=world.admin_a, installation_id=reactor.pk, event_type="execution.cancelled"
    )
    execution_services.cancel_execution(actor=world.analyst_a, execution_id=_run(world, watched).pk)
    event = Event.objects.get(type="execution.cancelled")
    dispatch.dispatch(event.pk)
    delivery = EventDelivery.objects.get(event=event)
    assert delivery.execution.installation_id == reactor.pk and delivery.execution.trigger == "EVENT"


def test_webhooks_receive_rejected_and_cancelled_runs(world, plugin_factory, receiver):
    endpoint, secret = webhooks.create_endpoint(
        actor=world.admin_a,
        tenant_id=world.tenant_a.pk,
        url=receiver.url,
        event_types=["execution.rejected", "execution.cancelled"],
    )
    installation = plugin_factory()
    complete(_run(world, installation), status=ExecutionStatus.REJECTED)
    execution_services.cancel_execution(actor=world.analyst_a, execution_id=_run(world, installation).pk)
    complete(_run(world, installation), status=ExecutionStatus.FAILED)  # not asked for
    for event in Event.objects.all():
        dispatch.dispatch(event.pk)
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("event__created_at", "event__id")
    assert [delivery.event.type for delivery in deliveries] == ["execution.rejected", "execution.cancelled"]
    for delivery in deliveries:
        assert webhook_delivery.attempt(delivery.pk).succeeded
    bodies = [Webhook(secret).verify(request.body, request.headers) for request in receiver.requests]
    assert [(body["type"], body["data"]["status"]) for body in bodies] == [
        ("execution.rejected", "REJECTED"),
        ("execution.cancelled", "CANCELLED"),
    ]
