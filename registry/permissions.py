"""Who may act for a publisher. Publisher membership is separate from tenant membership."""

from __future__ import annotations

from typing import Any

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.tenancy.permissions import require_authenticated

from .models import Publisher, PublisherMembership, PublisherRole


def publisher_membership(user: Any, publisher: Publisher | Any) -> PublisherMembership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    publisher_id = publisher.pk if isinstance(publisher, Publisher) else publisher
    return PublisherMembership.objects.filter(user=user, publisher_id=publisher_id).first()


def require_publisher_role(
    user: Any, publisher: Publisher, role: PublisherRole = PublisherRole.DEVELOPER, *, what: str = "Publisher"
) -> PublisherMembership | None:
    """Members act for their publisher (owners for keys and members); staff may act on any publisher."""
    require_authenticated(user)
    membership = publisher_membership(user, publisher)
    if membership is None:
        if user.is_staff:
            return None
        raise DomainError(CommonErrorCode.PERMISSION_DENIED, f"You are not a member of this {what.lower()}.")
    if role == PublisherRole.OWNER and membership.role != PublisherRole.OWNER:
        raise DomainError(CommonErrorCode.PERMISSION_DENIED, "Only the publisher's owners may do this.")
    return membership
