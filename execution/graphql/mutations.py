from __future__ import annotations

from typing import Any

import graphene
from graphene_file_upload.scalars import Upload

from argus_plugins.core.graphql.mutations import BaseMutation

from .. import services
from .types import EvidenceType, ExecutionType


class UploadEvidence(BaseMutation):
    evidence = graphene.Field(EvidenceType)

    class Arguments:
        tenant_id = graphene.ID(required=True)
        file = Upload(required=True, description="The evidence file (GraphQL multipart request).")
        name = graphene.String(description="Defaults to the uploaded file's name.")

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, tenant_id: str, file: Any, name: str | None = None
    ) -> UploadEvidence:
        evidence = services.upload_evidence(
            actor=info.context.user, tenant_id=tenant_id, upload=file, name=name
        )
        return cls(evidence=evidence)


class RunPlugin(BaseMutation):
    """Authorise and queue a run; poll ``execution(id)`` for its outcome."""

    execution = graphene.Field(ExecutionType)

    class Arguments:
        installation_id = graphene.ID(required=True)
        input = graphene.JSONString(
            description="A JSON object, validated against the manifest's input_schema."
        )
        evidence_ids = graphene.List(graphene.NonNull(graphene.ID))

    @classmethod
    def perform_mutation(
        cls, root: Any, info: graphene.ResolveInfo, installation_id: str, **data: Any
    ) -> RunPlugin:
        execution = services.run_plugin(
            actor=info.context.user,
            installation_id=installation_id,
            input=data.get("input"),
            evidence_ids=data.get("evidence_ids"),
        )
        return cls(execution=execution)


class CancelExecution(BaseMutation):
    execution = graphene.Field(ExecutionType)

    class Arguments:
        id = graphene.ID(required=True)

    @classmethod
    def perform_mutation(cls, root: Any, info: graphene.ResolveInfo, id: str) -> CancelExecution:
        return cls(execution=services.cancel_execution(actor=info.context.user, execution_id=id))


class ExecutionMutations(graphene.ObjectType):
    upload_evidence = UploadEvidence.Field()
    run_plugin = RunPlugin.Field()
    cancel_execution = CancelExecution.Field()
