"""Who may read which proofs, checkpoints and receipts; the GraphQL layer and the admin call these.

Staff see everything. Tenant members may ask for checkpoints and consistency proofs (they reveal only
hashes and sizes) and for inclusion proofs and receipts of their own tenant's ``execution.*`` entries;
any other entry answers NOT_FOUND, exactly like one that does not exist (same rule as ``ledgerEntries``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.permissions import require_authenticated, tenant_ids_of

from . import receipts, tree
from .checkpoints import LogKeyMissingError
from .error_codes import LedgerErrorCode
from .merkle import ProofError
from .models import LedgerCheckpoint, LedgerEntry
from .services import TENANT_VISIBLE_PREFIX


def require_ledger_reader(user: Any) -> None:
    """Staff, or a member of at least one tenant."""
    require_authenticated(user)
    if not user.is_staff and not tenant_ids_of(user):
        raise DomainError(CommonErrorCode.PERMISSION_DENIED, "Only tenant members and staff may read proofs.")


def checkpoints_visible_to(user: Any) -> QuerySet[LedgerCheckpoint]:
    require_ledger_reader(user)
    return LedgerCheckpoint.objects.order_by("-tree_size")


def latest_checkpoint_for(user: Any) -> LedgerCheckpoint | None:
    return checkpoints_visible_to(user).first()


def _may_see(user: Any, tenant_id: Any, entry_type: str) -> bool:
    if user.is_staff:
        return True
    return tenant_id in tenant_ids_of(user) and entry_type.startswith(TENANT_VISIBLE_PREFIX)


def _positive(value: Any, field: str) -> int:
    if not isinstance(value, int) or value < 1:
        raise DomainError(CommonErrorCode.INVALID, f"{field} must be a positive integer.", field)
    return value


def inclusion_proof_for(user: Any, sequence: Any, tree_size: Any) -> list[bytes]:
    require_authenticated(user)
    sequence, tree_size = _positive(sequence, "sequence"), _positive(tree_size, "treeSize")
    entry = LedgerEntry.objects.filter(sequence=sequence).values_list("tenant_id", "entry_type").first()
    if entry is None or not _may_see(user, *entry):
        raise not_found("Ledger entry", "sequence")
    if sequence > tree_size:
        raise DomainError(CommonErrorCode.INVALID, "The entry is not in a tree of that size.", "treeSize")
    try:
        return tree.inclusion_proof(sequence, tree_size)
    except ProofError as exc:
        raise DomainError(CommonErrorCode.INVALID, str(exc), "treeSize") from None


def consistency_proof_for(user: Any, from_size: Any, to_size: Any) -> list[bytes]:
    require_ledger_reader(user)
    from_size, to_size = _positive(from_size, "fromSize"), _positive(to_size, "toSize")
    if from_size > to_size:
        raise DomainError(CommonErrorCode.INVALID, "fromSize must not exceed toSize.", "fromSize")
    try:
        return tree.consistency_proof(from_size, to_size)
    except ProofError as exc:
        raise DomainError(CommonErrorCode.INVALID, str(exc), "toSize") from None


def execution_receipt_for(user: Any, execution_id: Any) -> str:
    """The receipt document of an execution the caller may see (see ``ledger.receipts``)."""
    require_authenticated(user)
    execution_uuid = parse_uuid(execution_id, field="executionId")
    row = receipts.receipt_entry(execution_uuid)
    if row is None or not _may_see(user, row["tenant_id"], row["entry_type"]):
        # Also for a run that has not finished yet: it has no entry to prove.
        raise not_found("Execution ledger entry", "executionId")
    try:
        return receipts.build_receipt(execution_uuid, row)
    except LogKeyMissingError as exc:
        raise DomainError(LedgerErrorCode.LOG_KEY_MISSING, str(exc)) from None
