"""Operators' view of schedules, events, subscriptions and webhooks. Everything is read-only (changes go
through the tenant-facing API, which keeps beat's PeriodicTask in sync); operators may pause runaway
schedules and disable noisy endpoints, through the same service functions."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from argus_plugins.core import clock
from argus_plugins.core.admin_mixins import AuditedAdminMixin, StaffReadOnlyMixin

from . import schedules
from .models import (
    Event,
    EventDelivery,
    EventSubscription,
    Schedule,
    ScheduleFiring,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class ReadOnlyAdmin(AuditedAdminMixin, StaffReadOnlyMixin, admin.ModelAdmin):
    pass


class FiringInline(admin.TabularInline):
    model = ScheduleFiring
    fields = ("fired_at", "outcome", "reason", "execution")
    readonly_fields = fields
    ordering = ("-fired_at",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("execution")


@admin.register(Schedule)
class ScheduleAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "tenant",
        "plugin",
        "timing",
        "timezone",
        "enabled",
        "overlap_policy",
        "consecutive_rejections",
        "last_run_at",
        "next_run",
        "deleted_at",
    )
    list_filter = ("enabled", "overlap_policy", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "tenant__slug", "installation__plugin__slug", "cron_expression")
    list_select_related = (
        "tenant",
        "installation__plugin",
        "periodic_task__crontab",
        "periodic_task__interval",
    )
    readonly_fields = [field.name for field in Schedule._meta.fields]
    inlines = [FiringInline]
    actions = ["pause_selected"]

    @admin.display(description="Plugin")
    def plugin(self, schedule: Schedule) -> str:
        return schedule.installation.plugin.slug

    @admin.display(description="Schedule")
    def timing(self, schedule: Schedule) -> str:
        return schedule.cron_expression or f"every {schedule.interval_seconds} s"

    @admin.display(description="Next run (UTC)")
    def next_run(self, schedule: Schedule) -> Any:
        return schedules.next_run_at(schedule)

    @admin.action(description="Pause the selected schedules")
    def pause_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        reason = f"Paused by operator {request.user.username} at {clock.now():%Y-%m-%d %H:%M} UTC."
        paused = sum(schedules.pause_by_operator(schedule, reason) for schedule in queryset)
        self.message_user(request, f"Paused {paused} schedule(s).", messages.SUCCESS)


@admin.register(ScheduleFiring)
class ScheduleFiringAdmin(ReadOnlyAdmin):
    list_display = ("fired_at", "schedule", "tenant", "outcome", "execution", "reason")
    list_filter = ("outcome",)
    search_fields = ("schedule__id", "tenant__slug", "execution__id")
    list_select_related = ("schedule", "tenant", "execution")
    readonly_fields = [field.name for field in ScheduleFiring._meta.fields]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "type", "tenant", "chain_depth", "source_execution", "dispatched_at")
    list_filter = ("type", "chain_depth")
    search_fields = ("id", "type", "tenant__slug", "dedupe_key")
    list_select_related = ("tenant", "source_execution")
    readonly_fields = [field.name for field in Event._meta.fields]


@admin.register(EventSubscription)
class EventSubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "tenant",
        "event_type",
        "installation",
        "filter_expression",
        "enabled",
        "deleted_at",
    )
    list_filter = ("enabled", "event_type")
    search_fields = ("id", "tenant__slug", "installation__plugin__slug", "event_type")
    list_select_related = ("tenant", "installation__plugin", "installation__tenant")
    readonly_fields = [field.name for field in EventSubscription._meta.fields]


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "subscription", "outcome", "execution", "reason")
    list_filter = ("outcome",)
    search_fields = ("event__id", "subscription__id", "execution__id", "tenant__slug")
    list_select_related = ("event", "subscription", "execution")
    readonly_fields = [field.name for field in EventDelivery._meta.fields]


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = (
        "number",
        "manual",
        "attempted_at",
        "address",
        "status_code",
        "latency_ms",
        "error",
        "next_attempt_at",
    )
    readonly_fields = fields
    ordering = ("number",)
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "tenant", "enabled", "disabled_reason", "created_at", "deleted_at")
    list_filter = ("enabled", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("url", "tenant__slug")
    list_select_related = ("tenant",)
    # The (encrypted) secrets are never shown.
    readonly_fields = [
        field.name for field in WebhookEndpoint._meta.fields if "secret_encrypted" not in field.name
    ]
    exclude = ("secret_encrypted", "previous_secret_encrypted")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "endpoint",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
    )
    list_filter = ("status",)
    search_fields = ("id", "endpoint__url", "event__id", "tenant__slug")
    list_select_related = ("endpoint", "event")
    readonly_fields = [field.name for field in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "attempted_at",
        "delivery",
        "number",
        "manual",
        "status_code",
        "latency_ms",
        "succeeded",
        "error",
    )
    list_filter = ("succeeded", "manual")
    search_fields = ("delivery__id", "url")
    list_select_related = ("delivery",)
    readonly_fields = [field.name for field in WebhookAttempt._meta.fields]
