"""GraphiQL in a real browser: it loads from the platform's own origin only and runs a query through its UI."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.conftest import make_user

pytestmark = pytest.mark.browser

QUERY = "query WhoAmI { me { username isStaff } }"


def test_graphiql_runs_a_query_without_leaving_the_origin(
    page: Any, live_server: Any, traffic: Any, login_browser: Any
) -> None:
    login_browser(make_user("gina-graphiql"))

    page.goto(f"{live_server.url}/graphql/#query={quote(QUERY)}")
    run = page.locator(".graphiql-execute-button")
    expect(run).to_be_visible(timeout=30_000)
    expect(page.locator(".graphiql-query-editor")).to_contain_text("WhoAmI")
    run.click()

    response = page.locator(".graphiql-response")
    expect(response).to_contain_text('"username": "gina-graphiql"', timeout=30_000)
    expect(response).to_contain_text('"isStaff": false')
    # Dialogs add a <style> element: the page's CSP nonce must cover it (checked with the rest below).
    page.get_by_label("Open settings dialog").click()
    expect(page.get_by_role("dialog")).to_contain_text("Theme")
    page.keyboard.press("Escape")
    page.get_by_label("Show Documentation Explorer").click()
    expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Root Types", timeout=30_000)

    posted = [url for method, url in traffic.requests if method == "POST"]
    assert f"{live_server.url}/graphql/" in posted  # the query went to the server, through the page
    assert traffic.requests, "the page made no request at all"
    assert traffic.foreign_requests() == []
    assert traffic.blocked == []
    assert traffic.csp_violations == []
    assert traffic.script_errors == []
