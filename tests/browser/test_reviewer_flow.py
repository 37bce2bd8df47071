"""A reviewer made with ``create_staff_user`` logs in with a password, finds the queue first on the admin
index, opens the waiting version, reads its main.py and the diff to the previous version, and approves
it, in a real browser against a live server."""

from __future__ import annotations

import io
import re

from django.core.management import call_command
from playwright.sync_api import expect

from argus_plugins.tenancy.models import User
from registry import services as registry_services
from registry.models import PluginVersion, VersionStatus
from tests.support.publishing import TRIVIAL_ENTRYPOINT

PASSWORD = "a long reviewer passphrase 42"
NEW_MAIN = TRIVIAL_ENTRYPOINT.replace("hello from the plugin", "hello from version two")


def _waiting_version(world, publisher_kit) -> PluginVersion:
    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="chat-parser", name="Chat"
    )
    publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff)
    version = publisher_kit.upload(plugin, "1.1.0", files={"main.py": NEW_MAIN})
    return registry_services.submit_for_review(actor=publisher_kit.owner, version_id=version.pk)


def test_reviewer_approves_a_version_from_the_queue(live_server, transactional_db, world, publisher_kit, page):
    page = page
    version = _waiting_version(world, publisher_kit)
    call_command(
        "create_staff_user", "rita", "--role", "reviewer", "--password-from-stdin",
        stdin=io.StringIO(PASSWORD + "\n"), stdout=io.StringIO(),
    )

    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    # The index: the queue summary first, then the registry with the queue as its first entry.
    expect(page).to_have_url(f"{live_server.url}/admin/")
    modules = page.locator("#content-main > .module")
    expect(modules.first).to_have_id("review-queue-summary")
    expect(modules.first).to_contain_text(re.compile(r"1\s+version waiting for review"))
    expect(modules.nth(1)).to_have_class(re.compile(r"\bapp-registry\b"))
    expect(modules.nth(1).locator("tbody tr").first).to_contain_text("Review queue (1 waiting)")

    modules.first.locator("a").click()
    expect(page).to_have_url(re.compile(r"/admin/registry/pluginversionreview/$"))
    page.locator("#result_list").get_by_role("link", name="chat-parser").click()
    expect(page).to_have_url(re.compile(rf"/admin/registry/pluginversionreview/{version.pk}/change/$"))

    main_py = page.locator('details.argus-file[data-path="main.py"]')
    expect(main_py).to_be_visible()
    expect(main_py).to_contain_text('print("hello from version two")')

    expect(page.locator(".argus-diff-base")).to_contain_text("Compared with chat-parser@1.0.0")
    diff = page.locator("details.argus-diff", has_text="main.py (modified)")
    expect(diff.locator(".gd", has_text='-print("hello from the plugin")')).to_be_visible()
    expect(diff.locator(".gi", has_text='+print("hello from version two")')).to_be_visible()

    page.fill("#decision_notes", "Read main.py and the diff to 1.0.0.")
    page.click("input[name=_approve]")
    expect(page).to_have_url(re.compile(r"/admin/registry/pluginversionreview/$"))
    expect(page.locator(".messagelist .success")).to_have_text(
        re.compile(r"chat-parser@1\.1\.0 is now PUBLISHED\.", re.IGNORECASE)
    )
    expect(page.locator("#result_list")).to_have_count(0)  # the queue is empty now

    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED
    assert version.reviewer == User.objects.get(username="rita")
    assert version.review_notes == "Read main.py and the diff to 1.0.0."
