from __future__ import annotations

from typing import Any

import graphene

from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.tenancy.permissions import require_staff

from ..services import entries_visible_to
from ..verification import VerificationReport, verify_chain
from .types import LedgerEntryConnection, LedgerVerificationType


class LedgerQueries(graphene.ObjectType):
    verify_ledger = graphene.Field(
        LedgerVerificationType,
        required=True,
        description="Staff only: recompute every hash of the ledger and report the first break.",
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
