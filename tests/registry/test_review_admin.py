"""The reviewers' admin desk goes through the same service functions as GraphQL."""

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from registry import services
from registry.models import PluginVersion, VersionStatus
from tests.support.publishing import make_bundle, manifest_for


@pytest.fixture
def in_review(publisher_kit, world):
    plugin = services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="timeline", name="Timeline"
    )
    version = publisher_kit.upload(
        plugin, "1.0.0", manifest=manifest_for("timeline", "1.0.0", capabilities=["evidence:read"])
    )
    services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    return version


@pytest.fixture
def reviewer(world):
    client = Client()
    client.force_login(world.staff)
    return client


def _url(version):
    return reverse("admin:registry_pluginversionreview_change", args=[version.pk])


def test_queue_shows_what_a_reviewer_needs(reviewer, in_review):
    listing = reviewer.get(reverse("admin:registry_pluginversionreview_changelist"))
    assert listing.status_code == 200 and b"timeline" in listing.content
    page = reviewer.get(_url(in_review)).content.decode()
    assert "evidence:read" in page
    assert "Verified" in page and in_review.code_sha256 in page
    assert "main.py" in page and "manifest.json" in page
    assert "memory_mb=128" in page


def test_admin_approve_publishes_and_records_the_reviewer(reviewer, in_review, world):
    response = reviewer.post(_url(in_review), {"_approve": "1", "decision_notes": "checked the code"})
    assert response.status_code == 302
    version = PluginVersion.objects.get(pk=in_review.pk)
    assert version.status == VersionStatus.PUBLISHED
    assert version.reviewer == world.staff and version.review_notes == "checked the code"
    last = version.history.order_by("-at", "-id").first()
    assert (last.from_status, last.to_status, last.actor, last.note) == (
        "IN_REVIEW",
        "PUBLISHED",
        world.staff,
        "checked the code",
    )


def test_admin_reject_needs_notes(reviewer, in_review):
    reviewer.post(_url(in_review), {"_reject": "1", "decision_notes": ""})
    assert PluginVersion.objects.get(pk=in_review.pk).status == VersionStatus.IN_REVIEW
    reviewer.post(_url(in_review), {"_reject": "1", "decision_notes": "reads /etc"})
    assert PluginVersion.objects.get(pk=in_review.pk).status == VersionStatus.REJECTED


def test_admin_approval_reverifies_the_stored_bytes(reviewer, in_review):
    with default_storage.open(in_review.bundle.name, "wb") as handle:
        handle.write(make_bundle(manifest_for("timeline", "1.0.0"), {"main.py": "import os"}))
    page = reviewer.get(_url(in_review)).content.decode()
    assert "FAILED" in page
    reviewer.post(_url(in_review), {"_approve": "1", "decision_notes": "x"})
    assert PluginVersion.objects.get(pk=in_review.pk).status == VersionStatus.IN_REVIEW


def test_non_staff_cannot_open_the_queue(in_review, publisher_kit):
    client = Client()
    client.force_login(publisher_kit.owner)
    assert client.get(_url(in_review)).status_code == 302  # redirected to the admin login
    client.post(_url(in_review), {"_approve": "1"})
    assert PluginVersion.objects.get(pk=in_review.pk).status == VersionStatus.IN_REVIEW
