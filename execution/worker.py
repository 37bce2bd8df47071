"""What a worker does with one execution, from the queued record to the recorded outcome.

Order matters: re-authorise and re-verify BEFORE claiming and before any container exists; claim
with a conditional update (a re-delivered or duplicated message cannot run a job twice); then run,
watch for cancellation, and record the outcome with its ledger entry. Nothing stays RUNNING: every
path ends in a terminal status, and the sweeper finishes runs whose worker died.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction

from argus_plugins.canonical import sha256_hex
from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError
from argus_plugins.core.objects import StorageUnavailable, copy_object, delete_object, storage_errors
from argus_plugins.core.prepared import PreparedQuery
from installations.authorization import authorize
from registry import ecosystems
from registry.bundles import extract_bundle
from registry.capabilities import EVIDENCE_READ
from registry.dependencies import ecosystem_of, verified_layer
from registry.layers import extract_layer
from registry.services import verify_stored_version

from . import metrics, runtime
from .models import Execution, ExecutionArtifact, ExecutionEvidence, ExecutionStatus
from .recording import finish
from .run_dirs import run_dir
from .sandbox import (
    DockerUnavailable,
    Outcome,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    acquire,
    release,
    run_job,
)
from .sandbox.container import LABEL_EXECUTION, StartedContainer, remove_container
from .sandbox.protocol import LiveOutput
from .stored_output import output_fields
from .verdict import judge

logger = logging.getLogger(__name__)

ARTIFACTS_WRITE = "artifacts:write"
#: The dependency layer's archive in the run's directory (evidence files there are named by their UUIDs).
LAYER_FILE_NAME = "layer.tar.gz"


#: The run task's hard time limit is the longest plugin timeout plus this (execution/tasks.py).
RUN_TASK_TIME_LIMIT_MARGIN = 180


class TenantAtCapacity(Exception):
    """The tenant already runs its maximum of executions; try again shortly (stays QUEUED)."""


@dataclass(frozen=True)
class Prepared:
    execution: Execution
    capabilities: list[str]
    bundle: bytes  # the archive, hashed and signature-verified moments ago
    evidence: dict[str, str]
    evidence_links: list[ExecutionEvidence]
    layer: Path | None = None  # the dependency layer's archive, copied into the run's directory and hashed


#: The run with everything the worker reads (authorisation, limits, the ledger record), in one query
#: compiled once per database connection (see PreparedQuery).
_RUN_WITH_CONTEXT = PreparedQuery(
    lambda pk: Execution.objects.select_related(
        "tenant__policy",
        "installation",
        "plugin_version__plugin",
        "plugin_version__signing_key",
        "plugin_version__dependency_layer",
        "triggered_by",
    ).filter(pk=pk),
    Execution._meta.pk,
)
_EVIDENCE_LINKS = PreparedQuery(
    lambda execution_id: (
        ExecutionEvidence.objects.select_related("evidence").filter(execution_id=execution_id).order_by()
    ),
    ExecutionEvidence._meta.get_field("execution"),
)


def _load(execution_id: str) -> Execution | None:
    return _RUN_WITH_CONTEXT.first(execution_id)


def _reject(execution: Execution, reason: str, links: list[ExecutionEvidence]) -> None:
    finish(
        execution,
        ExecutionStatus.REJECTED,
        expected=ExecutionStatus.QUEUED,
        evidence_links=links,
        error_reason=reason,
    )


def _run_dir(execution_id: Any) -> Path:
    """The run's private directory in this node's sandbox work directory (the slots' filesystem, so that a
    file here is hard-linked into the container's slot, not copied again); see execution/run_dirs.py."""
    return run_dir(runtime.work_dir(), execution_id)


def _fetch_evidence(
    execution: Execution, links: list[ExecutionEvidence]
) -> tuple[dict[str, str], str | None]:
    """Stream each evidence object from the object store into the run's directory, hashing it on the way,
    and map evidence ids to those files: the bytes the plugin sees are the bytes hashed, and they must be
    what was recorded at upload. StorageUnavailable when the store cannot be reached."""
    directory = _run_dir(execution.pk)
    paths: dict[str, str] = {}
    for link in links:
        evidence = link.evidence
        target = directory / str(evidence.pk)
        try:
            digest = copy_object(evidence.content.name, target)
        except FileNotFoundError:
            return {}, f"Evidence {evidence.pk} cannot be read: it is missing from the object store."
        if digest != link.sha256:
            return {}, f"Evidence {evidence.pk} does not match its recorded SHA-256: refused."
        paths[str(evidence.pk)] = str(target)
    return paths, None


def _tenant_capacity(execution: Execution) -> int:
    policy = getattr(execution.tenant, "policy", None)
    if policy is not None and policy.max_concurrent_executions:
        return policy.max_concurrent_executions
    return settings.ARGUS_TENANT_MAX_CONCURRENCY


@transaction.atomic
def _claim(execution: Execution, capabilities: list[str], container_id: str) -> bool:
    """QUEUED -> RUNNING in ``container_id`` unless the tenant is at its cap; the in-memory ``execution``
    follows the row."""
    # Lock the tenant row: concurrent claims for one tenant are serialised, so the cap holds. (SQLite has
    # no row locks: there every write transaction holds the database's write lock from its start.)
    if connection.features.has_select_for_update:
        list(type(execution.tenant).objects.select_for_update().filter(pk=execution.tenant_id))
    running = Execution.objects.filter(tenant_id=execution.tenant_id, status=ExecutionStatus.RUNNING).count()
    if running >= _tenant_capacity(execution):
        raise TenantAtCapacity(str(execution.pk))
    now = clock.now()
    claimed = {
        "status": ExecutionStatus.RUNNING,
        "started_at": now,
        "heartbeat_at": now,
        "worker_hostname": runtime.hostname(),
        "container_id": container_id,
        "capabilities": capabilities,
        "attempts": execution.attempts + 1,
    }
    if Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.QUEUED).update(**claimed) != 1:
        return False
    for name, value in claimed.items():
        setattr(execution, name, value)
    return True


def _authorized(execution: Execution, links: list[ExecutionEvidence]) -> Any:
    """The run-time authorisation (grants re-read); REJECTED and None when it refuses."""
    decision = authorize(
        execution.installation, execution.plugin_version, needs={EVIDENCE_READ} if links else ()
    )
    if not decision.allowed:
        _reject(execution, f"Refused at run time: {decision.summary()}", links)
        return None
    return decision


def prepare(execution: Execution) -> Prepared | None:
    """Second authorisation and integrity checks; REJECTED (and None) when anything fails."""
    links = _EVIDENCE_LINKS.fetch(execution.pk)
    decision = _authorized(execution, links)
    if decision is None:
        return None
    directory = _run_dir(execution.pk)
    shutil.rmtree(directory, ignore_errors=True)  # a re-delivered message's leftovers
    directory.mkdir(mode=0o700)
    try:
        bundle = verify_stored_version(execution.plugin_version)
        layer = verified_layer(execution.plugin_version, directory / LAYER_FILE_NAME)
        evidence, problem = _fetch_evidence(execution, links)
    except DomainError as error:
        _reject(execution, f"Plugin integrity check failed: {error.message}", links)
        return None
    except StorageUnavailable as error:  # the platform's fault, not the plugin's nor the tenant's
        fail_undispatchable(execution, f"Object storage is unavailable: {error}")
        return None
    if problem:
        _reject(execution, problem, links)
        return None
    return Prepared(execution, decision.capabilities, bundle, evidence, links, layer)


def _oci_runtime(execution: Execution) -> str | None:
    """The platform's OCI runtime, or gVisor when the tenant's policy requires it (the warm pool keys its
    containers by runtime, so a gVisor run never gets a runc container)."""
    policy = getattr(execution.tenant, "policy", None)
    if policy is not None and policy.require_gvisor:
        return settings.ARGUS_SANDBOX_GVISOR_RUNTIME
    return settings.ARGUS_SANDBOX_OCI_RUNTIME or None


def _sandbox_job(prepared: Prepared) -> SandboxJob:
    execution = prepared.execution
    version = execution.plugin_version
    limits = execution.applied_limits
    runtime_config = settings.ARGUS_RUNTIME_IMAGES[version.runtime]
    return SandboxJob(
        execution_id=str(execution.pk),
        image=runtime_config["image"],
        interpreter=tuple(runtime_config.get("interpreter", ("python3",))),
        launch=runtime_config.get("launch", "exec"),
        runtime=_oci_runtime(execution),
        entrypoint=version.manifest["entrypoint"],
        # Extracted (and validated once more) straight into the container's slot: no copy in between.
        bundle=functools.partial(extract_bundle, prepared.bundle),
        input=json.dumps(execution.input).encode(),
        evidence=prepared.evidence,
        layer=functools.partial(extract_layer, prepared.layer) if prepared.layer is not None else None,
        env=ecosystems.SANDBOX_ENV[ecosystem_of(version.runtime)] if prepared.layer is not None else {},
        plugin_name=version.plugin.slug,
        plugin_version=version.version,
        artifacts_enabled=ARTIFACTS_WRITE in prepared.capabilities,
        work_dir=runtime.work_dir(),
        limits=SandboxLimits(
            memory_mb=int(limits["memory_mb"]),
            cpus=float(limits["cpus"]),
            pids=int(limits["pids"]),
            timeout_seconds=float(limits["timeout_seconds"]),
            stdout_max_bytes=settings.ARGUS_STDOUT_MAX_BYTES,
            stderr_max_bytes=settings.ARGUS_STDERR_MAX_BYTES,
            output_max_bytes=settings.ARGUS_OUTPUT_MAX_BYTES,
        ),
        update_interval_seconds=settings.ARGUS_LIVE_OUTPUT_INTERVAL_SECONDS,
    )


class CancelWatch:
    """The run's cancel signal, as the sandbox runner asks it between reads (``is_set``).

    It looks at the execution row at most every ARGUS_CANCEL_POLL_SECONDS and refreshes the heartbeat
    every ARGUS_HEARTBEAT_SECONDS, from the worker's own thread and connection: no watcher thread and no
    second database connection per run. A database hiccup here never fails the run (it is logged).
    """

    def __init__(self, execution_id: Any) -> None:
        self.execution_id = execution_id
        self._cancelled = False
        now = time.monotonic()
        self._next_poll = now + settings.ARGUS_CANCEL_POLL_SECONDS
        self._next_beat = now + settings.ARGUS_HEARTBEAT_SECONDS

    def is_set(self) -> bool:
        now = time.monotonic()
        if self._cancelled or now < self._next_poll:
            return self._cancelled
        self._next_poll = now + settings.ARGUS_CANCEL_POLL_SECONDS
        try:
            row = Execution.objects.filter(pk=self.execution_id).values("cancel_requested_at").first()
            if row is None or row["cancel_requested_at"] is not None:
                self._cancelled = True
            if now >= self._next_beat:
                self._next_beat = now + settings.ARGUS_HEARTBEAT_SECONDS
                Execution.objects.filter(pk=self.execution_id, status=ExecutionStatus.RUNNING).update(
                    heartbeat_at=clock.now()
                )
        except Exception:
            logger.exception("Checking execution %s for a cancel request failed", self.execution_id)
        return self._cancelled


class LivePublisher:
    """Writes what a RUNNING plugin printed and reported so far to its row, for ``execution { stdout
    stderr progress }`` while it runs.

    The sandbox sends updates only when something changed, at most every
    ARGUS_LIVE_OUTPUT_INTERVAL_SECONDS, and each one is written. The guard here only bounds the database
    writes should the stream deliver updates bunched together (half the interval: a late update followed
    by a punctual one must not hide the newer one until the run ends). A database hiccup never fails the
    run (it is logged; the next update tries again).
    """

    def __init__(self, execution_id: Any) -> None:
        self.execution_id = execution_id
        self.interval = settings.ARGUS_LIVE_OUTPUT_INTERVAL_SECONDS / 2
        self._next_at = 0.0
        self._published: tuple[int, int, Any] = (0, 0, None)

    def __call__(self, live: LiveOutput) -> None:
        now = time.monotonic()
        state = (len(live.stdout), len(live.stderr), live.progress)
        if now < self._next_at or state == self._published:
            return
        fields: dict[str, Any] = {"stdout": _text(live.stdout), "stderr": _text(live.stderr)}
        if live.progress is not None and live.progress != self._published[2]:
            fields.update(
                progress_fraction=live.progress.fraction,
                progress_message=live.progress.message,
                progress_updated_at=clock.now(),
            )
        try:
            Execution.objects.filter(pk=self.execution_id, status=ExecutionStatus.RUNNING).update(**fields)
        except Exception:
            logger.exception("Publishing the live output of execution %s failed", self.execution_id)
            return
        self._published = state
        self._next_at = now + self.interval


def _text(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _store_artifacts(
    execution: Execution, result: SandboxResult, written: list[str]
) -> list[ExecutionArtifact]:
    """Write the run's artifacts to the store and return their (unsaved) records, naming each object in
    ``written`` as soon as it exists. Before the run's status commits: no upload inside the ledger's
    transaction. StorageUnavailable when the store cannot take them."""
    records = []
    for artifact in result.artifacts:
        record = ExecutionArtifact(
            execution=execution, name=artifact.name[:255], size=len(artifact.data), sha256=artifact.sha256
        )
        with storage_errors():
            record.content.save(
                f"{execution.tenant_id}/{execution.pk}/{record.id}", ContentFile(artifact.data), save=False
            )
        written.append(record.content.name)
        records.append(record)
    return records


def _delete_objects(names: list[str]) -> None:
    for name in names:
        delete_object(name)


def _kept_fields(result: SandboxResult) -> dict[str, Any]:
    """What is recorded of every run that reached the sandbox, whatever its outcome: the plugin's stdout,
    stderr and exit code, the last progress it reported, and the sandbox's bookkeeping."""
    fields: dict[str, Any] = {
        "exit_code": result.exit_code,
        "stdout": _text(result.stdout),
        "stderr": _text(result.stderr),
        "stdout_truncated": result.stdout_truncated,
        "stderr_truncated": result.stderr_truncated,
        "stdout_sha256": sha256_hex(result.stdout),
        "stderr_sha256": sha256_hex(result.stderr),
        "container_id": result.container_id or "",
        "timings": {key: round(value, 6) for key, value in result.timings.items()},
    }
    if result.progress is not None:
        fraction, message = result.progress
        fields.update(progress_fraction=fraction, progress_message=message, progress_updated_at=clock.now())
    return fields


def _outcome_fields(execution: Execution, result: SandboxResult) -> tuple[ExecutionStatus, dict[str, Any]]:
    fields = _kept_fields(result)
    if result.outcome == Outcome.CANCELLED:  # the reason was written by whoever asked, meanwhile
        fields["error_reason"] = (
            Execution.objects.filter(pk=execution.pk).values_list("cancel_reason", flat=True).first()
            or "Cancelled."
        )
        return ExecutionStatus.CANCELLED, fields
    if result.outcome == Outcome.COMPLETED and result.output is not None:
        fields["output_sha256"] = sha256_hex(result.output)
    limits = execution.applied_limits
    verdict = judge(
        result,
        timeout_seconds=limits["timeout_seconds"],
        memory_mb=limits["memory_mb"],
        output_max_bytes=settings.ARGUS_OUTPUT_MAX_BYTES,
    )
    if verdict.has_output:
        assert result.output is not None  # parsed from it
        fields.update(output_fields(execution, result.output, verdict.output))
    if verdict.reason is not None:
        fields["error_reason"] = verdict.reason
    return ExecutionStatus(verdict.status), fields


def run(execution_id: str) -> None:
    """The body of the worker task (``_run``); the run's evidence copies go when it is over."""
    try:
        _run(execution_id)
    finally:
        _discard_run_dir(execution_id)


def _discard_run_dir(execution_id: Any) -> None:
    with contextlib.suppress(ValueError):
        shutil.rmtree(_run_dir(execution_id), ignore_errors=True)


def _run(execution_id: str) -> None:
    """The one place that owns failure handling for a run.

    DockerUnavailable and TenantAtCapacity propagate (the task retries; the run stays QUEUED); any
    other unexpected error is logged with its traceback and recorded as FAILED, never left hanging.
    (Every Celery task starts with its database connection checked: argus_plugins/celery.py.)
    """
    began = time.perf_counter()
    execution = _load(execution_id)
    if execution is None or execution.is_terminal:
        return  # deleted, or a re-delivered message for a finished run: nothing to do
    if execution.status == ExecutionStatus.RUNNING:
        # A re-delivered message: after a broker connection drop Celery restores the unacknowledged messages
        # of runs that are still running fine, so only a run whose worker is gone is lost.
        if is_lost(execution):
            fail_lost_run(execution, "The worker running this execution was lost (re-delivered); not re-run.")
        else:
            logger.info("Execution %s runs in a live worker: re-delivered message ignored", execution_id)
        return
    # The worker's own phases before the sandbox, recorded with the sandbox's (Execution.timings).
    phases = {"worker_load": time.perf_counter() - began}
    t = time.perf_counter()
    try:
        prepared = prepare(execution)
    except Exception as error:
        logger.exception("Preparing execution %s failed", execution_id)
        fail_undispatchable(execution, f"Internal error while preparing the run ({type(error).__name__}).")
        return
    if prepared is None:
        return
    phases["worker_checks"] = time.perf_counter() - t
    # The container comes before the claim: a warm one (or one started now) proves the engine is up, so an
    # unreachable engine leaves the run QUEUED for the task's retry, and the claim records the container
    # that runs it (for cancel and the sweeper) in the same UPDATE.
    client, pool = runtime.docker_client(), runtime.container_pool()
    try:
        job = _sandbox_job(prepared)
        container = acquire(client, job, pool=pool)
        metrics.record_sandbox_acquired(container, pooled=pool is not None)
    except DockerUnavailable:
        raise
    except Exception as error:
        logger.exception("Starting a sandbox for execution %s failed", execution_id)
        fail_undispatchable(execution, f"The sandbox could not be started: {error}")
        return
    t = time.perf_counter()
    try:
        # Once more, right before the claim: getting a container can take seconds on a loaded engine, and a
        # grant revoked meanwhile must still stop the run.
        if _authorized(execution, prepared.evidence_links) is None:
            release(client, container, pool=pool)
            return
        claimed = _claim(execution, prepared.capabilities, container.id)
    except BaseException:
        release(client, container, pool=pool)
        raise
    if not claimed:
        release(client, container, pool=pool)
        return  # cancelled or claimed by another worker meanwhile
    phases["worker_claim"] = time.perf_counter() - t
    _execute(execution, prepared, job, container, phases)
    if pool is not None and settings.ARGUS_SANDBOX_POOL_PRECLAIM:
        # The run is recorded (and announced): claim and attach this process's next container of the shape
        # now, in the background, so that the next run of it starts without that step.
        pool.preclaim(container.settings)


def _execute(
    execution: Execution,
    prepared: Prepared,
    job: SandboxJob,
    container: StartedContainer,
    phases: dict[str, float] | None = None,
) -> None:
    try:
        try:
            result = run_job(
                runtime.docker_client(),
                job,
                pool=runtime.container_pool(),
                cancel=CancelWatch(execution.pk),
                container=container,
                on_live=LivePublisher(execution.pk) if job.update_interval_seconds else None,
            )
        finally:  # the container is done: the run's copies go before its status says it is over
            _discard_run_dir(execution.pk)
    except DockerUnavailable as error:
        reason = f"The Docker engine became unreachable during the run: {error}"
        _record_failure(execution, {"error_reason": reason})
        return
    except Exception as error:
        logger.exception("Execution %s failed in the sandbox", execution.pk)
        reason = f"Internal error while running the plugin ({type(error).__name__})."
        _record_failure(execution, {"error_reason": reason})
        return
    result.timings.update(phases or {})
    _record_outcome(execution, prepared, result)


def _record_outcome(execution: Execution, prepared: Prepared, result: SandboxResult) -> None:
    """Record the run's terminal status from what the sandbox returned. Whatever the plugin produced, the
    run ends terminal here, with its stdout, stderr and exit code: a failure while judging or storing the
    outcome is logged and recorded as FAILED (the platform's fault, not the plugin's), never raised.

    A large output and the artifacts are written to the object store first; they are removed again unless
    the terminal status that points at them commits."""
    written: list[str] = []  # objects this attempt put in the store
    artifacts: list[ExecutionArtifact] = []
    try:
        status, fields = _outcome_fields(execution, result)
        if fields.get("output_object"):
            written.append(fields["output_object"])
        if result.artifacts and status == ExecutionStatus.SUCCEEDED:
            artifacts = _store_artifacts(execution, result, written)
    except StorageUnavailable as error:
        logger.warning("Storing the outcome of execution %s failed: %s", execution.pk, error)
        _delete_objects(written)
        written, artifacts, status = [], [], ExecutionStatus.FAILED
        reason = f"Object storage is unavailable: the output or artifacts could not be stored ({error})."
        fields = {**_kept_fields(result), "error_reason": reason}
    except Exception as error:
        logger.exception("Judging the outcome of execution %s failed", execution.pk)
        _delete_objects(written)
        written, artifacts, status = [], [], ExecutionStatus.FAILED
        fields = {
            **_kept_fields(result),
            "error_reason": f"Internal error while recording the outcome ({type(error).__name__}).",
        }
    try:
        # The artifacts' records commit together with the terminal status, or neither does.
        with transaction.atomic():
            finished = finish(
                execution,
                status,
                expected=ExecutionStatus.RUNNING,
                evidence_links=prepared.evidence_links,
                **fields,
            )
            if finished and artifacts:
                ExecutionArtifact.objects.bulk_create(artifacts)
        if not finished:  # it had left RUNNING meanwhile (cancelled, or swept): nothing points at them
            _delete_objects(written)
        return
    except Exception as error:
        logger.exception("Recording the outcome of execution %s failed; recording it as FAILED", execution.pk)
        reason = f"Internal error while recording the outcome ({type(error).__name__})."
    _delete_objects(written)
    # Nothing of the attempt committed; the plugin's output and artifacts are left out this time, its
    # stdout, stderr and exit code are still kept.
    kept = {key: value for key, value in _kept_fields(result).items() if not key.startswith("progress")}
    _record_failure(execution, {**kept, "error_reason": reason})


def _record_failure(execution: Execution, fields: dict[str, Any]) -> None:
    execution.status = ExecutionStatus.RUNNING  # a rolled-back attempt may have moved it in memory only
    finish(execution, ExecutionStatus.FAILED, expected=ExecutionStatus.RUNNING, **fields)


def is_lost(execution: Execution) -> bool:
    """Whether a RUNNING run's worker is gone: its process is known dead (same host), or its heartbeat stale.

    A live process on this host keeps its run even when its heartbeat lags (a slow evidence copy, a long
    recording) until the task's hard time limit, after which Celery has killed it (or its pid was reused).
    """
    alive = runtime.worker_is_alive(execution.worker_hostname)
    if alive is False:
        return True
    allowed = settings.ARGUS_HEARTBEAT_TIMEOUT_SECONDS
    if alive:
        allowed = max(allowed, settings.ARGUS_RESOURCE_MAXIMA["timeout_seconds"] + RUN_TASK_TIME_LIMIT_MARGIN)
    stale = clock.now() - dt.timedelta(seconds=allowed)
    return execution.heartbeat_at is None or execution.heartbeat_at < stale


def fail_lost_run(execution: Execution, reason: str) -> bool:
    """Finish a RUNNING execution whose worker is gone: kill its container if it is still there."""
    with contextlib.suppress(Exception):  # best effort: the engine may be down too
        client = runtime.docker_client()
        ids = {
            info["Id"]
            for info in client.api.containers(
                all=True, filters={"label": f"{LABEL_EXECUTION}={execution.pk}"}
            )
        }
        if execution.container_id:
            ids.add(execution.container_id)  # pooled containers were labelled before the job was known
        for container_id in ids:
            remove_container(client, container_id)
    status = ExecutionStatus.CANCELLED if execution.cancel_requested_at else ExecutionStatus.FAILED
    reason = execution.cancel_reason if execution.cancel_requested_at else reason
    return finish(execution, status, expected=ExecutionStatus.RUNNING, error_reason=reason)


def fail_undispatchable(execution: Execution, reason: str) -> bool:
    return finish(execution, ExecutionStatus.FAILED, expected=ExecutionStatus.QUEUED, error_reason=reason)
