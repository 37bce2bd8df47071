"""Schedules, platform/custom events with their subscriptions, and outgoing webhooks.

Nothing here points from the execution app's models to these: a scheduled run is linked to its schedule
through ``ScheduleFiring``, an event-triggered run to its event through ``EventDelivery``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from argus_plugins.core import clock
from argus_plugins.core.models import TimestampedModel, UUIDModel
from argus_plugins.tenancy.models import Tenant, TenantOwnedModel, tenant_key

# ------------------------------------------------------------------------------------------ schedules


class OverlapPolicy(models.TextChoices):
    #: A firing while an earlier run of the schedule is still QUEUED or RUNNING starts nothing.
    SKIP = "SKIP", "Skip while the previous run is active"
    ALLOW = "ALLOW", "Allow overlapping runs"


class ScheduleQuerySet(models.QuerySet):
    def live(self) -> ScheduleQuerySet:
        return self.filter(deleted_at__isnull=True)


class Schedule(TenantOwnedModel, TimestampedModel):
    """A tenant's periodic run of one installation, backed by a django-celery-beat ``PeriodicTask``.

    Exactly one of ``cron_expression`` (five fields, evaluated in ``timezone``) and ``interval_seconds``
    is set. ``enabled`` is False while paused (by a user, or automatically with ``paused_reason``).
    """

    tenant = tenant_key(related_name="schedules")
    installation = models.ForeignKey(
        "installations.Installation", on_delete=models.PROTECT, related_name="schedules"
    )
    cron_expression = models.CharField(max_length=200, blank=True)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    input = models.JSONField(default=dict, blank=True)
    evidence_ids = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    overlap_policy = models.CharField(max_length=8, choices=OverlapPolicy.choices, default=OverlapPolicy.SKIP)
    consecutive_rejections = models.PositiveIntegerField(default=0)
    paused_reason = models.CharField(max_length=1000, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    #: When a firing last claimed its slot (started, was refused, or was skipped for overlap).
    last_fired_at = models.DateTimeField(null=True, blank=True)
    #: When a firing last created an execution (started or recorded REJECTED).
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_execution = models.ForeignKey(
        "execution.Execution", on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        related_name="argus_schedule",
        null=True,
        blank=True,
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "id")
        indexes = [models.Index(fields=("tenant", "-created_at"))]
        constraints = [
            models.CheckConstraint(
                condition=(
                    (models.Q(cron_expression="") & models.Q(interval_seconds__isnull=False))
                    | (~models.Q(cron_expression="") & models.Q(interval_seconds__isnull=True))
                ),
                name="schedule_cron_xor_interval",
            )
        ]

    def __str__(self) -> str:
        every = self.cron_expression or f"every {self.interval_seconds} s"
        return f"{self.installation_id}: {every}"

    @property
    def is_cron(self) -> bool:
        return bool(self.cron_expression)


class FiringOutcome(models.TextChoices):
    STARTED = "STARTED", "Started an execution"
    REJECTED = "REJECTED", "Refused (recorded as a REJECTED execution, or not startable)"
    SKIPPED_OVERLAP = "SKIPPED_OVERLAP", "Skipped: the previous run is still active"
    SKIPPED_CATCH_UP = "SKIPPED_CATCH_UP", "Skipped: this period already ran (duplicate or catch-up burst)"
    SKIPPED_FEATURE_DISABLED = "SKIPPED_FEATURE_DISABLED", "Skipped: scheduled runs are disabled"


class ScheduleFiring(TenantOwnedModel):
    """One firing of a schedule (append-only): how schedules link to the executions they started."""

    schedule = models.ForeignKey(Schedule, on_delete=models.PROTECT, related_name="firings")
    fired_at = models.DateTimeField(default=clock.now)
    outcome = models.CharField(max_length=32, choices=FiringOutcome.choices)
    reason = models.TextField(blank=True)
    execution = models.OneToOneField(
        "execution.Execution",
        on_delete=models.PROTECT,
        related_name="schedule_firing",
        null=True,
        blank=True,
    )

    class Meta:
        ordering = ("-fired_at", "id")
        indexes = [models.Index(fields=("schedule", "-fired_at"))]

    def __str__(self) -> str:
        return f"{self.schedule_id} at {self.fired_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"


# --------------------------------------------------------------------------------------------- events


class Event(TenantOwnedModel):
    """A platform event (evidence.uploaded, execution.*, plugin.installed) or a plugin's custom.* event.

    Stored once (``dedupe_key`` is unique), then dispatched by a Celery task to the tenant's matching
    subscriptions and webhook endpoints. Events never cross tenants.
    """

    tenant = tenant_key(related_name="trigger_events")
    type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict, blank=True)
    source_execution = models.ForeignKey(
        "execution.Execution", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    #: 0 for events caused by people or schedules; source event's depth + 1 for those of event-triggered runs.
    chain_depth = models.PositiveIntegerField(default=0)
    dedupe_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    #: When a dispatch task was last published, and when one completed (the sweeper re-publishes lost ones).
    dispatch_enqueued_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        indexes = [
            models.Index(fields=("tenant", "type", "-created_at")),
            models.Index(fields=("dispatched_at", "dispatch_enqueued_at")),
        ]

    def __str__(self) -> str:
        return f"{self.type} ({self.id})"


class EventSubscriptionQuerySet(models.QuerySet):
    def live(self) -> EventSubscriptionQuerySet:
        return self.filter(deleted_at__isnull=True)

    def listening(self, tenant_id: Any, event_type: str) -> EventSubscriptionQuerySet:
        """Those an event of ``event_type`` in the tenant reaches (events never cross tenants)."""
        return self.live().filter(
            tenant_id=tenant_id,
            event_type=event_type,
            enabled=True,
            installation__uninstalled_at__isnull=True,
        )


class EventListener(TenantOwnedModel):
    """What receives a tenant's events (a subscription or a webhook endpoint). Saving a new one marks its
    tenant, so that tenants that never had one skip the listener check
    (``Tenant.event_listeners_configured``)."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            Tenant.note_event_listener(self.tenant_id)
        super().save(*args, **kwargs)


class EventSubscription(EventListener, TimestampedModel):
    """Run ``installation`` once for every event of ``event_type`` whose payload matches ``filter``."""

    tenant = tenant_key(related_name="event_subscriptions")
    installation = models.ForeignKey(
        "installations.Installation", on_delete=models.PROTECT, related_name="event_subscriptions"
    )
    event_type = models.CharField(max_length=100)
    #: A JMESPath expression over the payload; empty matches every event. Truthy result = match.
    filter_expression = models.TextField(blank=True)
    #: None: the payload is the input. A string: a JMESPath expression. An object: "$.x" values are lookups.
    input_template = models.JSONField(null=True, blank=True)
    #: Optional JMESPath expression giving the evidence id(s) to mount (e.g. "evidence_id").
    evidence_expression = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = EventSubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "id")
        indexes = [models.Index(fields=("tenant", "event_type", "enabled"))]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.installation_id}"


class DeliveryOutcome(models.TextChoices):
    STARTED = "STARTED", "Started an execution"
    REJECTED = "REJECTED", "Refused (recorded as a REJECTED execution)"
    FAILED = "FAILED", "Could not start (filter, template or input error)"
    DEPTH_LIMIT = "DEPTH_LIMIT", "Stopped: event chain depth limit"


class EventDelivery(TenantOwnedModel):
    """The one delivery of one event to one subscription: UNIQUE (subscription, event) = exactly once."""

    subscription = models.ForeignKey(EventSubscription, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    execution = models.OneToOneField(
        "execution.Execution", on_delete=models.PROTECT, related_name="event_delivery", null=True, blank=True
    )
    outcome = models.CharField(max_length=16, choices=DeliveryOutcome.choices)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ("-created_at", "id")
        verbose_name_plural = "event deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=("subscription", "event"), name="uniq_event_delivery_per_subscription"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id}: {self.outcome}"


# ------------------------------------------------------------------------------------------- webhooks


class WebhookEndpointQuerySet(models.QuerySet):
    def live(self) -> WebhookEndpointQuerySet:
        return self.filter(deleted_at__isnull=True)

    def listening(self, tenant_id: Any) -> WebhookEndpointQuerySet:
        """The tenant's endpoints that receive events at all; ``WebhookEndpoint.wants`` picks the types."""
        return self.live().filter(tenant_id=tenant_id, enabled=True)


class WebhookEndpoint(EventListener, TimestampedModel):
    """A tenant's HTTPS/HTTP receiver of signed event notifications (Standard Webhooks)."""

    tenant = tenant_key(related_name="webhook_endpoints")
    url = models.CharField(max_length=2048)
    description = models.CharField(max_length=500, blank=True)
    #: Event types sent here; "custom.*" (or any "<prefix>.*") matches by prefix.
    event_types = models.JSONField(default=list)
    #: The signing secret ("whsec_…"), encrypted at rest (see triggers/secrets.py); shown once.
    secret_encrypted = models.TextField()
    #: During a rotation's grace period deliveries carry signatures with both secrets.
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=1000, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "id")

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return any(
            pattern == event_type or (pattern.endswith(".*") and event_type.startswith(pattern[:-1]))
            for pattern in self.event_types
        )


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending (an attempt is due at next_attempt_at)"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed (no further automatic attempts)"


class WebhookDelivery(TenantOwnedModel):
    """One event sent to one endpoint, over one or more attempts. UNIQUE (endpoint, event)."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="webhook_deliveries")
    status = models.CharField(
        max_length=16, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField()
    #: False once a person asked for a redelivery: a failed manual attempt schedules no retries.
    auto_retry = models.BooleanField(default=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: When a send task was last published for the due attempt (the sweeper re-publishes lost ones).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    redelivery_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=clock.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "id")
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=("endpoint", "event"), name="uniq_webhook_delivery_per_endpoint")
        ]
        indexes = [models.Index(fields=("status", "next_attempt_at"))]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}: {self.status}"


class WebhookAttempt(UUIDModel):
    """The log of one HTTP attempt of a delivery (append-only)."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="attempt_log")
    number = models.PositiveIntegerField()
    manual = models.BooleanField(default=False)
    attempted_at = models.DateTimeField(default=clock.now)
    url = models.CharField(max_length=2048)
    #: The address actually connected to (after the SSRF check), empty when refused before connecting.
    address = models.CharField(max_length=64, blank=True)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    #: When the next automatic attempt was scheduled by this one's failure (null: none).
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("delivery", "number")
        constraints = [
            models.UniqueConstraint(fields=("delivery", "number"), name="uniq_webhook_attempt_number")
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}: {self.status_code or self.error[:40]}"
