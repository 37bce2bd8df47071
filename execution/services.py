"""Execution use cases: evidence, starting runs (through the one authorisation function), cancelling.

The worker side (running the container and recording the outcome) is in ``execution.worker``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.files.base import File
from django.db import connection, transaction
from django.db.models import QuerySet

from argus_plugins.canonical import CanonicalJSONError, canonical_sha256
from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError, DomainErrors, not_found
from argus_plugins.core.hooks import run_hooks
from argus_plugins.core.objects import (
    StorageUnavailable,
    delete_object,
    storage_errors,
    storage_unavailable_error,
)
from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.core.validation import clean_text, parse_uuid, validate_json_schema
from argus_plugins.tenancy.models import Membership, Role, Tenant, TenantPolicy, User
from argus_plugins.tenancy.permissions import (
    require_caller_role,
    require_tenant_object_role,
    require_tenant_role,
    tenant_ids_of,
    with_caller_role,
    with_role_of_user,
)
from installations.authorization import authorize
from installations.models import Installation
from installations.services import get_installation
from registry.capabilities import EVIDENCE_READ

from . import dispatch
from .error_codes import ExecutionErrorCode
from .hooks import EVIDENCE_UPLOADED
from .limits import applied_limits, tenant_policy, tenant_queue_cap
from .models import Evidence, Execution, ExecutionEvidence, ExecutionStatus, Trigger
from .recording import finish

MAX_EVIDENCE_PER_RUN = 50


# ---------------------------------------------------------------------------------------- evidence


def evidence_visible_to(user: Any) -> QuerySet[Evidence]:
    return Evidence.objects.filter(tenant_id__in=tenant_ids_of(user))


@transaction.atomic
def upload_evidence(*, actor: User, tenant_id: Any, upload: Any, name: Any = None) -> Evidence:
    membership = require_tenant_role(actor, tenant_id, Role.ANALYST)
    if upload is None or not hasattr(upload, "chunks"):
        raise DomainError(CommonErrorCode.REQUIRED, "Send the evidence as a multipart file upload.", "file")
    if upload.size > settings.ARGUS_MAX_EVIDENCE_BYTES:
        raise DomainError(
            ExecutionErrorCode.EVIDENCE_TOO_LARGE,
            f"Evidence may be at most {settings.ARGUS_MAX_EVIDENCE_BYTES} bytes.",
            "file",
        )
    name = clean_text(name or getattr(upload, "name", "") or "evidence", field="name", max_length=255)
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    evidence = Evidence(
        tenant=membership.tenant,
        name=name,
        size=upload.size,
        sha256=digest.hexdigest(),
        content_type=(getattr(upload, "content_type", "") or "")[:100],
        uploaded_by=actor,
    )
    # Stored under the tenant's own prefix with an opaque name: the original name is only metadata. The
    # upload is streamed in chunks from Django's upload (in memory up to 2 MiB, a temporary file beyond).
    try:
        with storage_errors():
            evidence.content.save(f"{membership.tenant_id}/{evidence.id}", File(upload), save=False)
    except StorageUnavailable as error:
        raise storage_unavailable_error(error, "file") from None
    try:
        evidence.save()
    except BaseException:
        delete_object(evidence.content.name)
        raise
    run_hooks(EVIDENCE_UPLOADED, evidence.pk)  # e.g. the evidence.uploaded event, after commit
    return evidence


def get_evidence(user: Any, evidence_id: Any, field: str = "id") -> Evidence:
    evidence = Evidence.objects.filter(pk=parse_uuid(evidence_id, field=field)).first()
    if evidence is None:
        raise not_found("Evidence", field)
    require_tenant_object_role(user, evidence.tenant_id, Role.VIEWER, "Evidence", field)
    return evidence


# ------------------------------------------------------------------------------------------- runs


def _clean_input(raw: Any, input_schema: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise DomainError(ExecutionErrorCode.INPUT_INVALID, "The input must be a JSON object.", "input")
    if len(json.dumps(raw)) > settings.ARGUS_MAX_INPUT_BYTES:
        raise DomainError(CommonErrorCode.TOO_LONG, "The input is too large.", "input")
    try:
        digest = canonical_sha256(raw)
    except CanonicalJSONError as error:
        raise DomainError(
            ExecutionErrorCode.INPUT_INVALID, f"The input cannot be canonicalised: {error}", "input"
        ) from None
    validate_json_schema(raw, input_schema, code=ExecutionErrorCode.INPUT_INVALID, field="input")
    return raw, digest


def _clean_evidence(tenant_id: Any, evidence_ids: Iterable[Any] | None) -> list[Evidence]:
    ids = list(evidence_ids or [])
    if len(ids) > MAX_EVIDENCE_PER_RUN:
        raise DomainError(
            CommonErrorCode.LIMIT_EXCEEDED, f"At most {MAX_EVIDENCE_PER_RUN} evidence items.", "evidenceIds"
        )
    if not ids:
        return []  # most runs carry no evidence: skip building a query that would match nothing
    uuids = list(dict.fromkeys(parse_uuid(value, field="evidenceIds") for value in ids))
    found = {e.pk: e for e in Evidence.objects.filter(tenant_id=tenant_id, pk__in=uuids)}
    missing = [u for u in uuids if u not in found]
    if missing:
        raise not_found("Evidence", "evidenceIds")  # another tenant's evidence is indistinguishable
    return [found[u] for u in uuids]


def _require_queue_room(tenant_id: Any, policy: TenantPolicy | None) -> None:
    """Refuse a run beyond the tenant's cap on QUEUED runs (counted under a lock on the tenant row)."""
    if connection.features.has_select_for_update:  # SQLite: this transaction holds the write lock already
        list(Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk", flat=True))
    cap = tenant_queue_cap(policy)
    if Execution.objects.filter(tenant_id=tenant_id, status=ExecutionStatus.QUEUED).count() >= cap:
        raise DomainError(
            ExecutionErrorCode.QUEUE_FULL,
            f"The tenant already has {cap} runs queued, its limit: try again when some have started.",
        )


def refusal_errors(decision: Any) -> DomainErrors:
    return DomainErrors(
        DomainError(ExecutionErrorCode.NOT_AUTHORIZED, refusal.message, refusal.capability and "capability")
        for refusal in decision.refusals
    )


@transaction.atomic
def start_execution(
    *,
    installation: Installation,
    input: Any,
    evidence_ids: Iterable[Any] | None,
    trigger: Trigger,
    triggered_by: User | None,
    record_refusal: bool = False,
) -> Execution:
    """Authorise, record QUEUED and release to the broker after commit, when its turn comes (see
    ``execution.dispatch``). Callers have checked who may trigger it.

    A refused run raises DomainErrors (nothing written), or, with ``record_refusal`` (schedules and event
    triggers, where nobody is there to read an error), is recorded as REJECTED with its ledger entry.
    A tenant at its cap of queued runs gets QUEUE_FULL (raised, whoever triggered it).
    """
    evidence = _clean_evidence(installation.tenant_id, evidence_ids)
    decision = authorize(installation, needs={EVIDENCE_READ} if evidence else ())
    version = decision.version
    if version is None or (not decision.allowed and not record_refusal):
        raise refusal_errors(decision)
    raw_input, input_digest = _clean_input(input, version.manifest.get("input_schema"))
    policy = tenant_policy(installation.tenant_id)
    if decision.allowed:
        _require_queue_room(installation.tenant_id, policy)
    execution = Execution.objects.create(
        tenant_id=installation.tenant_id,
        installation=installation,
        plugin_version=version,
        trigger=trigger,
        triggered_by=triggered_by,
        input=raw_input,
        input_sha256=input_digest,
        capabilities=decision.capabilities,
        warnings=list(decision.warnings),
        queued_at=clock.now(),
        applied_limits=applied_limits(
            version.manifest["resources"],
            tenant_id=installation.tenant_id,
            capabilities=decision.capabilities,
            policy=policy,
        ),
    )
    ExecutionEvidence.objects.bulk_create(
        ExecutionEvidence(execution=execution, evidence=item, sha256=item.sha256) for item in evidence
    )
    if not decision.allowed:
        finish(
            execution,
            ExecutionStatus.REJECTED,
            expected=ExecutionStatus.QUEUED,
            error_reason=f"Refused: {decision.summary()}",
        )
        return execution
    enqueue_after_commit(execution)
    return execution


def enqueue_after_commit(execution: Execution) -> None:
    """The run waits in the database queue; the dispatcher releases it when a slot and its turn come (now,
    in this transaction, when it can: its message is then published right after the commit)."""
    dispatch.release_in_transaction()


def run_plugin(
    *, actor: User, installation_id: Any, input: Any = None, evidence_ids: Any = None
) -> Execution:
    installation = get_installation(actor, installation_id, Role.ANALYST, field="installationId")
    return start_execution(
        installation=installation,
        input=input,
        evidence_ids=evidence_ids,
        trigger=Trigger.MANUAL,
        triggered_by=actor,
    )


def executions_visible_to(user: Any) -> QuerySet[Execution]:
    return Execution.objects.filter(tenant_id__in=tenant_ids_of(user))


def get_execution(
    user: Any, execution_id: Any, role: Role = Role.VIEWER, *, queryset: QuerySet[Execution] | None = None
) -> Execution:
    """Load an execution the user may see with ``role``; ``queryset`` chooses what is fetched with it."""
    queryset = _execution_queryset(queryset)
    # The caller's role comes with the row (one statement, polled often); get(): no ORDER BY on a pk lookup.
    try:
        execution = with_caller_role(queryset, user).get(pk=parse_uuid(execution_id))
    except Execution.DoesNotExist:
        raise not_found("Execution") from None
    require_caller_role(user, execution, role, "Execution")
    return execution


def execution_reader(
    user: Any, execution_id: Any, role: Role = Role.VIEWER, *, queryset: QuerySet[Execution] | None = None
) -> Callable[[], Execution]:
    """``get_execution`` as a function to call again and again (``waitForExecution`` reads the run on every
    wake-up): same answers and errors, the statement compiled at the first call and only run after it.

    Compiling is most of a read's cost (about 0.9 of 1 ms of CPU for the few fields a waiter asks; see
    argus_plugins/core/prepared.py), and the read after the run's end is on the way to the client. A
    ``queryset`` that prefetches (evidence, artifacts) is read as ``get_execution`` reads it."""
    queryset = _execution_queryset(queryset)
    pk = parse_uuid(execution_id)
    if not getattr(user, "is_authenticated", False) or queryset._prefetch_related_lookups:
        return lambda: get_execution(user, pk, role, queryset=queryset)
    prepared = PreparedQuery(
        lambda execution_pk, user_pk: with_role_of_user(queryset, user_pk).filter(pk=execution_pk),
        Execution._meta.pk,
        Membership._meta.get_field("user"),
    )

    def read() -> Execution:
        execution = prepared.first(pk, user.pk)
        if execution is None:
            raise not_found("Execution")
        require_caller_role(user, execution, role, "Execution")
        return execution

    return read


def _execution_queryset(queryset: QuerySet[Execution] | None) -> QuerySet[Execution]:
    if queryset is None:
        return Execution.objects.select_related("plugin_version__plugin", "installation", "triggered_by")
    return queryset


@transaction.atomic
def request_cancel(execution: Execution, reason: str) -> Execution:
    """Cancel a queued run at once; ask the worker of a running one to kill its container."""
    execution = Execution.objects.select_for_update().get(pk=execution.pk)
    if execution.status == ExecutionStatus.QUEUED:
        finish(execution, ExecutionStatus.CANCELLED, error_reason=reason, expected=ExecutionStatus.QUEUED)
    elif execution.status == ExecutionStatus.RUNNING:
        # The worker's watcher sees this within a fraction of a second, kills the container and records
        # CANCELLED; if the worker is gone, the sweeper does.
        Execution.objects.filter(pk=execution.pk, cancel_requested_at__isnull=True).update(
            cancel_requested_at=clock.now(), cancel_reason=reason[:500]
        )
        execution.refresh_from_db()
    else:
        raise DomainError(
            ExecutionErrorCode.NOT_CANCELLABLE, f"The execution is already {execution.status}.", "id"
        )
    return execution


def cancel_execution(*, actor: User, execution_id: Any) -> Execution:
    execution = get_execution(actor, execution_id, Role.ANALYST)
    return request_cancel(execution, f"Cancelled by {actor.username}.")


def cancel_runs_needing(installation_id: Any, capability: str, reason: str) -> int:
    """Cancel the installation's running runs that hold ``capability`` (its grant was just revoked).

    Queued runs are left to the worker, whose second authorisation turns them into REJECTED.
    """
    cancelled = 0
    for execution in Execution.objects.filter(
        installation_id=installation_id, status=ExecutionStatus.RUNNING
    ):
        if capability in execution.capabilities:
            with transaction.atomic():
                try:
                    request_cancel(execution, reason)
                    cancelled += 1
                except DomainError:
                    pass  # it finished meanwhile
    return cancelled
