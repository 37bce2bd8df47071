"""Reviews: one per tenant per listed plugin, only from tenants that installed it and ran it successfully,
never from the publisher's own members; the publisher replies once; staff hide; anyone signed in flags.

Rating figures are aggregated by the database over the visible (not hidden) reviews whenever they are
asked for; nothing is counted in Python, so concurrent reviews cannot make them drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q, QuerySet

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import clean_text, parse_uuid
from argus_plugins.tenancy.models import Role, User
from argus_plugins.tenancy.permissions import require_authenticated, require_staff, require_tenant_role
from execution.models import Execution, ExecutionStatus
from installations.models import Installation
from registry.models import PublisherMembership

from .error_codes import MarketplaceErrorCode
from .listings import get_listing, listings_visible_to
from .models import Listing, Review, ReviewFlag, ReviewReply, ReviewRevision
from .stats import STARS, refresh_listing_stats

MAX_TITLE = 200
MAX_BODY = 10_000
MAX_REASON = 500


@dataclass(frozen=True)
class RatingSummary:
    average: float | None
    count: int
    #: Number of reviews per star, 1 to 5.
    distribution: dict[int, int] = field(default_factory=dict)


def visible_reviews(user: Any) -> QuerySet[Review]:
    """Reviews of listings the user may see; hidden ones only for staff."""
    reviews = Review.objects.filter(listing__in=listings_visible_to(user))
    if not getattr(user, "is_staff", False):
        reviews = reviews.filter(hidden_at__isnull=True)
    return reviews


def rating_summaries(listing_ids: Iterable[Any]) -> dict[Any, RatingSummary]:
    """Average, count and per-star distribution of the visible reviews of each listing: ONE grouped
    query for any number of listings."""
    ids = list(listing_ids)
    rows = (
        Review.objects.filter(listing_id__in=ids, hidden_at__isnull=True)
        .values("listing_id")
        .annotate(
            average=Avg("rating"),
            count=Count("id"),
            **{f"s{star}": Count("id", filter=Q(rating=star)) for star in STARS},
        )
    )
    summaries = {listing_id: RatingSummary(None, 0, dict.fromkeys(STARS, 0)) for listing_id in ids}
    for row in rows:
        summaries[row["listing_id"]] = RatingSummary(
            average=float(row["average"]) if row["average"] is not None else None,
            count=row["count"],
            distribution={star: row[f"s{star}"] for star in STARS},
        )
    return summaries


def rating_summary(listing: Listing | Any) -> RatingSummary:
    listing_id = getattr(listing, "pk", listing)
    return rating_summaries([listing_id])[listing_id]


def _clean_rating(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in STARS:
        raise DomainError(CommonErrorCode.INVALID, "The rating must be a whole number from 1 to 5.", "rating")
    return value


def _clean_content(rating: Any, title: Any, body: Any) -> dict[str, Any]:
    return {
        "rating": _clean_rating(rating),
        "title": clean_text(title, field="title", max_length=MAX_TITLE),
        "body": clean_text(body, field="body", max_length=MAX_BODY, required=False),
    }


def _successful_runs(tenant_id: Any, plugin_id: Any) -> QuerySet[Execution]:
    return Execution.objects.filter(
        tenant_id=tenant_id, installation__plugin_id=plugin_id, status=ExecutionStatus.SUCCEEDED
    )


def _reviewed_version(tenant_id: Any, listing: Listing, version_id: Any) -> Any:
    """The version the review is about: one the tenant ran successfully (default: the latest such run's)."""
    runs = _successful_runs(tenant_id, listing.plugin_id).select_related("plugin_version")
    if version_id not in (None, ""):
        runs = runs.filter(plugin_version_id=parse_uuid(version_id, field="versionId"))
        run = runs.first()
        if run is None:
            raise DomainError(
                MarketplaceErrorCode.REVIEWER_NOT_VERIFIED,
                "The tenant has not run this version successfully.",
                "versionId",
            )
        return run.plugin_version
    run = runs.order_by("-finished_at", "-queued_at").first()
    return run.plugin_version if run else None


def _require_not_publisher(actor: User, listing: Listing) -> None:
    if PublisherMembership.objects.filter(user=actor, publisher_id=listing.plugin.publisher_id).exists():
        raise DomainError(
            MarketplaceErrorCode.OWN_PLUGIN,
            "Members of the plugin's publisher cannot review it.",
            "listingId",
        )


@transaction.atomic
def create_review(
    *,
    actor: User,
    tenant_id: Any,
    listing_id: Any,
    rating: Any,
    title: Any,
    body: Any = "",
    version_id: Any = None,
) -> Review:
    membership = require_tenant_role(actor, tenant_id, Role.VIEWER)
    listing = get_listing(actor, listing_id, field="listingId")
    _require_not_publisher(actor, listing)
    content = _clean_content(rating, title, body)
    tenant = membership.tenant
    installed = Installation.objects.filter(tenant=tenant, plugin_id=listing.plugin_id).exists()
    version = _reviewed_version(tenant.pk, listing, version_id) if installed else None
    if version is None:
        raise DomainError(
            MarketplaceErrorCode.REVIEWER_NOT_VERIFIED,
            "Only tenants that installed this plugin and ran it successfully can review it.",
            "tenantId",
        )
    if Review.objects.filter(tenant=tenant, listing=listing).exists():
        raise DomainError(
            MarketplaceErrorCode.ALREADY_REVIEWED,
            "This tenant has already reviewed this plugin: edit that review.",
            "listingId",
        )
    now = clock.now()
    try:
        with transaction.atomic():
            review = Review.objects.create(
                listing=listing,
                tenant=tenant,
                author=actor,
                version=version,
                verified_at=now,
                created_at=now,
                updated_at=now,
                **content,
            )
    except IntegrityError:  # a colleague's review was created concurrently
        raise DomainError(
            MarketplaceErrorCode.ALREADY_REVIEWED,
            "This tenant has already reviewed this plugin: edit that review.",
            "listingId",
        ) from None
    refresh_listing_stats(listing_ids=[listing.pk])
    return review


def _own_review(actor: User, review_id: Any) -> Review:
    """A review the actor may edit: written by the actor, who is still a member of its tenant."""
    require_authenticated(actor)
    review = Review.objects.select_related("listing__plugin").filter(pk=parse_uuid(review_id)).first()
    if review is None or review.author_id != actor.pk:
        raise not_found("Review")
    require_tenant_role(actor, review.tenant_id, Role.VIEWER, field="id")
    return review


@transaction.atomic
def update_review(
    *, actor: User, review_id: Any, rating: Any, title: Any, body: Any = "", version_id: Any = None
) -> Review:
    """Edit one's review; the previous content is kept as a ReviewRevision."""
    review = _own_review(actor, review_id)
    content = _clean_content(rating, title, body)
    version = review.version
    if version_id not in (None, ""):
        version = _reviewed_version(review.tenant_id, review.listing, version_id)
    locked = Review.objects.select_for_update().get(pk=review.pk)
    now = clock.now()
    ReviewRevision.objects.create(
        review=locked,
        rating=locked.rating,
        title=locked.title,
        body=locked.body,
        version_id=locked.version_id,
        written_at=locked.updated_at,
        replaced_at=now,
        edited_by=actor,
    )
    Review.objects.filter(pk=review.pk).update(version=version, updated_at=now, **content)
    refresh_listing_stats(listing_ids=[review.listing_id])
    review.refresh_from_db()
    return review


def _review_for(user: Any, review_id: Any) -> Review:
    review = (
        visible_reviews(user)
        .select_related("listing__plugin__publisher")
        .filter(pk=parse_uuid(review_id, field="reviewId"))
        .first()
    )
    if review is None:
        raise not_found("Review", "reviewId")
    return review


@transaction.atomic
def reply_to_review(*, actor: User, review_id: Any, body: Any) -> ReviewReply:
    """The publisher's members answer a review, once."""
    require_authenticated(actor)
    review = _review_for(actor, review_id)
    if not PublisherMembership.objects.filter(
        user=actor, publisher_id=review.listing.plugin.publisher_id
    ).exists():
        raise DomainError(
            CommonErrorCode.PERMISSION_DENIED,
            "Only the plugin's publisher can reply to its reviews.",
            "reviewId",
        )
    body = clean_text(body, field="body", max_length=MAX_BODY)
    try:
        with transaction.atomic():
            return ReviewReply.objects.create(review=review, body=body, author=actor, created_at=clock.now())
    except IntegrityError:
        raise DomainError(
            MarketplaceErrorCode.ALREADY_REPLIED, "This review already has a reply.", "reviewId"
        ) from None


@transaction.atomic
def flag_review(*, actor: User, review_id: Any, reason: Any = "") -> ReviewFlag:
    require_authenticated(actor)
    review = _review_for(actor, review_id)
    reason = clean_text(reason, field="reason", max_length=MAX_REASON, required=False)
    try:
        with transaction.atomic():
            return ReviewFlag.objects.create(review=review, user=actor, reason=reason, created_at=clock.now())
    except IntegrityError:
        raise DomainError(
            MarketplaceErrorCode.ALREADY_FLAGGED, "You have already flagged this review.", "reviewId"
        ) from None


@transaction.atomic
def hide_review(*, actor: User, review_id: Any, reason: Any) -> Review:
    """Staff: take a review out of the marketplace (and out of the rating figures), with a reason."""
    require_staff(actor)
    reason = clean_text(reason, field="reason", max_length=MAX_REASON)
    review = Review.objects.filter(pk=parse_uuid(review_id, field="reviewId")).first()
    if review is None:
        raise not_found("Review", "reviewId")
    updated = Review.objects.filter(pk=review.pk, hidden_at__isnull=True).update(
        hidden_at=clock.now(), hidden_reason=reason, hidden_by=actor
    )
    if updated != 1:
        raise DomainError(MarketplaceErrorCode.ALREADY_HIDDEN, "This review is already hidden.", "reviewId")
    refresh_listing_stats(listing_ids=[review.listing_id])
    review.refresh_from_db()
    return review


def get_review_listing(user: Any, listing_id: Any) -> Listing:
    return get_listing(user, listing_id, field="listingId")
