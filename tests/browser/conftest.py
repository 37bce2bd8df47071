"""Real-browser tests: Playwright (pytest-playwright) drives Debian's Chromium against pytest-django's live_server.

scripts/lib.sh installs the browser (`chromium`); Playwright's own browser download is never used. Every page is
guarded: requests to any origin but the live server's are aborted and recorded, as are Content-Security-Policy
violations and uncaught script errors, so a test can assert that none happened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

CHROMIUM = os.environ.get("ARGUS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright() -> Iterator[None]:
    # Playwright's sync API keeps an asyncio loop in the test's thread, and Django then refuses ORM calls there
    # (SynchronousOnlyOperation), the test database's set-up included. The test's own ORM calls are plain
    # synchronous code; the server runs in its live_server thread.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


def origin_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


@dataclass
class PageTraffic:
    """What a page did on the network and in its console, for assertions."""

    origin: tuple[str, str]
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, url) of every request made
    blocked: list[str] = field(default_factory=list)  # requests to another origin, aborted
    csp_violations: list[str] = field(default_factory=list)
    script_errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [url for _, url in self.requests if origin_of(url) != self.origin]


@pytest.fixture
def traffic(page: Any, live_server: Any) -> Iterator[PageTraffic]:
    """Confine ``page`` to the live server's origin and record its traffic."""
    log = PageTraffic(origin=origin_of(live_server.url))

    def only_our_origin(route: Any) -> None:
        if origin_of(route.request.url) == log.origin:
            route.continue_()
        else:
            log.blocked.append(route.request.url)
            route.abort("blockedbyclient")

    page.context.route("**/*", only_our_origin)
    page.on("request", lambda request: log.requests.append((request.method, request.url)))
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and log.csp_violations.append(message.text),
    )
    page.on("pageerror", lambda error: log.script_errors.append(str(error)))
    yield log


@pytest.fixture
def login_browser(page: Any, live_server: Any):
    """Give the browser a logged-in Django session of ``user`` (as if they had signed in)."""

    def login(user: Any) -> None:
        client = Client()
        client.force_login(user)
        page.context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
        )

    return login
