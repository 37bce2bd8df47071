"""Record builders for the entries other apps write, each called inside that app's transaction.

Records keep to the ledger's domain: ids and hashes as strings, timestamps as RFC 3339 strings in the
ledger's one format, no floats. Who acted is recorded by id (stable) and username (readable in court).
Model instances are duck-typed so this module imports no other app.
"""

from __future__ import annotations

from typing import Any

from .hashing import format_optional_timestamp, format_timestamp
from .models import LedgerEntry
from .services import EntryType, append_entry


def _user_id(user: Any) -> str | None:
    return str(user.pk) if user is not None else None


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def record_version_approved(version: Any) -> LedgerEntry:
    """``version.approved``: a reviewer published a signed plugin version (registry.approve_version)."""
    return append_entry(
        EntryType.VERSION_APPROVED,
        {
            "plugin_id": str(version.plugin_id),
            "plugin_slug": version.plugin.slug,
            "version_id": str(version.pk),
            "version": version.version,
            "code_sha256": version.code_sha256,
            "manifest_sha256": version.manifest_sha256,
            "signing_key_fingerprint": version.signing_key.fingerprint,
            "reviewer_id": _user_id(version.reviewer),
            "reviewer": _username(version.reviewer),
            "notes": version.review_notes,
            "approved_at": format_timestamp(version.reviewed_at),
        },
    )


def record_grant_created(grant: Any) -> LedgerEntry:
    """``grant.created``: a tenant admin granted a capability to an installation."""
    installation = grant.installation
    return append_entry(
        EntryType.GRANT_CREATED,
        {
            "grant_id": str(grant.pk),
            "tenant_id": str(installation.tenant_id),
            "installation_id": str(installation.pk),
            "plugin_slug": installation.plugin.slug,
            "capability": grant.capability.name,
            "granted_by_id": _user_id(grant.granted_by),
            "granted_by": _username(grant.granted_by),
            "granted_at": format_timestamp(grant.granted_at),
            "expires_at": format_optional_timestamp(grant.expires_at),
        },
        tenant_id=installation.tenant_id,
    )


def record_grant_revoked(grant: Any) -> LedgerEntry:
    """``grant.revoked``: a tenant admin revoked a capability grant."""
    installation = grant.installation
    return append_entry(
        EntryType.GRANT_REVOKED,
        {
            "grant_id": str(grant.pk),
            "tenant_id": str(installation.tenant_id),
            "installation_id": str(installation.pk),
            "capability": grant.capability.name,
            "revoked_by_id": _user_id(grant.revoked_by),
            "revoked_by": _username(grant.revoked_by),
            "revoked_at": format_timestamp(grant.revoked_at),
            "reason": grant.revoke_reason,
        },
        tenant_id=installation.tenant_id,
    )
