"""Emitting events: the hooks other apps call, storing each event once, and publishing its dispatch.

The hooks (``execution_finished``, ``evidence_uploaded``, ``plugin_installed``) are one-line calls made
inside the caller's transaction. A finished run's events are stored right there, in a savepoint, so they
commit with its terminal status; the other hooks register work for after the commit. Either way a failure
here is logged and never undoes or breaks the caller's change. Event types:

* ``evidence.uploaded``, ``plugin.installed``;
* ``execution.succeeded`` (SUCCEEDED), ``execution.failed`` (FAILED, TIMED_OUT, MEMORY_EXCEEDED),
  ``execution.rejected`` (REJECTED: refused at enqueue or by the worker's second check) and
  ``execution.cancelled`` (CANCELLED): every terminal status emits exactly one;
* ``custom.<name>``: a SUCCEEDED run's output ``{"events": [{"type": "custom.x", "payload": {...}}]}``,
  accepted only when the run held ``events:emit`` and its manifest's ``emits`` declares the type.
  Everything refused is noted in the execution's warnings.

An event of a run that was itself started by an event is one level deeper in its chain
(``chain_depth`` = source event's depth + 1); dispatch stops at ARGUS_EVENT_MAX_CHAIN_DEPTH.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from argus_plugins.core import clock, publishing
from argus_plugins.core.errors import not_found
from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.core.publishing import publish_after_commit
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.models import Role, Tenant
from argus_plugins.tenancy.permissions import require_tenant_object_role
from execution.models import Evidence, Execution, Trigger
from execution.stored_output import run_output
from installations.authorization import resolve_version
from installations.models import Installation
from ledger.hashing import format_optional_timestamp

from . import dispatch, jmes
from .event_types import CUSTOM_EVENT_TYPE
from .models import Event, EventDelivery, EventSubscription, WebhookEndpoint

logger = logging.getLogger(__name__)

EVENTS_EMIT = "events:emit"
SUCCEEDED_EVENT = "execution.succeeded"
FAILED_EVENT = "execution.failed"
REJECTED_EVENT = "execution.rejected"
CANCELLED_EVENT = "execution.cancelled"
#: Terminal execution statuses -> the platform event they emit (QUEUED and RUNNING emit nothing).
EXECUTION_EVENTS = {
    "SUCCEEDED": SUCCEEDED_EVENT,
    "FAILED": FAILED_EVENT,
    "TIMED_OUT": FAILED_EVENT,
    "MEMORY_EXCEEDED": FAILED_EVENT,
    "REJECTED": REJECTED_EVENT,
    "CANCELLED": CANCELLED_EVENT,
}
#: An event's subscriptions' filters are evaluated when it is stored (in a finished run's transaction) only
#: up to this many; beyond, it is dispatched and dispatch evaluates them, after the commit.
MAX_FILTERS_CHECKED_AT_STORE = 8
#: Outputs larger than this are left out of execution.* payloads (``output_omitted`` says so).
MAX_OUTPUT_IN_PAYLOAD_BYTES = 32 * 1024


def get_event(user: Any, event_id: Any, field: str = "id") -> Event:
    """An event of a tenant the user belongs to; another tenant's is not found."""
    event = Event.objects.select_related("tenant").filter(pk=parse_uuid(event_id, field=field)).first()
    if event is None:
        raise not_found("Event", field)
    require_tenant_object_role(user, event.tenant_id, Role.VIEWER, "Event", field)
    return event


# ------------------------------------------------------------------------------------------- hooks


def execution_finished(execution: Any) -> None:
    """Hook of execution.recording.finish, inside its transaction: store the run's execution.* and custom
    events in a savepoint. They commit together with the terminal status (a crash in between cannot lose
    them, and one commit serves both), and a failure here is logged and never undoes the run's record.

    ``execution`` is the finished Execution as it is being recorded, its plugin version and plugin loaded.
    """
    _safely(_emit_in_savepoint, execution)


def _emit_in_savepoint(execution: Any) -> list[Event]:
    with transaction.atomic():
        return emit_execution_events(execution)


def evidence_uploaded(evidence_id: Any) -> None:
    """Hook of execution.services.upload_evidence."""
    transaction.on_commit(functools.partial(_safely, emit_evidence_uploaded, str(evidence_id)), robust=True)


def plugin_installed(installation_id: Any) -> None:
    """Hook of installations.services.install_plugin."""
    transaction.on_commit(
        functools.partial(_safely, emit_plugin_installed, str(installation_id)), robust=True
    )


def _safely(function: Any, subject: Any) -> None:
    try:
        function(subject)
    except Exception:
        subject_id = getattr(subject, "pk", subject)
        logger.exception("Emitting events for %s failed (%s)", subject_id, function.__name__)


# ---------------------------------------------------------------------------------------- storing


def store_event(
    *,
    tenant_id: Any,
    type: str,
    payload: dict[str, Any],
    dedupe_key: str,
    source_execution_id: Any = None,
    chain_depth: int = 0,
) -> Event | None:
    """Store the event once (None when ``dedupe_key`` was already stored) and dispatch it after commit.

    An event nobody listens to (no live subscription of its tenant to its type whose filter could match
    this payload, and no webhook endpoint that wants its type) is stored as already dispatched, with no
    dispatch: most runs have no listener, and a dispatch per run (a Celery round trip, or the recording
    worker's time before it takes its next run) is most of what recording an event costs. A listener
    created or changed after this moment does not receive the event, the same rule as for any event stored
    before the listener existed.
    """
    now = clock.now()
    listened = has_listeners(tenant_id, type, payload)
    try:
        # One level of atomic: a transaction of its own after a commit, a savepoint inside a caller's.
        with transaction.atomic():
            event = Event.objects.create(
                tenant_id=tenant_id,
                type=type,
                payload=payload,
                dedupe_key=dedupe_key,
                source_execution_id=source_execution_id,
                chain_depth=chain_depth,
                created_at=now,
                dispatch_enqueued_at=now if listened else None,
                dispatched_at=None if listened else now,
            )
            if listened:
                publish_dispatch(event.pk, here=source_execution_id is not None)
    except IntegrityError:
        return None
    return event


def has_listeners(tenant_id: Any, event_type: str, payload: Any) -> bool:
    """Whether dispatching an event of ``event_type`` with ``payload`` in the tenant could reach anyone:
    the same subscriptions (and their filters) and endpoints that dispatch itself looks at."""
    # Most tenants never configure a listener: one primary-key lookup answers for them.
    if not _TENANT_WITH_LISTENERS.fetch(tenant_id):
        return False
    subscriptions = _LISTENING_SUBSCRIPTIONS.fetch(tenant_id, event_type)
    filters = [subscription.filter_expression for subscription in subscriptions]
    if len(filters) > MAX_FILTERS_CHECKED_AT_STORE:
        return True  # too many to evaluate in the run's transaction: dispatch decides, after the commit
    # A filter that fails on the payload counts: dispatch records the failure as the delivery.
    if any(jmes.match_or_failure(expression, payload)[0] for expression in filters):
        return True
    return any(endpoint.wants(event_type) for endpoint in _LISTENING_ENDPOINTS.fetch(tenant_id))


_TENANT_WITH_LISTENERS = PreparedQuery(
    lambda tenant_id: (
        Tenant.objects.filter(pk=tenant_id, event_listeners_configured=True).only("id").order_by()
    ),
    Tenant._meta.pk,
)
# The next two run in every finishing run's transaction of a tenant with listeners (a run's end is told to
# its waiters after that commit): compiled once per connection.
_LISTENING_SUBSCRIPTIONS = PreparedQuery(
    lambda tenant_id, event_type: (
        EventSubscription.objects.listening(tenant_id, event_type)
        .only("id", "filter_expression")
        .order_by()[: MAX_FILTERS_CHECKED_AT_STORE + 1]
    ),
    EventSubscription._meta.get_field("tenant"),
    EventSubscription._meta.get_field("event_type"),
)
_LISTENING_ENDPOINTS = PreparedQuery(
    lambda tenant_id: WebhookEndpoint.objects.listening(tenant_id).only("id", "event_types").order_by(),
    WebhookEndpoint._meta.get_field("tenant"),
)


def publish_dispatch(event_id: Any, *, here: bool = False) -> None:
    """Dispatch the event after the commit: by the ``triggers.dispatch_event`` task, or, ``here``, in this
    process (``dispatch_here``)."""
    if here:
        transaction.on_commit(functools.partial(dispatch_here, str(event_id)))
    else:
        publish_after_commit("triggers.dispatch_event", str(event_id))


def dispatch_here(event_id: str) -> None:
    """A run's events are dispatched by the worker process that recorded the run, right after its commit
    (which the run's own waiters have been told of first): an event chain's next run is then queued without
    a Celery round trip (a task message, and a worker process to take it) before it. Should that fail, the
    task dispatches it (dispatch is idempotent), and failing that, the sweep (``dispatch_enqueued_at``)."""
    try:
        dispatch.dispatch(event_id)
    except Exception:
        logger.exception("Dispatching event %s after its run failed; publishing its dispatch task", event_id)
        try:
            publishing.publish("triggers.dispatch_event", event_id)
        except Exception:
            logger.exception("Could not publish the dispatch of event %s; the sweep will", event_id)


# ------------------------------------------------------------------------------- platform events


def emit_evidence_uploaded(evidence_id: str) -> Event | None:
    evidence = Evidence.objects.select_related("uploaded_by").filter(pk=evidence_id).first()
    if evidence is None:
        return None
    payload = {
        "evidence_id": str(evidence.pk),
        "tenant_id": str(evidence.tenant_id),
        "name": evidence.name,
        "size": evidence.size,
        "sha256": evidence.sha256,
        "content_type": evidence.content_type,
        "uploaded_by": evidence.uploaded_by.username,
        "uploaded_at": format_optional_timestamp(evidence.uploaded_at),
    }
    return store_event(
        tenant_id=evidence.tenant_id,
        type="evidence.uploaded",
        payload=payload,
        dedupe_key=f"evidence:{evidence.pk}:uploaded",
    )


def emit_plugin_installed(installation_id: str) -> Event | None:
    installation = (
        Installation.objects.select_related("plugin", "installed_by", "pinned_version")
        .filter(pk=installation_id)
        .first()
    )
    if installation is None:
        return None
    version = resolve_version(installation)
    payload = {
        "installation_id": str(installation.pk),
        "tenant_id": str(installation.tenant_id),
        "plugin_id": str(installation.plugin_id),
        "plugin": installation.plugin.slug,
        "version": version.version if version is not None else None,
        "pinned": installation.pinned_version_id is not None,
        "installed_by": installation.installed_by.username,
        "installed_at": format_optional_timestamp(installation.installed_at),
    }
    return store_event(
        tenant_id=installation.tenant_id,
        type="plugin.installed",
        payload=payload,
        dedupe_key=f"installation:{installation.pk}:installed",
    )


def chain_depth_of(execution_id: Any) -> int:
    """0 for a run started by a person or a schedule; its triggering event's depth + 1 otherwise."""
    source = EventDelivery.objects.filter(execution_id=execution_id).values_list(
        "event__chain_depth", flat=True
    )
    depth = source.first()
    return 0 if depth is None else depth + 1


def emit_execution_events(execution: Any) -> list[Event]:
    """Store the execution.* event of a finished run (and its custom events)."""
    if execution.status not in EXECUTION_EVENTS:
        return []
    # Only an event-triggered run descends from an event; the others start a chain.
    depth = chain_depth_of(execution.pk) if execution.trigger == Trigger.EVENT else 0
    event_type = EXECUTION_EVENTS[execution.status]
    version = execution.plugin_version
    payload: dict[str, Any] = {
        "execution_id": str(execution.pk),
        "tenant_id": str(execution.tenant_id),
        "installation_id": str(execution.installation_id),
        "plugin_id": str(version.plugin_id),
        "plugin": version.plugin.slug,
        "version": version.version,
        "status": execution.status,
        "trigger": execution.trigger,
        "error_reason": execution.error_reason or None,
        "finished_at": format_optional_timestamp(execution.finished_at),
    }
    if execution.status == "SUCCEEDED":
        output = run_output(execution)  # the value the worker parsed, even when the object store keeps it
        if len(json.dumps(output)) <= MAX_OUTPUT_IN_PAYLOAD_BYTES:
            payload["output"] = output
        else:
            payload["output_omitted"] = True
    stored = [
        store_event(
            tenant_id=execution.tenant_id,
            type=event_type,
            payload=payload,
            dedupe_key=f"execution:{execution.pk}:{event_type}",
            source_execution_id=execution.pk,
            chain_depth=depth,
        )
    ]
    if execution.status == "SUCCEEDED":
        stored.extend(_emit_custom_events(execution, depth))
    return [event for event in stored if event is not None]


# --------------------------------------------------------------------------------- custom events


def _emit_custom_events(execution: Any, depth: int) -> list[Event | None]:
    output = run_output(execution)
    raw = output.get("events") if isinstance(output, dict) else None
    if raw is None:
        return []
    notes: list[str] = []
    accepted: list[tuple[int, str, dict[str, Any]]] = []
    if not isinstance(raw, list):
        notes.append('Custom events refused: output "events" must be a list of {"type", "payload"} objects.')
    elif EVENTS_EMIT not in execution.capabilities:
        notes.append(
            f"Custom events refused: the run did not hold the '{EVENTS_EMIT}' capability "
            f"({len(raw)} event(s) dropped)."
        )
    else:
        accepted, notes = _check_custom_events(raw, execution.plugin_version.manifest.get("emits") or [])
    if notes:
        add_execution_warnings(execution.pk, notes)
    return [
        store_event(
            tenant_id=execution.tenant_id,
            type=event_type,
            payload=payload,
            dedupe_key=f"execution:{execution.pk}:emit:{index}",
            source_execution_id=execution.pk,
            chain_depth=depth,
        )
        for index, event_type, payload in accepted
    ]


def _check_custom_events(
    raw: list[Any], declared: list[str]
) -> tuple[list[tuple[int, str, dict[str, Any]]], list[str]]:
    limit = settings.ARGUS_EVENT_MAX_CUSTOM_PER_RUN
    accepted, notes = [], []
    for index, item in enumerate(raw):
        if index >= limit:
            notes.append(f"Custom events refused: at most {limit} per run ({len(raw) - limit} dropped).")
            break
        event_type = item.get("type") if isinstance(item, dict) else None
        payload = item.get("payload", {}) if isinstance(item, dict) else None
        label = f"Custom event #{index}" + (f" '{event_type}'" if isinstance(event_type, str) else "")
        if not isinstance(event_type, str) or not CUSTOM_EVENT_TYPE.match(event_type):
            notes.append(f"{label} refused: the type must look like 'custom.<name>'.")
        elif event_type not in declared:
            notes.append(f"{label} refused: the manifest's 'emits' does not declare it.")
        elif not isinstance(payload, dict):
            notes.append(f"{label} refused: its payload must be a JSON object.")
        elif len(json.dumps(payload)) > settings.ARGUS_EVENT_MAX_PAYLOAD_BYTES:
            notes.append(
                f"{label} refused: its payload exceeds {settings.ARGUS_EVENT_MAX_PAYLOAD_BYTES} bytes."
            )
        else:
            accepted.append((index, event_type, payload))
    return accepted, notes


@transaction.atomic
def add_execution_warnings(execution_id: Any, notes: list[str]) -> None:
    """Append ``notes`` to the execution's warnings; the row lock makes concurrent appends safe."""
    current = Execution.objects.select_for_update().filter(pk=execution_id).values_list("warnings", flat=True)
    existing = current.first()
    if existing is None:
        return
    missing = [note[:500] for note in notes if note[:500] not in existing]
    if missing:
        Execution.objects.filter(pk=execution_id).update(warnings=[*existing, *missing])
