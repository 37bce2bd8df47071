"""Reading schedules, events, subscriptions and webhooks: any member of the tenant (VIEWER and up)."""

from __future__ import annotations

from typing import Any

import graphene
from django.db.models import Prefetch, QuerySet

from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.permissions import require_tenant_role

from ..events import get_event
from ..models import (
    Event,
    EventDelivery,
    EventSubscription,
    Schedule,
    ScheduleFiring,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from ..schedules import get_schedule
from ..subscriptions import get_subscription
from ..webhooks import get_delivery, get_endpoint
from .types import (
    DeliveryOutcomeEnum,
    EventConnection,
    EventDeliveryConnection,
    EventSubscriptionConnection,
    EventSubscriptionType,
    EventType,
    FiringOutcomeEnum,
    ScheduleConnection,
    ScheduleFiringConnection,
    ScheduleType,
    WebhookDeliveryConnection,
    WebhookDeliveryStatusEnum,
    WebhookDeliveryType,
    WebhookEndpointConnection,
    WebhookEndpointType,
)

_INSTALLATION = ("installation__plugin__publisher", "installation__tenant", "installation__installed_by")
_EXECUTION = ("plugin_version__plugin", "installation__plugin", "triggered_by", "tenant", "ledger_entry")


def _with_execution(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}__{path}" for path in _EXECUTION)


def schedule_queryset() -> QuerySet[Schedule]:
    return Schedule.objects.live().select_related(
        "tenant",
        "created_by",
        "periodic_task__crontab",
        "periodic_task__interval",
        *_INSTALLATION,
        *_with_execution("last_execution"),
    )


def subscription_queryset() -> QuerySet[EventSubscription]:
    return EventSubscription.objects.live().select_related("tenant", "created_by", *_INSTALLATION)


def delivery_queryset() -> QuerySet[EventDelivery]:
    return EventDelivery.objects.select_related(
        "event__tenant",
        "subscription__tenant",
        "subscription__created_by",
        *(f"subscription__{path}" for path in _INSTALLATION),
        *_with_execution("execution"),
    )


def webhook_delivery_queryset() -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.select_related(
        "endpoint__tenant", "endpoint__created_by", "event__tenant"
    ).prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("number")))


class TriggerQueries(graphene.ObjectType):
    schedule = graphene.Field(ScheduleType, id=graphene.ID(required=True))
    schedules = graphene.Field(
        ScheduleConnection,
        required=True,
        **connection_args(
            tenant_id=graphene.ID(required=True), installation_id=graphene.ID(), enabled=graphene.Boolean()
        ),
    )
    schedule_firings = graphene.Field(
        ScheduleFiringConnection,
        required=True,
        **connection_args(schedule_id=graphene.ID(required=True), outcome=FiringOutcomeEnum()),
    )
    event_subscription = graphene.Field(EventSubscriptionType, id=graphene.ID(required=True))
    event_subscriptions = graphene.Field(
        EventSubscriptionConnection,
        required=True,
        **connection_args(
            tenant_id=graphene.ID(required=True), installation_id=graphene.ID(), event_type=graphene.String()
        ),
    )
    event = graphene.Field(EventType, id=graphene.ID(required=True))
    events = graphene.Field(
        EventConnection,
        required=True,
        **connection_args(tenant_id=graphene.ID(required=True), type=graphene.String()),
    )
    event_deliveries = graphene.Field(
        EventDeliveryConnection,
        required=True,
        **connection_args(
            tenant_id=graphene.ID(required=True),
            subscription_id=graphene.ID(),
            event_id=graphene.ID(),
            outcome=DeliveryOutcomeEnum(),
        ),
    )
    webhook_endpoint = graphene.Field(WebhookEndpointType, id=graphene.ID(required=True))
    webhook_endpoints = graphene.Field(
        WebhookEndpointConnection, required=True, **connection_args(tenant_id=graphene.ID(required=True))
    )
    webhook_delivery = graphene.Field(WebhookDeliveryType, id=graphene.ID(required=True))
    webhook_deliveries = graphene.Field(
        WebhookDeliveryConnection,
        required=True,
        **connection_args(
            tenant_id=graphene.ID(required=True),
            endpoint_id=graphene.ID(),
            status=WebhookDeliveryStatusEnum(),
        ),
    )

    # ------------------------------------------------------------------------------ schedules

    @staticmethod
    def resolve_schedule(root: Any, info: graphene.ResolveInfo, id: str) -> Schedule:
        return schedule_queryset().get(pk=get_schedule(info.context.user, id).pk)

    @staticmethod
    def resolve_schedules(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str,
        installation_id: str | None = None,
        enabled: bool | None = None,
        **page: Any,
    ):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = schedule_queryset().filter(tenant=membership.tenant)
        if installation_id:
            items = items.filter(installation_id=parse_uuid(installation_id, field="installationId"))
        if enabled is not None:
            items = items.filter(enabled=enabled)
        return resolve_connection(ScheduleConnection, items.order_by("-created_at", "id"), **page)

    @staticmethod
    def resolve_schedule_firings(
        root: Any, info: graphene.ResolveInfo, schedule_id: str, outcome: str | None = None, **page: Any
    ):
        schedule = get_schedule(info.context.user, schedule_id, field="scheduleId")
        items = ScheduleFiring.objects.filter(schedule=schedule).select_related(*_with_execution("execution"))
        if outcome:
            items = items.filter(outcome=outcome)
        return resolve_connection(ScheduleFiringConnection, items.order_by("-fired_at", "id"), **page)

    # --------------------------------------------------------------------------------- events

    @staticmethod
    def resolve_event_subscription(root: Any, info: graphene.ResolveInfo, id: str) -> EventSubscription:
        return subscription_queryset().get(pk=get_subscription(info.context.user, id).pk)

    @staticmethod
    def resolve_event_subscriptions(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str,
        installation_id: str | None = None,
        event_type: str | None = None,
        **page: Any,
    ):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = subscription_queryset().filter(tenant=membership.tenant)
        if installation_id:
            items = items.filter(installation_id=parse_uuid(installation_id, field="installationId"))
        if event_type:
            items = items.filter(event_type=event_type)
        return resolve_connection(EventSubscriptionConnection, items.order_by("-created_at", "id"), **page)

    @staticmethod
    def resolve_event(root: Any, info: graphene.ResolveInfo, id: str) -> Event:
        return get_event(info.context.user, id)

    @staticmethod
    def resolve_events(
        root: Any, info: graphene.ResolveInfo, tenant_id: str, type: str | None = None, **page
    ):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = Event.objects.filter(tenant=membership.tenant).select_related(
            "tenant", *_with_execution("source_execution")
        )
        if type:
            items = items.filter(type=type)
        return resolve_connection(EventConnection, items.order_by("-created_at", "id"), **page)

    @staticmethod
    def resolve_event_deliveries(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str,
        subscription_id: str | None = None,
        event_id: str | None = None,
        outcome: str | None = None,
        **page: Any,
    ):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = delivery_queryset().filter(tenant=membership.tenant)
        if subscription_id:
            items = items.filter(subscription_id=parse_uuid(subscription_id, field="subscriptionId"))
        if event_id:
            items = items.filter(event_id=parse_uuid(event_id, field="eventId"))
        if outcome:
            items = items.filter(outcome=outcome)
        return resolve_connection(EventDeliveryConnection, items.order_by("-created_at", "id"), **page)

    # ------------------------------------------------------------------------------- webhooks

    @staticmethod
    def resolve_webhook_endpoint(root: Any, info: graphene.ResolveInfo, id: str) -> WebhookEndpoint:
        return get_endpoint(info.context.user, id)

    @staticmethod
    def resolve_webhook_endpoints(root: Any, info: graphene.ResolveInfo, tenant_id: str, **page: Any):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = (
            WebhookEndpoint.objects.live()
            .filter(tenant=membership.tenant)
            .select_related("tenant", "created_by")
        )
        return resolve_connection(WebhookEndpointConnection, items.order_by("-created_at", "id"), **page)

    @staticmethod
    def resolve_webhook_delivery(root: Any, info: graphene.ResolveInfo, id: str) -> WebhookDelivery:
        return webhook_delivery_queryset().get(pk=get_delivery(info.context.user, id).pk)

    @staticmethod
    def resolve_webhook_deliveries(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str,
        endpoint_id: str | None = None,
        status: str | None = None,
        **page: Any,
    ):
        membership = require_tenant_role(info.context.user, tenant_id)
        items = webhook_delivery_queryset().filter(
            tenant=membership.tenant, endpoint__deleted_at__isnull=True
        )
        if endpoint_id:
            items = items.filter(endpoint_id=parse_uuid(endpoint_id, field="endpointId"))
        if status:
            items = items.filter(status=status)
        return resolve_connection(WebhookDeliveryConnection, items.order_by("-created_at", "id"), **page)
