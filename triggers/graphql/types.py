from __future__ import annotations

from typing import Any

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection
from execution.graphql.types import ExecutionType
from installations.graphql.types import InstallationType

from .. import schedules, webhook_delivery
from ..models import (
    DeliveryOutcome,
    Event,
    EventDelivery,
    EventSubscription,
    FiringOutcome,
    OverlapPolicy,
    Schedule,
    ScheduleFiring,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)

OverlapPolicyEnum = graphene.Enum.from_enum(OverlapPolicy, name="OverlapPolicy")
FiringOutcomeEnum = graphene.Enum.from_enum(FiringOutcome, name="ScheduleFiringOutcome")
DeliveryOutcomeEnum = graphene.Enum.from_enum(DeliveryOutcome, name="EventDeliveryOutcome")
WebhookDeliveryStatusEnum = graphene.Enum.from_enum(WebhookDeliveryStatus, name="WebhookDeliveryStatus")


def _username(user: Any) -> str | None:
    return user.username if user is not None else None


class ScheduleType(DjangoObjectType):
    installation = graphene.Field(InstallationType, required=True)
    cron = graphene.String(
        description="Five-field cron expression, evaluated in `timezone`; null for intervals."
    )
    interval_seconds = graphene.Int(description="Seconds between runs; null for cron schedules.")
    timezone = graphene.String(required=True, description="IANA time zone of the cron expression.")
    input = graphene.JSONString(required=True)
    evidence_ids = graphene.List(graphene.NonNull(graphene.ID), required=True)
    overlap_policy = graphene.Field(OverlapPolicyEnum, required=True)
    next_run_at = graphene.DateTime(description="When beat sends the next firing (null while paused).")
    last_execution = graphene.Field(ExecutionType)
    created_by = graphene.String(required=True)

    class Meta:
        model = Schedule
        name = "Schedule"
        fields = (
            "id",
            "tenant",
            "enabled",
            "consecutive_rejections",
            "paused_reason",
            "paused_at",
            "last_run_at",
            "created_at",
            "updated_at",
        )

    @staticmethod
    def resolve_cron(schedule: Schedule, info: graphene.ResolveInfo) -> str | None:
        return schedule.cron_expression or None

    @staticmethod
    def resolve_next_run_at(schedule: Schedule, info: graphene.ResolveInfo) -> Any:
        return schedules.next_run_at(schedule)

    @staticmethod
    def resolve_created_by(schedule: Schedule, info: graphene.ResolveInfo) -> str | None:
        return _username(schedule.created_by)


class ScheduleConnection(CountableConnection):
    class Meta:
        node = ScheduleType


class ScheduleFiringType(DjangoObjectType):
    outcome = graphene.Field(FiringOutcomeEnum, required=True)
    execution = graphene.Field(ExecutionType)

    class Meta:
        model = ScheduleFiring
        name = "ScheduleFiring"
        fields = ("id", "fired_at", "reason")


class ScheduleFiringConnection(CountableConnection):
    class Meta:
        node = ScheduleFiringType


class EventType(DjangoObjectType):
    payload = graphene.JSONString(required=True)
    source_execution = graphene.Field(ExecutionType)

    class Meta:
        model = Event
        name = "Event"
        fields = ("id", "tenant", "type", "chain_depth", "created_at", "dispatched_at")


class EventConnection(CountableConnection):
    class Meta:
        node = EventType


class EventSubscriptionType(DjangoObjectType):
    installation = graphene.Field(InstallationType, required=True)
    filter = graphene.String(description="JMESPath over the event payload; null matches every event.")
    input_template = graphene.JSONString(
        description="Null: the payload is the input; a string: a JMESPath expression; an object: "
        'values starting with "$." are JMESPath lookups.'
    )
    evidence_expression = graphene.String()
    created_by = graphene.String(required=True)

    class Meta:
        model = EventSubscription
        name = "EventSubscription"
        fields = ("id", "tenant", "event_type", "enabled", "created_at", "updated_at")

    @staticmethod
    def resolve_filter(subscription: EventSubscription, info: graphene.ResolveInfo) -> str | None:
        return subscription.filter_expression or None

    @staticmethod
    def resolve_evidence_expression(
        subscription: EventSubscription, info: graphene.ResolveInfo
    ) -> str | None:
        return subscription.evidence_expression or None

    @staticmethod
    def resolve_created_by(subscription: EventSubscription, info: graphene.ResolveInfo) -> str | None:
        return _username(subscription.created_by)


class EventSubscriptionConnection(CountableConnection):
    class Meta:
        node = EventSubscriptionType


class EventDeliveryType(DjangoObjectType):
    subscription = graphene.Field(EventSubscriptionType, required=True)
    event = graphene.Field(EventType, required=True)
    execution = graphene.Field(ExecutionType)
    outcome = graphene.Field(DeliveryOutcomeEnum, required=True)

    class Meta:
        model = EventDelivery
        name = "EventDelivery"
        fields = ("id", "reason", "created_at")


class EventDeliveryConnection(CountableConnection):
    class Meta:
        node = EventDeliveryType


class WebhookEndpointType(DjangoObjectType):
    event_types = graphene.List(graphene.NonNull(graphene.String), required=True)
    disabled_reason = graphene.String(
        description="Why the endpoint is disabled (e.g. every retry of a delivery failed), or null."
    )
    created_by = graphene.String(required=True)

    class Meta:
        model = WebhookEndpoint
        name = "WebhookEndpoint"
        fields = (
            "id",
            "tenant",
            "url",
            "description",
            "enabled",
            "disabled_at",
            "previous_secret_expires_at",
            "created_at",
            "updated_at",
        )

    @staticmethod
    def resolve_disabled_reason(endpoint: WebhookEndpoint, info: graphene.ResolveInfo) -> str | None:
        return endpoint.disabled_reason or None

    @staticmethod
    def resolve_created_by(endpoint: WebhookEndpoint, info: graphene.ResolveInfo) -> str | None:
        return _username(endpoint.created_by)


class WebhookEndpointConnection(CountableConnection):
    class Meta:
        node = WebhookEndpointType


class WebhookAttemptType(DjangoObjectType):
    class Meta:
        model = WebhookAttempt
        name = "WebhookAttempt"
        fields = (
            "number",
            "manual",
            "attempted_at",
            "url",
            "address",
            "succeeded",
            "status_code",
            "latency_ms",
            "response_excerpt",
            "error",
            "next_attempt_at",
        )


class WebhookDeliveryType(DjangoObjectType):
    endpoint = graphene.Field(WebhookEndpointType, required=True)
    event = graphene.Field(EventType, required=True)
    status = graphene.Field(WebhookDeliveryStatusEnum, required=True)
    message_id = graphene.String(required=True, description="The webhook-id header of every attempt.")
    attempt_log = graphene.List(graphene.NonNull(WebhookAttemptType), required=True)

    class Meta:
        model = WebhookDelivery
        name = "WebhookDelivery"
        fields = (
            "id",
            "attempts",
            "max_attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "completed_at",
        )

    @staticmethod
    def resolve_message_id(delivery: WebhookDelivery, info: graphene.ResolveInfo) -> str:
        return webhook_delivery.message_id(delivery.event_id)

    @staticmethod
    def resolve_attempt_log(delivery: WebhookDelivery, info: graphene.ResolveInfo) -> list[WebhookAttempt]:
        return sorted(delivery.attempt_log.all(), key=lambda attempt: attempt.number)


class WebhookDeliveryConnection(CountableConnection):
    class Meta:
        node = WebhookDeliveryType
