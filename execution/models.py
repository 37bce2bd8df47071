from __future__ import annotations

from django.conf import settings
from django.db import models

from argus_plugins.core import clock
from argus_plugins.core.models import CreatedAtModel, UUIDModel
from argus_plugins.tenancy.models import TenantOwnedModel, tenant_key


class Evidence(TenantOwnedModel):
    """An evidence item of a tenant. Its SHA-256 is checked again whenever a run mounts it."""

    tenant = tenant_key(related_name="evidence")
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100, blank=True)
    content = models.FileField(upload_to="evidence/", max_length=255)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ("-uploaded_at", "id")
        verbose_name_plural = "evidence"

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"


class ExecutionStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
    TIMED_OUT = "TIMED_OUT", "Timed out"
    MEMORY_EXCEEDED = "MEMORY_EXCEEDED", "Memory exceeded"
    CANCELLED = "CANCELLED", "Cancelled"
    REJECTED = "REJECTED", "Rejected"


TERMINAL_STATUSES = frozenset(
    {
        ExecutionStatus.SUCCEEDED,
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.MEMORY_EXCEEDED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.REJECTED,
    }
)
ACTIVE_STATUSES = frozenset({ExecutionStatus.QUEUED, ExecutionStatus.RUNNING})


class Trigger(models.TextChoices):
    MANUAL = "MANUAL", "Manual"
    SCHEDULED = "SCHEDULED", "Scheduled"
    EVENT = "EVENT", "Event"


class ExecutionQuerySet(models.QuerySet):
    def active(self) -> ExecutionQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)


class Execution(TenantOwnedModel):
    """One run of one plugin version for one tenant, driven QUEUED → RUNNING → a terminal status."""

    tenant = tenant_key(related_name="executions")
    installation = models.ForeignKey(
        "installations.Installation", on_delete=models.PROTECT, related_name="executions"
    )
    plugin_version = models.ForeignKey(
        "registry.PluginVersion", on_delete=models.PROTECT, related_name="executions"
    )
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    input = models.JSONField(default=dict, blank=True)
    input_sha256 = models.CharField(max_length=64)
    evidence = models.ManyToManyField(Evidence, through="ExecutionEvidence", related_name="executions")
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    error_reason = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    #: Capabilities held when the run was authorised (re-checked by the worker before the container starts).
    capabilities = models.JSONField(default=list, blank=True)
    applied_limits = models.JSONField(default=dict, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    stdout_truncated = models.BooleanField(default=False)
    stderr_truncated = models.BooleanField(default=False)
    stdout_sha256 = models.CharField(max_length=64, blank=True)
    stderr_sha256 = models.CharField(max_length=64, blank=True)
    #: The plugin's latest progress report (while RUNNING: as of its last update; see the container contract).
    progress_fraction = models.FloatField(null=True, blank=True)
    progress_message = models.CharField(max_length=200, blank=True)
    progress_updated_at = models.DateTimeField(null=True, blank=True)
    #: The plugin's output.json, parsed: here when it is at most ARGUS_OUTPUT_INLINE_MAX_BYTES, else None and
    #: the bytes are the object ``output_object`` (see execution/stored_output.py).
    output = models.JSONField(null=True, blank=True)
    #: SHA-256 of output.json as the plugin wrote it (what the ledger records, wherever the bytes are kept).
    output_sha256 = models.CharField(max_length=64, blank=True)
    output_size = models.PositiveIntegerField(null=True, blank=True)
    output_object = models.FileField(upload_to="outputs/", max_length=255, blank=True)
    container_id = models.CharField(max_length=80, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    queued_at = models.DateTimeField(default=clock.now)
    #: When a task message for this run was last published (the sweeper re-publishes lost ones).
    enqueued_at = models.DateTimeField(default=clock.now)
    #: When the dispatcher released this QUEUED run to the broker (None: it waits in the database queue;
    #: see execution.dispatch). A tenant's latest one orders the round-robin between tenants.
    released_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    #: Refreshed by the worker while the run is alive; the sweeper fails runs whose heartbeat stopped.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, blank=True)
    #: Times the worker task was started for this execution (re-deliveries included).
    attempts = models.PositiveIntegerField(default=0)
    #: Per-phase timings of the run (seconds), for operators and benchmarks.
    timings = models.JSONField(default=dict, blank=True)
    #: The ledger entry written with the terminal status (same transaction).
    ledger_entry = models.OneToOneField(
        "ledger.LedgerEntry", on_delete=models.PROTECT, related_name="execution", null=True, blank=True
    )

    objects = ExecutionQuerySet.as_manager()

    class Meta:
        ordering = ("-queued_at", "id")
        indexes = [
            models.Index(fields=("tenant", "status")),
            models.Index(fields=("tenant", "-queued_at")),
            models.Index(fields=("status", "heartbeat_at")),
            models.Index(fields=("status", "enqueued_at")),
            models.Index(fields=("status", "released_at")),
            models.Index(fields=("tenant", "released_at")),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class ExecutionEvidence(UUIDModel):
    """Evidence given to a run, with the SHA-256 it had when the run was queued."""

    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="evidence_links")
    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("execution", "evidence"), name="uniq_execution_evidence")
        ]

    def __str__(self) -> str:
        return f"{self.evidence_id} in {self.execution_id}"


class ExecutionArtifact(UUIDModel, CreatedAtModel):
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    content = models.FileField(upload_to="artifacts/", max_length=255)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name
