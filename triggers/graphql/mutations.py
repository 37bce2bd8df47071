"""Managing schedules, event subscriptions and webhook endpoints: tenant ADMINs, behind feature flags.
Each mutation calls one service function; omitted arguments are left unchanged on updates."""

from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.mutations import BaseMutation

from .. import schedules, subscriptions, webhooks
from .types import (
    EventSubscriptionType,
    OverlapPolicyEnum,
    ScheduleType,
    WebhookDeliveryType,
    WebhookEndpointType,
)

_SCHEDULE_ARGUMENTS = {"cron": "cron_expression"}


def _schedule_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {_SCHEDULE_ARGUMENTS.get(name, name): value for name, value in data.items()}


class ScheduleArguments:
    cron = graphene.String(
        description="Five fields (minute hour day-of-month month day-of-week) or @hourly/@daily/...; "
        "give cron or intervalSeconds."
    )
    interval_seconds = graphene.Int(description="Run every N seconds (at least the platform minimum).")
    timezone = graphene.String(
        description="IANA time zone the cron expression is evaluated in (default UTC)."
    )
    input = graphene.JSONString(description="The run input, a JSON object.")
    evidence_ids = graphene.List(graphene.NonNull(graphene.ID))
    enabled = graphene.Boolean()
    overlap_policy = OverlapPolicyEnum(description="SKIP (default): no new run while the previous is active.")


class CreateSchedule(BaseMutation):
    schedule = graphene.Field(ScheduleType)

    class Arguments(ScheduleArguments):
        installation_id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreateSchedule:
        schedule = schedules.create_schedule(actor=info.context.user, **_schedule_fields(data))
        return cls(schedule=schedule)


class UpdateSchedule(BaseMutation):
    schedule = graphene.Field(ScheduleType)

    class Arguments(ScheduleArguments):
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str, **data: Any) -> UpdateSchedule:
        schedule = schedules.update_schedule(
            actor=info.context.user, schedule_id=id, **_schedule_fields(data)
        )
        return cls(schedule=schedule)


class PauseSchedule(BaseMutation):
    schedule = graphene.Field(ScheduleType)

    class Arguments:
        id = graphene.ID(required=True)
        reason = graphene.String()

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, id: str, reason: str | None = None
    ) -> PauseSchedule:
        schedule = schedules.pause_schedule(actor=info.context.user, schedule_id=id, reason=reason)
        return cls(schedule=schedule)


class ResumeSchedule(BaseMutation):
    """Re-enable a paused schedule (also after an automatic pause); the rejection count restarts at 0."""

    schedule = graphene.Field(ScheduleType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> ResumeSchedule:
        return cls(schedule=schedules.resume_schedule(actor=info.context.user, schedule_id=id))


class DeleteSchedule(BaseMutation):
    schedule = graphene.Field(ScheduleType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> DeleteSchedule:
        return cls(schedule=schedules.delete_schedule(actor=info.context.user, schedule_id=id))


class SubscriptionArguments:
    filter = graphene.String(description="JMESPath over the event payload; a truthy result matches.")
    input_template = graphene.JSONString(
        description='An object whose "$.path" string values are JMESPath lookups into the payload, or a '
        "JSON string holding a JMESPath expression (e.g. a multiselect hash); null passes the payload."
    )
    evidence_expression = graphene.String(description="JMESPath giving the evidence id(s) to mount.")
    enabled = graphene.Boolean()


class CreateEventSubscription(BaseMutation):
    subscription = graphene.Field(EventSubscriptionType)

    class Arguments(SubscriptionArguments):
        installation_id = graphene.ID(required=True)
        event_type = graphene.String(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreateEventSubscription:
        subscription = subscriptions.create_subscription(actor=info.context.user, **data)
        return cls(subscription=subscription)


class UpdateEventSubscription(BaseMutation):
    subscription = graphene.Field(EventSubscriptionType)

    class Arguments(SubscriptionArguments):
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, id: str, **data: Any
    ) -> UpdateEventSubscription:
        subscription = subscriptions.update_subscription(actor=info.context.user, subscription_id=id, **data)
        return cls(subscription=subscription)


class DeleteEventSubscription(BaseMutation):
    subscription = graphene.Field(EventSubscriptionType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> DeleteEventSubscription:
        subscription = subscriptions.delete_subscription(actor=info.context.user, subscription_id=id)
        return cls(subscription=subscription)


class CreateWebhookEndpoint(BaseMutation):
    endpoint = graphene.Field(WebhookEndpointType)
    secret = graphene.String(description='The signing secret ("whsec_..."): shown only in this response.')

    class Arguments:
        tenant_id = graphene.ID(required=True)
        url = graphene.String(required=True)
        event_types = graphene.List(graphene.NonNull(graphene.String), required=True)
        description = graphene.String()

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, **data: Any) -> CreateWebhookEndpoint:
        endpoint, secret = webhooks.create_endpoint(actor=info.context.user, **data)
        return cls(endpoint=endpoint, secret=secret)


class UpdateWebhookEndpoint(BaseMutation):
    endpoint = graphene.Field(WebhookEndpointType)

    class Arguments:
        id = graphene.ID(required=True)
        url = graphene.String()
        event_types = graphene.List(graphene.NonNull(graphene.String))
        description = graphene.String()
        enabled = graphene.Boolean(
            description="true re-enables an endpoint disabled after failed deliveries."
        )

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, id: str, **data: Any
    ) -> UpdateWebhookEndpoint:
        endpoint = webhooks.update_endpoint(actor=info.context.user, endpoint_id=id, **data)
        return cls(endpoint=endpoint)


class DeleteWebhookEndpoint(BaseMutation):
    endpoint = graphene.Field(WebhookEndpointType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> DeleteWebhookEndpoint:
        return cls(endpoint=webhooks.delete_endpoint(actor=info.context.user, endpoint_id=id))


class RotateWebhookSecret(BaseMutation):
    endpoint = graphene.Field(WebhookEndpointType)
    secret = graphene.String(
        description="The new secret, shown only here; the old one keeps signing for a day."
    )

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> RotateWebhookSecret:
        endpoint, secret = webhooks.rotate_secret(actor=info.context.user, endpoint_id=id)
        return cls(endpoint=endpoint, secret=secret)


class RedeliverWebhook(BaseMutation):
    delivery = graphene.Field(WebhookDeliveryType)

    class Arguments:
        delivery_id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, delivery_id: str) -> RedeliverWebhook:
        return cls(delivery=webhooks.redeliver(actor=info.context.user, delivery_id=delivery_id))


class TriggerMutations(graphene.ObjectType):
    create_schedule = CreateSchedule.Field()
    update_schedule = UpdateSchedule.Field()
    pause_schedule = PauseSchedule.Field()
    resume_schedule = ResumeSchedule.Field()
    delete_schedule = DeleteSchedule.Field()
    create_event_subscription = CreateEventSubscription.Field()
    update_event_subscription = UpdateEventSubscription.Field()
    delete_event_subscription = DeleteEventSubscription.Field()
    create_webhook_endpoint = CreateWebhookEndpoint.Field()
    update_webhook_endpoint = UpdateWebhookEndpoint.Field()
    delete_webhook_endpoint = DeleteWebhookEndpoint.Field()
    rotate_webhook_secret = RotateWebhookSecret.Field()
    redeliver_webhook = RedeliverWebhook.Field()
