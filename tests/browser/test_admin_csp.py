"""The Django admin under the platform's Content-Security-Policy: signing in and its pages still work."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from argus_plugins.tenancy.models import User

pytestmark = pytest.mark.browser


def test_admin_signs_in_and_works_under_the_csp(page: Any, live_server: Any, traffic: Any) -> None:
    User.objects.create_superuser("olivia-operator", password="a long operator passphrase")

    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "olivia-operator")
    page.fill("#id_password", "a long operator passphrase")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text("olivia-operator")

    page.goto(f"{live_server.url}/admin/tenancy/user/")
    page.get_by_role("link", name="olivia-operator").click()
    expect(page.locator("#id_username")).to_have_value("olivia-operator")
    # The admin's own scripts run: the navigation sidebar toggles.
    page.locator("#toggle-nav-sidebar").click()
    expect(page.locator("#nav-sidebar")).to_be_hidden()

    assert traffic.foreign_requests() == []
    assert traffic.blocked == []
    assert traffic.csp_violations == []
    assert traffic.script_errors == []
