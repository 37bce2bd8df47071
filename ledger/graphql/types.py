from __future__ import annotations

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection

from ..models import LedgerCheckpoint, LedgerEntry
from ..services import ensure_linked
from ..verification import BreakReason

BreakReasonEnum = graphene.Enum.from_enum(BreakReason, name="LedgerBreakReason")


class LedgerEntryType(DjangoObjectType):
    """One ledger entry with every field of its hash preimage, so a client can re-verify it."""

    # Declared explicitly: graphene-django would expose a BigIntegerField as the non-standard BigInt.
    sequence = graphene.Int(
        description=(
            "Position in the chain: 1, 2, 3, … without gaps. An entry is written with the change it records "
            "and linked into the chain a moment later; one still pending when read is linked first. Null "
            "(and prevHash and entryHash too) only for a pending entry the linker refused because it was "
            "altered: ledger verification reports it."
        )
    )
    entry_type = graphene.String(required=True, description="e.g. execution.completed, grant.created.")
    record = graphene.JSONString(required=True, description="The recorded facts (hashed as RFC 8785 JSON).")
    prev_hash = graphene.String(description="SHA-256 (hex) of the previous entry; null as sequence is.")
    entry_hash = graphene.String(description="SHA-256 (hex) of this entry's preimage; null as sequence is.")
    created_at = graphene.String(
        required=True,
        description="RFC 3339 UTC timestamp exactly as hashed, e.g. 2026-11-25T15:31:17.123456Z.",
    )

    class Meta:
        model = LedgerEntry
        name = "LedgerEntry"
        fields = ("id", "sequence", "entry_type", "record", "prev_hash", "entry_hash", "created_at")

    # A pending entry read through the API is linked first (``ensure_linked``): a client reading a run
    # right after its end gets the entry's place in the chain, not a null a moment too early.
    @staticmethod
    def resolve_sequence(entry: LedgerEntry, info: graphene.ResolveInfo) -> int | None:
        return ensure_linked(entry).sequence

    @staticmethod
    def resolve_prev_hash(entry: LedgerEntry, info: graphene.ResolveInfo) -> str | None:
        return ensure_linked(entry).prev_hash or None

    @staticmethod
    def resolve_entry_hash(entry: LedgerEntry, info: graphene.ResolveInfo) -> str | None:
        return ensure_linked(entry).entry_hash or None


class LedgerEntryConnection(CountableConnection):
    class Meta:
        node = LedgerEntryType


class LedgerVerificationType(graphene.ObjectType):
    ok = graphene.Boolean(required=True)
    entries_checked = graphene.Int(required=True, description="Entries verified intact, from sequence 1.")
    head_hash = graphene.String(required=True, description="Hash of the last intact entry.")
    root_hash = graphene.String(
        required=True, description="Merkle tree root (RFC 9162, base64) of the entries; empty when broken."
    )
    broken_sequence = graphene.Int(description="First broken sequence; null when ok.")
    reason = graphene.Field(BreakReasonEnum, description="Why the chain is broken; null when ok.")
    detail = graphene.String(required=True, description="Human-readable explanation (empty when ok).")

    class Meta:
        name = "LedgerVerification"


class LedgerCheckpointType(graphene.ObjectType):
    """A signed tree head: C2SP tlog-checkpoint text signed as a C2SP signed note (ECDSA P-256)."""

    origin = graphene.String(required=True, description="The log's name (the checkpoint's first line).")
    tree_size = graphene.Int(required=True, description="Number of entries the tree covers.")
    root_hash = graphene.String(required=True, description="Merkle tree root (RFC 9162), base64.")
    note = graphene.String(required=True, description="The full signed note, exactly as signed.")
    cosignatures = graphene.List(
        graphene.NonNull(graphene.String),
        required=True,
        description="Witness signature lines, to append to the note's signatures.",
    )
    created_at = graphene.DateTime(required=True)

    class Meta:
        name = "LedgerCheckpoint"

    @staticmethod
    def resolve_cosignatures(checkpoint: LedgerCheckpoint, info: graphene.ResolveInfo) -> list[str]:
        return [cosignature.signature_line for cosignature in checkpoint.cosignatures.all()]


class LedgerCheckpointConnection(CountableConnection):
    class Meta:
        node = LedgerCheckpointType


class LedgerInclusionProofType(graphene.ObjectType):
    leaf_index = graphene.Int(required=True, description="The entry's leaf: its sequence minus 1.")
    tree_size = graphene.Int(required=True)
    hashes = graphene.List(
        graphene.NonNull(graphene.String), required=True, description="Audit path, bottom-up, base64."
    )

    class Meta:
        name = "LedgerInclusionProof"


class LedgerConsistencyProofType(graphene.ObjectType):
    from_size = graphene.Int(required=True)
    to_size = graphene.Int(required=True)
    hashes = graphene.List(graphene.NonNull(graphene.String), required=True, description="Base64.")

    class Meta:
        name = "LedgerConsistencyProof"


class ExecutionReceiptType(graphene.ObjectType):
    execution_id = graphene.ID(required=True)
    document = graphene.String(
        required=True,
        description=(
            "The receipt: RFC 8785 canonical JSON plus a newline. Save it byte for byte and check it with "
            "`ledger/standalone_verify.py receipt FILE --log-key LOG_KEY.pem`."
        ),
    )

    class Meta:
        name = "ExecutionReceipt"
