"""Event subscriptions: tenant admins decide which events start which installation, with which input."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from argus_plugins.core import clock, flags
from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.events import PLATFORM_EVENT_TYPES
from argus_plugins.core.sentinels import UNSET
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.models import Role, User
from argus_plugins.tenancy.permissions import require_tenant_object_role, tenant_ids_of
from installations.authorization import resolve_version
from installations.models import Installation
from installations.services import get_installation

from . import jmes
from .error_codes import TriggersErrorCode
from .event_types import is_event_type
from .models import EventSubscription


def subscriptions_visible_to(user: Any) -> QuerySet[EventSubscription]:
    return EventSubscription.objects.live().filter(tenant_id__in=tenant_ids_of(user))


def get_subscription(user: Any, subscription_id: Any, role: Role = Role.VIEWER, field: str = "id"):
    subscription = (
        EventSubscription.objects.live()
        .select_related("tenant", "installation__plugin")
        .filter(pk=parse_uuid(subscription_id, field=field))
        .first()
    )
    if subscription is None:
        raise not_found("Event subscription", field)
    require_tenant_object_role(user, subscription.tenant_id, role, "Event subscription", field)
    return subscription


def declares_event(installation: Installation, event_type: str) -> bool:
    """Does the version the installation runs list ``event_type`` in its manifest's ``events``?"""
    version = resolve_version(installation)
    return version is not None and event_type in (version.manifest.get("events") or [])


def _clean_event_type(value: Any, installation: Installation) -> str:
    if not isinstance(value, str) or not is_event_type(value):
        raise DomainError(
            TriggersErrorCode.INVALID_EVENT_TYPE,
            f"Unknown event type; use one of {', '.join(PLATFORM_EVENT_TYPES)} or 'custom.<name>'.",
            "eventType",
        )
    if not declares_event(installation, value):
        raise DomainError(
            TriggersErrorCode.EVENT_NOT_DECLARED,
            f"The installed version does not declare '{value}' in its manifest's 'events'.",
            "eventType",
        )
    return value


def _clean_filter(value: Any) -> str:
    if value in (None, ""):
        return ""
    return jmes.check_expression(value, field="filter", code=TriggersErrorCode.INVALID_FILTER)


def _clean_evidence_expression(value: Any) -> str:
    if value in (None, ""):
        return ""
    return jmes.check_expression(
        value, field="evidenceExpression", code=TriggersErrorCode.INVALID_INPUT_TEMPLATE
    )


@transaction.atomic
def create_subscription(
    *,
    actor: User,
    installation_id: Any,
    event_type: Any,
    filter: Any = None,
    input_template: Any = None,
    evidence_expression: Any = None,
    enabled: bool = True,
) -> EventSubscription:
    installation = get_installation(actor, installation_id, Role.ADMIN, field="installationId")
    flags.require_feature(flags.TRIGGERS_EVENTS, installation.tenant_id)
    if not installation.is_active:
        raise DomainError(CommonErrorCode.INVALID_STATE, "The plugin has been uninstalled.", "installationId")
    now = clock.now()
    return EventSubscription.objects.create(
        tenant_id=installation.tenant_id,
        installation=installation,
        event_type=_clean_event_type(event_type, installation),
        filter_expression=_clean_filter(filter),
        input_template=jmes.clean_template(input_template),
        evidence_expression=_clean_evidence_expression(evidence_expression),
        enabled=bool(enabled),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )


@transaction.atomic
def update_subscription(
    *,
    actor: User,
    subscription_id: Any,
    filter: Any = UNSET,
    input_template: Any = UNSET,
    evidence_expression: Any = UNSET,
    enabled: Any = UNSET,
) -> EventSubscription:
    subscription = get_subscription(actor, subscription_id, Role.ADMIN)
    flags.require_feature(flags.TRIGGERS_EVENTS, subscription.tenant_id)
    if filter is not UNSET:
        subscription.filter_expression = _clean_filter(filter)
    if input_template is not UNSET:
        subscription.input_template = jmes.clean_template(input_template)
    if evidence_expression is not UNSET:
        subscription.evidence_expression = _clean_evidence_expression(evidence_expression)
    if enabled is not UNSET and enabled is not None:
        subscription.enabled = bool(enabled)
    subscription.updated_at = clock.now()
    subscription.save()
    return subscription


@transaction.atomic
def delete_subscription(*, actor: User, subscription_id: Any) -> EventSubscription:
    """Soft delete: no further deliveries; past deliveries stay as history."""
    subscription = get_subscription(actor, subscription_id, Role.ADMIN)
    flags.require_feature(flags.TRIGGERS_EVENTS, subscription.tenant_id)
    now = clock.now()
    if (
        EventSubscription.objects.filter(pk=subscription.pk, deleted_at__isnull=True).update(
            deleted_at=now, enabled=False, updated_at=now
        )
        != 1
    ):
        raise not_found("Event subscription")
    subscription.refresh_from_db()
    return subscription
