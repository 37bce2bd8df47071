"""Reviews: who may write them, one per tenant, replies, flags, moderation, aggregates."""

import pytest
from django.db.models import Avg

from argus_plugins.tenancy.models import Membership, Role
from execution.models import ExecutionStatus
from marketplace import reviews
from marketplace.models import Review, ReviewFlag, ReviewReply, ReviewRevision
from registry.models import PublisherMembership, PublisherRole

from .conftest import install_directly, make_execution, make_tenant

CREATE = """
mutation($t: ID!, $l: ID!, $r: Int!, $title: String!, $body: String) {
  createReview(tenantId: $t, listingId: $l, rating: $r, title: $title, body: $body) {
    review { id rating title version verified mine }
    errors { code field message }
  }
}"""


@pytest.fixture
def verified_a(world, market):
    """Tenant A installed the plugin and ran it successfully once."""
    installation = install_directly(world.tenant_a, market.plugin, world.admin_a)
    make_execution(installation, market.version, ExecutionStatus.SUCCEEDED)
    return installation


def _vars(world, market, **overrides):
    return {"t": str(world.tenant_a.pk), "l": str(market.listing.pk), "r": 4, "title": "Solid", **overrides}


def _codes(payload):
    return [error["code"] for error in payload["errors"]]


def test_verified_tenant_member_reviews_once(world, market, verified_a, gql_for):
    payload = gql_for(world.analyst_a).execute(CREATE, _vars(world, market)).payload("createReview")
    assert payload["errors"] == []
    assert payload["review"] == {
        "id": payload["review"]["id"],
        "rating": 4,
        "title": "Solid",
        "version": "1.0.0",
        "verified": True,
        "mine": True,
    }
    # A second review from the same tenant (another member) is refused.
    again = gql_for(world.viewer_a).execute(CREATE, _vars(world, market, r=1)).payload("createReview")
    assert _codes(again) == ["ALREADY_REVIEWED"] and Review.objects.count() == 1


def test_unverified_tenants_are_refused(world, market, gql_for):
    client = gql_for(world.admin_a)
    assert _codes(client.execute(CREATE, _vars(world, market)).payload("createReview")) == [
        "REVIEWER_NOT_VERIFIED"
    ]
    installation = install_directly(world.tenant_a, market.plugin, world.admin_a)
    for status in (ExecutionStatus.FAILED, ExecutionStatus.QUEUED, ExecutionStatus.REJECTED):
        make_execution(installation, market.version, status)
    assert _codes(client.execute(CREATE, _vars(world, market)).payload("createReview")) == [
        "REVIEWER_NOT_VERIFIED"
    ]
    assert not Review.objects.exists()


def test_publisher_members_never_review_their_plugins(world, market, verified_a, gql_for):
    PublisherMembership.objects.create(
        publisher=market.kit.publisher, user=world.analyst_a, role=PublisherRole.DEVELOPER
    )
    payload = gql_for(world.analyst_a).execute(CREATE, _vars(world, market)).payload("createReview")
    assert payload["errors"] == [
        {"code": "OWN_PLUGIN", "field": "listingId", "message": payload["errors"][0]["message"]}
    ]
    # The publisher's owner, even as a member of a verified tenant.
    Membership.objects.create(user=market.kit.owner, tenant=world.tenant_a, role=Role.ADMIN)
    payload = gql_for(market.kit.owner).execute(CREATE, _vars(world, market)).payload("createReview")
    assert _codes(payload) == ["OWN_PLUGIN"] and not Review.objects.exists()


def test_other_tenants_and_outsiders_cannot_speak_for_a_tenant(world, market, verified_a, gql_for):
    assert _codes(gql_for(world.admin_b).execute(CREATE, _vars(world, market)).payload("createReview")) == [
        "NOT_FOUND"
    ]
    assert _codes(gql_for(None).execute(CREATE, _vars(world, market)).payload("createReview")) == [
        "UNAUTHENTICATED"
    ]


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"r": 0}, "INVALID", "rating"),
        ({"r": 6}, "INVALID", "rating"),
        ({"r": -3}, "INVALID", "rating"),
        ({"title": ""}, "REQUIRED", "title"),
        ({"title": "x" * 201}, "TOO_LONG", "title"),
        ({"body": "y" * 10_001}, "TOO_LONG", "body"),
        ({"body": "nul\x00byte"}, "INVALID", "body"),
        ({"l": "not-a-uuid"}, "INVALID", "listingId"),
        ({"t": "12345"}, "INVALID", "tenantId"),
    ],
)
def test_bad_review_input_is_typed_and_writes_nothing(
    world, market, verified_a, gql_for, overrides, code, field
):
    payload = (
        gql_for(world.admin_a).execute(CREATE, _vars(world, market, **overrides)).payload("createReview")
    )
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, field)]
    assert not Review.objects.exists()


def test_editing_keeps_the_history(world, market, verified_a):
    review = reviews.create_review(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, listing_id=market.listing.pk, rating=2, title="Meh"
    )
    reviews.update_review(
        actor=world.admin_a, review_id=review.pk, rating=5, title="Great after all", body="b"
    )
    reviews.update_review(actor=world.admin_a, review_id=review.pk, rating=4, title="Good")
    review.refresh_from_db()
    assert (review.rating, review.title) == (4, "Good")
    assert list(ReviewRevision.objects.order_by("replaced_at", "id").values_list("rating", "title")) == [
        (2, "Meh"),
        (5, "Great after all"),
    ]
    # Only the author edits it.
    with pytest.raises(Exception) as refused:
        reviews.update_review(actor=world.analyst_a, review_id=review.pk, rating=1, title="x")
    assert refused.value.code.value == "NOT_FOUND"


REPLY = """mutation($id: ID!, $body: String!) {
  replyToReview(reviewId: $id, body: $body) { reply { body } errors { code } } }"""


def test_only_the_publisher_replies_and_only_once(world, market, verified_a, gql_for):
    review = reviews.create_review(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, listing_id=market.listing.pk, rating=3, title="OK"
    )
    variables = {"id": str(review.pk), "body": "Thanks!"}
    for user in (world.admin_a, world.admin_b, world.staff, world.outsider):
        assert _codes(gql_for(user).execute(REPLY, variables).payload("replyToReview")) == [
            "PERMISSION_DENIED"
        ]
    assert not ReviewReply.objects.exists()
    publisher = gql_for(market.kit.owner)
    assert publisher.execute(REPLY, variables).payload("replyToReview")["reply"] == {"body": "Thanks!"}
    assert _codes(publisher.execute(REPLY, variables).payload("replyToReview")) == ["ALREADY_REPLIED"]
    assert ReviewReply.objects.count() == 1


def test_flag_once_per_user_and_staff_hide(world, market, verified_a, gql_for):
    review = reviews.create_review(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, listing_id=market.listing.pk, rating=1, title="Spam"
    )
    flag = 'mutation($id: ID!) { flagReview(reviewId: $id, reason: "spam") { ok errors { code } } }'
    assert gql_for(world.outsider).execute(flag, {"id": str(review.pk)}).payload("flagReview")["ok"] is True
    again = gql_for(world.outsider).execute(flag, {"id": str(review.pk)}).payload("flagReview")
    assert _codes(again) == ["ALREADY_FLAGGED"] and ReviewFlag.objects.count() == 1
    hide = """mutation($id: ID!) { hideReview(reviewId: $id, reason: "abusive") {
      review { hidden hiddenReason } errors { code } } }"""
    assert _codes(gql_for(market.kit.owner).execute(hide, {"id": str(review.pk)}).payload("hideReview")) == [
        "PERMISSION_DENIED"
    ]
    payload = gql_for(world.staff).execute(hide, {"id": str(review.pk)}).payload("hideReview")
    assert payload["review"] == {"hidden": True, "hiddenReason": "abusive"}
    assert reviews.rating_summary(market.listing).count == 0  # hidden reviews leave the figures
    listing_reviews = gql_for(world.outsider).execute(
        "query($id: ID!) { listing(id: $id) { reviews { totalCount } } }", {"id": str(market.listing.pk)}
    )
    assert listing_reviews.data["listing"]["reviews"]["totalCount"] == 0


def test_aggregates_are_computed_by_the_database(world, market):
    ratings = [5, 5, 4, 3, 1, 5, 2]
    for index, rating in enumerate(ratings):
        tenant, admin = make_tenant(f"Reviewer {index}")
        installation = install_directly(tenant, market.plugin, admin)
        make_execution(installation, market.version)
        reviews.create_review(
            actor=admin, tenant_id=tenant.pk, listing_id=market.listing.pk, rating=rating, title=f"r{index}"
        )
    summary = reviews.rating_summary(market.listing)
    assert summary.count == len(ratings)
    assert summary.average == pytest.approx(sum(ratings) / len(ratings))
    assert summary.distribution == {1: 1, 2: 1, 3: 1, 4: 1, 5: 3}
    assert summary.average == pytest.approx(Review.objects.aggregate(a=Avg("rating"))["a"])
