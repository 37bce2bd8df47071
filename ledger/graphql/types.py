from __future__ import annotations

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core.graphql.connections import CountableConnection

from ..models import LedgerEntry
from ..verification import BreakReason

BreakReasonEnum = graphene.Enum.from_enum(BreakReason, name="LedgerBreakReason")


class LedgerEntryType(DjangoObjectType):
    """One ledger entry with every field of its hash preimage, so a client can re-verify it."""

    # Declared explicitly: graphene-django would expose a BigIntegerField as the non-standard BigInt.
    sequence = graphene.Int(required=True, description="Position in the chain: 1, 2, 3, … without gaps.")
    entry_type = graphene.String(required=True, description="e.g. execution.completed, grant.created.")
    record = graphene.JSONString(required=True, description="The recorded facts (hashed as RFC 8785 JSON).")
    prev_hash = graphene.String(required=True, description="SHA-256 (hex) of the previous entry.")
    entry_hash = graphene.String(required=True, description="SHA-256 (hex) of this entry's preimage.")
    created_at = graphene.String(
        required=True,
        description="RFC 3339 UTC timestamp exactly as hashed, e.g. 2026-11-25T15:31:17.123456Z.",
    )

    class Meta:
        model = LedgerEntry
        name = "LedgerEntry"
        fields = ("id", "sequence", "entry_type", "record", "prev_hash", "entry_hash", "created_at")


class LedgerEntryConnection(CountableConnection):
    class Meta:
        node = LedgerEntryType


class LedgerVerificationType(graphene.ObjectType):
    ok = graphene.Boolean(required=True)
    entries_checked = graphene.Int(required=True, description="Entries verified intact, from sequence 1.")
    head_hash = graphene.String(required=True, description="Hash of the last intact entry.")
    broken_sequence = graphene.Int(description="First broken sequence; null when ok.")
    reason = graphene.Field(BreakReasonEnum, description="Why the chain is broken; null when ok.")
    detail = graphene.String(required=True, description="Human-readable explanation (empty when ok).")

    class Meta:
        name = "LedgerVerification"
