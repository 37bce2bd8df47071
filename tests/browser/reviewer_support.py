"""Browser fixtures of the reviewer flow: Debian's Chromium driven by Playwright (never a downloaded build)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"  # installed by scripts/lib.sh (APT_PACKAGES)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(name="chromium_page")
def chromium_page_fixture(monkeypatch) -> Iterator[object]:
    """A fresh page in headless Chromium. Playwright's sync API runs an event loop in this thread, so
    Django's guard against ORM calls from async code is lifted for the test (the ORM is used synchronously)."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.set_default_timeout(30_000)
            yield context.new_page()
            context.close()
        finally:
            browser.close()
