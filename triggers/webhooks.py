"""Webhook endpoints (tenant admins register receivers; the secret is shown once), fan-out of events to
them, and manual redelivery. Sending and retrying is ``triggers.webhook_delivery``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from argus_plugins.core import clock, flags
from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.events import PLATFORM_EVENT_TYPES
from argus_plugins.core.publishing import publish_after_commit
from argus_plugins.core.sentinels import UNSET
from argus_plugins.core.validation import clean_text, parse_uuid
from argus_plugins.tenancy.models import Role, User
from argus_plugins.tenancy.permissions import require_tenant_object_role, require_tenant_role, tenant_ids_of

from . import secrets, ssrf
from .error_codes import TriggersErrorCode
from .event_types import is_event_type
from .models import Event, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint

MAX_EVENT_TYPES = 50
#: "<family>.*" patterns an endpoint may subscribe to.
EVENT_FAMILIES = frozenset({"custom", *(name.split(".", 1)[0] for name in PLATFORM_EVENT_TYPES)})


def max_attempts() -> int:
    return 1 + len(settings.ARGUS_WEBHOOK_RETRY_SCHEDULE_SECONDS)


# ------------------------------------------------------------------------------------- reading


def endpoints_visible_to(user: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.live().filter(tenant_id__in=tenant_ids_of(user))


def get_endpoint(user: Any, endpoint_id: Any, role: Role = Role.VIEWER, field: str = "id") -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.live().filter(pk=parse_uuid(endpoint_id, field=field)).first()
    if endpoint is None:
        raise not_found("Webhook endpoint", field)
    require_tenant_object_role(user, endpoint.tenant_id, role, "Webhook endpoint", field)
    return endpoint


def get_delivery(user: Any, delivery_id: Any, role: Role = Role.VIEWER, field: str = "id") -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.select_related("endpoint", "event")
        .filter(pk=parse_uuid(delivery_id, field=field), endpoint__deleted_at__isnull=True)
        .first()
    )
    if delivery is None:
        raise not_found("Webhook delivery", field)
    require_tenant_object_role(user, delivery.tenant_id, role, "Webhook delivery", field)
    return delivery


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The current secret, plus the previous one during a rotation's grace period."""
    keys = [secrets.decrypt(endpoint.secret_encrypted)]
    if (
        endpoint.previous_secret_encrypted
        and endpoint.previous_secret_expires_at
        and now < (endpoint.previous_secret_expires_at)
    ):
        keys.append(secrets.decrypt(endpoint.previous_secret_encrypted))
    return keys


# ------------------------------------------------------------------------------------ managing


def _clean_url(url: Any) -> str:
    ssrf.check_url(url)
    try:
        ssrf.resolve(url)
    except ssrf.Refused as refusal:
        if refusal.forbidden:
            raise DomainError(TriggersErrorCode.URL_FORBIDDEN, str(refusal), "url") from None
        # Not resolvable yet (DNS may be set up later): checked again before every attempt.
    return url.strip()


def _clean_event_types(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not value:
        raise DomainError(CommonErrorCode.REQUIRED, "Give at least one event type.", "eventTypes")
    if len(value) > MAX_EVENT_TYPES:
        raise DomainError(
            CommonErrorCode.LIMIT_EXCEEDED, f"At most {MAX_EVENT_TYPES} event types.", "eventTypes"
        )
    cleaned = []
    for item in value:
        family = item[:-2] if isinstance(item, str) and item.endswith(".*") else None
        if not isinstance(item, str) or not (is_event_type(item) or family in EVENT_FAMILIES):
            raise DomainError(
                TriggersErrorCode.INVALID_EVENT_TYPE,
                f"Unknown event type {str(item)[:100]!r}: use {', '.join(PLATFORM_EVENT_TYPES)}, "
                "'custom.<name>', or a family pattern such as 'custom.*'.",
                "eventTypes",
            )
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


@transaction.atomic
def create_endpoint(
    *, actor: User, tenant_id: Any, url: Any, event_types: Any, description: Any = None
) -> tuple[WebhookEndpoint, str]:
    """Register a receiver; returns it with its signing secret, which is never shown again."""
    membership = require_tenant_role(actor, tenant_id, Role.ADMIN)
    flags.require_feature(flags.WEBHOOKS, membership.tenant_id)
    secret = secrets.generate()
    now = clock.now()
    endpoint = WebhookEndpoint.objects.create(
        tenant=membership.tenant,
        url=_clean_url(url),
        event_types=_clean_event_types(event_types),
        description=clean_text(description, field="description", max_length=500, required=False),
        secret_encrypted=secrets.encrypt(secret),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    return endpoint, secret


@transaction.atomic
def update_endpoint(
    *,
    actor: User,
    endpoint_id: Any,
    url: Any = UNSET,
    event_types: Any = UNSET,
    description: Any = UNSET,
    enabled: Any = UNSET,
) -> WebhookEndpoint:
    endpoint = get_endpoint(actor, endpoint_id, Role.ADMIN)
    flags.require_feature(flags.WEBHOOKS, endpoint.tenant_id)
    if url is not UNSET:
        endpoint.url = _clean_url(url)
    if event_types is not UNSET:
        endpoint.event_types = _clean_event_types(event_types)
    if description is not UNSET:
        endpoint.description = clean_text(description, field="description", max_length=500, required=False)
    if enabled is not UNSET and enabled is not None and bool(enabled) != endpoint.enabled:
        endpoint.enabled = bool(enabled)
        if endpoint.enabled:
            endpoint.disabled_reason, endpoint.disabled_at = "", None
        else:
            endpoint.disabled_reason, endpoint.disabled_at = f"Disabled by {actor.username}.", clock.now()
    endpoint.updated_at = clock.now()
    endpoint.save()
    return endpoint


@transaction.atomic
def delete_endpoint(*, actor: User, endpoint_id: Any) -> WebhookEndpoint:
    """Soft delete: nothing more is sent; the delivery log stays for operators."""
    endpoint = get_endpoint(actor, endpoint_id, Role.ADMIN)
    flags.require_feature(flags.WEBHOOKS, endpoint.tenant_id)
    now = clock.now()
    if (
        WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=True).update(
            deleted_at=now, enabled=False, updated_at=now
        )
        != 1
    ):
        raise not_found("Webhook endpoint")
    endpoint.refresh_from_db()
    return endpoint


@transaction.atomic
def rotate_secret(*, actor: User, endpoint_id: Any) -> tuple[WebhookEndpoint, str]:
    """A new secret (shown once); the old one still signs deliveries during the grace period."""
    endpoint = get_endpoint(actor, endpoint_id, Role.ADMIN)
    flags.require_feature(flags.WEBHOOKS, endpoint.tenant_id)
    secret = secrets.generate()
    now = clock.now()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_expires_at = now + dt.timedelta(
        seconds=settings.ARGUS_WEBHOOK_SECRET_GRACE_SECONDS
    )
    endpoint.secret_encrypted = secrets.encrypt(secret)
    endpoint.updated_at = now
    endpoint.save()
    return endpoint, secret


# ------------------------------------------------------------------------------- fan-out, redelivery


def fan_out(event: Event) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint of the event's tenant that wants its type (UNIQUE per event)."""
    created = []
    for endpoint in WebhookEndpoint.objects.listening(event.tenant_id):
        if not endpoint.wants(event.type):
            continue
        now = clock.now()
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    tenant_id=event.tenant_id,
                    endpoint=endpoint,
                    event=event,
                    max_attempts=max_attempts(),
                    next_attempt_at=now,
                    enqueued_at=now,
                    created_at=now,
                )
                publish_attempt(delivery.pk)
        except IntegrityError:
            continue  # a re-dispatched event: already queued for this endpoint
        created.append(delivery)
    return created


@transaction.atomic
def redeliver(*, actor: User, delivery_id: Any) -> WebhookDelivery:
    """Send the delivery again now (same webhook-id). A failed redelivery schedules no further retries."""
    delivery = get_delivery(actor, delivery_id, Role.ADMIN)
    flags.require_feature(flags.WEBHOOKS, delivery.tenant_id)
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        raise DomainError(
            TriggersErrorCode.ENDPOINT_DISABLED, "The endpoint is disabled: enable it first.", "deliveryId"
        )
    now = clock.now()
    pending = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDeliveryStatus.PENDING).update(
        next_attempt_at=now, enqueued_at=now, redelivery_requested_by=actor
    )
    if not pending:
        finished = WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status__in=(WebhookDeliveryStatus.SUCCEEDED, WebhookDeliveryStatus.FAILED),
            attempts=delivery.attempts,
        ).update(
            status=WebhookDeliveryStatus.PENDING,
            next_attempt_at=now,
            enqueued_at=now,
            max_attempts=delivery.attempts + 1,
            auto_retry=False,
            completed_at=None,
            redelivery_requested_by=actor,
        )
        if not finished:
            raise DomainError(
                CommonErrorCode.CONFLICT, "The delivery changed meanwhile; try again.", "deliveryId"
            )
    publish_attempt(delivery.pk)
    delivery.refresh_from_db()
    return delivery


def publish_attempt(delivery_id: Any) -> None:
    """Deliver after the delivery row commits (the sweeper publishes again if this message is lost)."""
    publish_after_commit("triggers.deliver_webhook", str(delivery_id))
