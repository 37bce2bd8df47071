from __future__ import annotations

from typing import Any

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection
from installations.graphql.types import InstallationType
from registry.graphql.types import PluginVersionType

from ..models import Evidence, Execution, ExecutionArtifact, ExecutionStatus, Trigger
from ..stored_output import run_output

ExecutionStatusEnum = graphene.Enum.from_enum(ExecutionStatus, name="ExecutionStatus")
TriggerEnum = graphene.Enum.from_enum(Trigger, name="ExecutionTrigger")


class EvidenceType(DjangoObjectType):
    uploaded_by = graphene.String(required=True)

    class Meta:
        model = Evidence
        name = "Evidence"
        fields = ("id", "tenant", "name", "size", "sha256", "content_type", "uploaded_at")

    @staticmethod
    def resolve_uploaded_by(evidence: Evidence, info: graphene.ResolveInfo) -> str:
        return evidence.uploaded_by.username


class EvidenceConnection(CountableConnection):
    class Meta:
        node = EvidenceType


class ArtifactType(DjangoObjectType):
    class Meta:
        model = ExecutionArtifact
        name = "ExecutionArtifact"
        fields = ("id", "name", "size", "sha256", "created_at")


class ExecutionProgressType(graphene.ObjectType):
    """The plugin's latest progress report (see the container contract: JSON lines on descriptor 3)."""

    fraction = graphene.Float(required=True, description="From 0 to 1.")
    message = graphene.String(required=True)
    updated_at = graphene.DateTime(required=True, description="When the platform received it.")

    class Meta:
        name = "ExecutionProgress"


class ExecutionType(DjangoObjectType):
    status = graphene.Field(ExecutionStatusEnum, required=True)
    trigger = graphene.Field(TriggerEnum, required=True)
    plugin_version = graphene.Field(PluginVersionType, required=True)
    installation = graphene.Field(InstallationType, required=True)
    triggered_by = graphene.String()
    input = graphene.JSONString(required=True)
    output = graphene.JSONString(
        description="The plugin's output.json, parsed (null when it wrote none). A large one is kept in the "
        "object store and read back here, checked against outputSha256 first.",
    )
    output_size = graphene.Int(description="Bytes of output.json as the plugin wrote them.")
    applied_limits = graphene.JSONString(required=True)
    capabilities = graphene.List(graphene.NonNull(graphene.String), required=True)
    warnings = graphene.List(graphene.NonNull(graphene.String), required=True)
    timings = graphene.JSONString(required=True, description="Seconds per phase of the sandbox run.")
    evidence = graphene.List(graphene.NonNull(EvidenceType), required=True)
    artifacts = graphene.List(graphene.NonNull(ArtifactType), required=True)
    terminal = graphene.Boolean(required=True)
    progress = graphene.Field(
        ExecutionProgressType,
        description="The plugin's latest progress report; null until it makes one. While the run is "
        "RUNNING, stdout and stderr likewise hold what it printed so far (refreshed at most every 0.5 s).",
    )

    class Meta:
        model = Execution
        name = "Execution"
        fields = (
            "id",
            "tenant",
            "error_reason",
            "exit_code",
            "stdout",
            "stderr",
            "stdout_truncated",
            "stderr_truncated",
            "stdout_sha256",
            "stderr_sha256",
            "output_sha256",
            "input_sha256",
            "container_id",
            "worker_hostname",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "cancel_requested_at",
            "ledger_entry",
        )

    @staticmethod
    def resolve_triggered_by(execution: Execution, info: graphene.ResolveInfo) -> str | None:
        return execution.triggered_by.username if execution.triggered_by_id else None

    @staticmethod
    def resolve_evidence(execution: Execution, info: graphene.ResolveInfo) -> list[Evidence]:
        return list(execution.evidence.all())

    @staticmethod
    def resolve_artifacts(execution: Execution, info: graphene.ResolveInfo) -> list[ExecutionArtifact]:
        return list(execution.artifacts.all())

    @staticmethod
    def resolve_output(execution: Execution, info: graphene.ResolveInfo) -> Any:
        return run_output(execution)

    @staticmethod
    def resolve_terminal(execution: Execution, info: graphene.ResolveInfo) -> bool:
        return execution.is_terminal

    @staticmethod
    def resolve_progress(execution: Execution, info: graphene.ResolveInfo) -> ExecutionProgressType | None:
        if execution.progress_updated_at is None or execution.progress_fraction is None:
            return None
        return ExecutionProgressType(
            fraction=execution.progress_fraction,
            message=execution.progress_message,
            updated_at=execution.progress_updated_at,
        )

    @staticmethod
    def resolve_applied_limits(execution: Execution, info: graphene.ResolveInfo) -> Any:
        return execution.applied_limits


class ExecutionConnection(CountableConnection):
    class Meta:
        node = ExecutionType
