"""Operators see schedules, events, deliveries and endpoints read-only; they can pause a schedule."""

from __future__ import annotations

from django_celery_beat.models import PeriodicTask

from triggers import schedules, webhooks
from triggers.events import store_event
from triggers.models import Schedule


def test_admin_pages_are_read_only_and_hide_secrets(operator_client, world, plugin_factory, settings):
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    installation = plugin_factory()
    schedule = schedules.create_schedule(
        actor=world.admin_a,
        installation_id=installation.pk,
        cron_expression="0 9 * * *",
        timezone="Asia/Tokyo",
    )
    endpoint, secret = webhooks.create_endpoint(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, url="http://127.0.0.1:9/", event_types=["custom.*"]
    )
    store_event(tenant_id=world.tenant_a.pk, type="custom.x", payload={}, dedupe_key="admin")
    for model in (
        "schedule",
        "schedulefiring",
        "event",
        "eventsubscription",
        "eventdelivery",
        "webhookendpoint",
        "webhookdelivery",
        "webhookattempt",
    ):
        assert operator_client.get(f"/admin/triggers/{model}/").status_code == 200, model
        assert operator_client.get(f"/admin/triggers/{model}/add/").status_code == 403, model
    page = operator_client.get(f"/admin/triggers/schedule/{schedule.pk}/change/")
    assert page.status_code == 200 and b"0 9 * * *" in page.content
    detail = operator_client.get(f"/admin/triggers/webhookendpoint/{endpoint.pk}/change/")
    assert detail.status_code == 200 and secret.encode() not in detail.content
    assert endpoint.secret_encrypted.encode() not in detail.content
    # Beat's own admin lists the schedule's periodic task.
    beat = operator_client.get("/admin/django_celery_beat/periodictask/")
    assert f"triggers.schedule:{schedule.pk}".encode() in beat.content


def test_operator_pauses_a_schedule(operator_client, world, plugin_factory):
    installation = plugin_factory()
    schedule = schedules.create_schedule(
        actor=world.admin_a, installation_id=installation.pk, interval_seconds=600
    )
    response = operator_client.post(
        "/admin/triggers/schedule/", {"action": "pause_selected", "_selected_action": [str(schedule.pk)]}
    )
    assert response.status_code == 302
    schedule = Schedule.objects.get(pk=schedule.pk)
    assert schedule.enabled is False and schedule.paused_reason.startswith("Paused by operator root-op")
    assert PeriodicTask.objects.get(pk=schedule.periodic_task_id).enabled is False
