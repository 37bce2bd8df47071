"""The reviewers' admin desk: source and diff on the version's page, approve/reject through the same service
functions as GraphQL, only for accounts with the reviewer role."""

from unittest import mock

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from argus_plugins.staff.roles import StaffRole, grant_role
from argus_plugins.tenancy.models import User
from registry import services
from registry.models import PluginVersion, VersionStatus
from tests.support.object_store import unreachable_storage_url
from tests.support.publishing import TRIVIAL_ENTRYPOINT, make_bundle, manifest_for

NEW_ENTRYPOINT = TRIVIAL_ENTRYPOINT.replace("hello from the plugin", "hello from version two") + (
    "print('<script>alert(1)</script>')\n"
)


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
    grant_role(world.staff, StaffRole.REVIEWER)
    client = Client()
    client.force_login(world.staff)
    return client


@pytest.fixture
def second_version(publisher_kit, world):
    """chat-parser 1.0.0 published, 1.1.0 (changed main.py, a new file) waiting for review."""
    plugin = services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="chat-parser", name="Chat"
    )
    publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff)
    version = publisher_kit.upload(
        plugin, "1.1.0", files={"main.py": NEW_ENTRYPOINT, "lib/helpers.py": "def helper():\n    return 42\n"}
    )
    services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)
    return version


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
    assert "Lifecycle events" in page and "IN_REVIEW" in page  # the version's history (inline)


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


def test_review_page_shows_highlighted_escaped_source_of_every_file(reviewer, second_version):
    page = reviewer.get(_url(second_version)).content.decode()
    assert 'data-path="main.py"' in page and 'data-path="lib/helpers.py"' in page
    assert 'class="argus-source"' in page  # Pygments output
    assert "version two" in page and "helper" in page
    assert "<script>alert(1)</script>" not in page  # the plugin's text is escaped...
    assert "&lt;script&gt;alert" in page  # ...and still shown
    assert "registry/review.css" in page


def test_review_page_diffs_against_the_previous_published_version(reviewer, second_version):
    page = reviewer.get(_url(second_version)).content.decode()
    assert "Compared with <strong>chat-parser@1.0.0</strong>" in page
    assert "main.py (modified)" in page and "lib/helpers.py (added)" in page
    assert "1.0.0/main.py" in page and "1.1.0/main.py" in page
    # The removed and added lines of main.py, as the diff lexer marks them.
    assert '<span class="gd">-print("hello from the plugin")</span>' in page
    assert '<span class="gi">+print("hello from version two")</span>' in page


def test_a_first_version_has_no_diff(reviewer, in_review):
    page = reviewer.get(_url(in_review)).content.decode()
    assert "No earlier version of this plugin was published" in page


def test_source_is_capped_per_file(reviewer, second_version, settings):
    settings.ARGUS_REVIEW_MAX_FILE_BYTES = 40
    page = reviewer.get(_url(second_version)).content.decode()
    assert "Only the first 40 of" in page
    assert "version two" not in page.split("Changes since the previous")[0]


def test_approve_and_reject_from_the_page_call_the_services(reviewer, second_version, in_review, world):
    with mock.patch.object(services, "approve_version", wraps=services.approve_version) as approve:
        reviewer.post(_url(second_version), {"_approve": "1", "decision_notes": "diff read"})
    approve.assert_called_once_with(actor=world.staff, version_id=str(second_version.pk), notes="diff read")
    with mock.patch.object(services, "reject_version", wraps=services.reject_version) as reject:
        reviewer.post(_url(in_review), {"_reject": "1", "decision_notes": "reads /etc"})
    reject.assert_called_once_with(actor=world.staff, version_id=str(in_review.pk), notes="reads /etc")
    assert PluginVersion.objects.get(pk=second_version.pk).status == VersionStatus.PUBLISHED
    assert PluginVersion.objects.get(pk=in_review.pk).status == VersionStatus.REJECTED


def test_staff_without_the_reviewer_role_can_neither_see_nor_decide(in_review, world):
    operator = User.objects.create(username="otto-operator", is_staff=True)
    grant_role(operator, StaffRole.OPERATOR)
    client = Client()
    client.force_login(operator)
    assert client.get(reverse("admin:registry_pluginversionreview_changelist")).status_code == 403
    assert client.get(_url(in_review)).status_code == 403
    assert client.post(_url(in_review), {"_approve": "1", "decision_notes": "x"}).status_code == 403
    assert PluginVersion.objects.get(pk=in_review.pk).status == VersionStatus.IN_REVIEW


def test_the_shipped_stylesheet_carries_the_current_pygments_style():
    from pathlib import Path

    from registry import code_review

    css = (Path(code_review.__file__).parent / "static/registry/review.css").read_text()
    assert code_review.stylesheet() in css


def test_the_review_page_still_opens_while_the_object_store_is_down(reviewer, second_version, settings):
    from argus_plugins.core.storage_url import parse_storage_url

    down = parse_storage_url(unreachable_storage_url(), upload_memory_bytes=1024).storage
    settings.STORAGES = {**settings.STORAGES, "default": down}
    response = reviewer.get(_url(second_version))
    assert response.status_code == 200  # never a 500: each panel says what it could not read
    page = response.content.decode()
    assert "NOT CHECKED: the object store is unavailable" in page
    assert "Cannot list the bundle" in page and "Cannot read the bundle" in page
    assert "Cannot read a bundle" in page  # the diff against the previous version
