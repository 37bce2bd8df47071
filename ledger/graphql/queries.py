from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import graphene

from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.tenancy.permissions import require_staff

from .. import proofs
from ..models import LedgerCheckpoint
from ..notes import b64
from ..services import entries_visible_to
from ..verification import VerificationReport, verify_chain
from .types import (
    ExecutionReceiptType,
    LedgerCheckpointConnection,
    LedgerCheckpointType,
    LedgerConsistencyProofType,
    LedgerEntryConnection,
    LedgerInclusionProofType,
    LedgerVerificationType,
)


class LedgerQueries(graphene.ObjectType):
    verify_ledger = graphene.Field(
        LedgerVerificationType,
        required=True,
        description="Staff only: recompute every hash of the ledger and its tree; report the first break.",
    )
    ledger_entries = graphene.Field(
        LedgerEntryConnection,
        required=True,
        description=(
            "Ledger entries in sequence order. Staff: every entry (optionally of one tenant). "
            "Tenant members: the execution entries of the tenant given in tenantId."
        ),
        **connection_args(
            tenant_id=graphene.ID(description="Required for tenant members."),
            entry_type=graphene.String(description="Exact entry type, e.g. execution.completed."),
        ),
    )
    ledger_checkpoint = graphene.Field(
        LedgerCheckpointType,
        description="The latest signed checkpoint (null before the first). Staff and tenant members.",
    )
    ledger_checkpoints = graphene.Field(
        LedgerCheckpointConnection,
        required=True,
        description="Every signed checkpoint, newest first. Staff and tenant members.",
        **connection_args(),
    )
    ledger_inclusion_proof = graphene.Field(
        LedgerInclusionProofType,
        required=True,
        sequence=graphene.Int(required=True, description="The entry's sequence."),
        tree_size=graphene.Int(required=True, description="Size of the tree (e.g. a checkpoint's)."),
        description=(
            "RFC 9162 inclusion proof of an entry. Staff: any entry; tenant members: their tenant's "
            "execution entries (others are NOT_FOUND)."
        ),
    )
    ledger_consistency_proof = graphene.Field(
        LedgerConsistencyProofType,
        required=True,
        from_size=graphene.Int(required=True),
        to_size=graphene.Int(required=True),
        description="RFC 9162 proof that the tree of toSize entries extends the tree of fromSize entries.",
    )
    execution_receipt = graphene.Field(
        ExecutionReceiptType,
        required=True,
        execution_id=graphene.ID(required=True),
        description=(
            "A finished execution's receipt, verifiable offline: its ledger entry, the inclusion proof "
            "against a signed checkpoint, the log key, the plugin version's signature and the evidence "
            "hashes."
        ),
    )

    @staticmethod
    def resolve_verify_ledger(root: Any, info: graphene.ResolveInfo) -> VerificationReport:
        require_staff(info.context.user)
        return verify_chain()

    @staticmethod
    def resolve_ledger_entries(
        root: Any,
        info: graphene.ResolveInfo,
        tenant_id: str | None = None,
        entry_type: str | None = None,
        **page: Any,
    ) -> LedgerEntryConnection:
        entries = entries_visible_to(info.context.user, tenant_id=tenant_id, entry_type=entry_type)
        return resolve_connection(LedgerEntryConnection, entries, **page)

    @staticmethod
    def resolve_ledger_checkpoint(root: Any, info: graphene.ResolveInfo) -> LedgerCheckpoint | None:
        return proofs.latest_checkpoint_for(info.context.user)

    @staticmethod
    def resolve_ledger_checkpoints(root: Any, info: graphene.ResolveInfo, **page: Any) -> Any:
        checkpoints = proofs.checkpoints_visible_to(info.context.user).prefetch_related("cosignatures")
        return resolve_connection(LedgerCheckpointConnection, checkpoints, **page)

    @staticmethod
    def resolve_ledger_inclusion_proof(
        root: Any, info: graphene.ResolveInfo, sequence: int, tree_size: int
    ) -> SimpleNamespace:
        hashes = proofs.inclusion_proof_for(info.context.user, sequence, tree_size)
        return SimpleNamespace(leaf_index=sequence - 1, tree_size=tree_size, hashes=[b64(h) for h in hashes])

    @staticmethod
    def resolve_ledger_consistency_proof(
        root: Any, info: graphene.ResolveInfo, from_size: int, to_size: int
    ) -> SimpleNamespace:
        hashes = proofs.consistency_proof_for(info.context.user, from_size, to_size)
        return SimpleNamespace(from_size=from_size, to_size=to_size, hashes=[b64(h) for h in hashes])

    @staticmethod
    def resolve_execution_receipt(
        root: Any, info: graphene.ResolveInfo, execution_id: str
    ) -> SimpleNamespace:
        document = proofs.execution_receipt_for(info.context.user, execution_id)
        return SimpleNamespace(execution_id=execution_id, document=document)
