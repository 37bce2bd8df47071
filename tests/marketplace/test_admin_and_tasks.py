"""The staff desk (delist/relist through the services, moderation queue, read-only billing, analytics page)
and the billing task's wiring."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from argus_plugins.staff.roles import StaffRole, grant_role
from execution.models import ExecutionStatus
from marketplace import entitlements, reviews
from marketplace.models import Listing, ListingModerationEvent, Review, ReviewFlag
from marketplace.tasks import billing_cycle

from .conftest import install_directly, make_execution


@pytest.fixture
def desk(world):
    # Moderation is a reviewer's work, billing an operator's: this desk holds both roles.
    grant_role(world.staff, StaffRole.REVIEWER)
    grant_role(world.staff, StaffRole.OPERATOR)
    client = Client()
    client.force_login(world.staff)
    return client


def test_delist_and_relist_actions_ask_for_a_reason_and_use_the_services(desk, market):
    url = reverse("admin:marketplace_listing_changelist")
    selected = {"action": "delist", "_selected_action": [str(market.listing.pk)]}
    confirm = desk.post(url, selected)
    assert confirm.status_code == 200 and b"reason" in confirm.content
    assert Listing.objects.get().delisted_at is None
    desk.post(url, {**selected, "apply": "1", "reason": "takedown request"})
    listing = Listing.objects.get()
    assert listing.delisted_at is not None and listing.delisted_reason == "takedown request"
    desk.post(url, {"action": "relist", "_selected_action": [str(listing.pk)], "apply": "1", "reason": ""})
    assert Listing.objects.get().delisted_at is None
    assert list(ListingModerationEvent.objects.values_list("action", flat=True)) == ["DELISTED", "RELISTED"]
    assert desk.get(reverse("admin:marketplace_listing_change", args=[listing.pk])).status_code == 200


def test_delist_without_reason_is_refused(desk, market):
    url = reverse("admin:marketplace_listing_changelist")
    response = desk.post(
        url, {"action": "delist", "_selected_action": [str(market.listing.pk)], "apply": "1"}, follow=True
    )
    assert b"required" in response.content
    assert Listing.objects.get().delisted_at is None


def test_moderation_queue_shows_flagged_first_and_hides(desk, world, market):
    installation = install_directly(world.tenant_a, market.plugin, world.admin_a)
    make_execution(installation, market.version, ExecutionStatus.SUCCEEDED)
    review = reviews.create_review(
        actor=world.admin_a,
        tenant_id=world.tenant_a.pk,
        listing_id=market.listing.pk,
        rating=1,
        title="Flag me",
    )
    ReviewFlag.objects.create(review=review, user=world.outsider, reason="spam")
    url = reverse("admin:marketplace_reviewmoderation_changelist")
    page = desk.get(url)
    assert page.status_code == 200 and b"Flag me" in page.content
    desk.post(url, {"action": "hide", "_selected_action": [str(review.pk)], "apply": "1", "reason": "spam"})
    assert Review.objects.get().hidden_reason == "spam"


def test_billing_pages_are_read_only_and_analytics_page_renders(desk, world, market, monthly):
    entitlement = entitlements.subscribe_to_listing(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, listing_id=market.listing.pk, plan_id=monthly.pk
    )
    for name in ("entitlement", "invoice"):
        assert desk.get(reverse(f"admin:marketplace_{name}_changelist")).status_code == 200
        assert desk.get(reverse(f"admin:marketplace_{name}_add")).status_code == 403
    change = desk.get(reverse("admin:marketplace_entitlement_change", args=[entitlement.pk]))
    assert change.status_code == 200 and b"Save" not in change.content
    installation = install_directly(world.tenant_b, market.plugin, world.admin_b)
    make_execution(installation, market.version, ExecutionStatus.SUCCEEDED, duration_ms=250)
    page = desk.get(reverse("admin:marketplace_listing_analytics") + "?days=7")
    assert page.status_code == 200 and b"echo" in page.content and b"250.0" in page.content


def test_non_staff_cannot_use_the_desk(world, market):
    client = Client()
    client.force_login(world.admin_a)
    assert client.get(reverse("admin:marketplace_listing_analytics")).status_code == 302  # to the login page


def test_billing_cycle_is_scheduled_and_runs(world):
    schedule = settings.CELERY_BEAT_SCHEDULE["marketplace-billing-cycle"]
    assert schedule["task"] == billing_cycle.name == "marketplace.billing_cycle"
    assert billing_cycle.run() == {
        "past_due": 0,
        "trials_ended": 0,
        "expired_unpaid": 0,
        "renewed": 0,
        "cancelled_expired": 0,
    }
