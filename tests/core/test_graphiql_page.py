"""GraphiQL's page is served from the platform's own origin, under a same-origin Content-Security-Policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db

URL_ATTRIBUTE = re.compile(r'\b(?:src|href)="([^"]*)"')
EXTERNAL_URL_IN_CSS = re.compile(r"""@import|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)


def graphiql_page() -> tuple[str, str]:
    response = Client().get("/graphql/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    return response.content.decode(), response["Content-Security-Policy"]


def test_every_asset_of_the_page_is_a_static_file_of_this_origin() -> None:
    html, _ = graphiql_page()
    urls = URL_ATTRIBUTE.findall(html)
    assert len(urls) >= 5  # GraphiQL's CSS and JS, React, ReactDOM, the start-up script
    for url in urls:
        assert url.startswith(settings.STATIC_URL), url
        assert finders.find(url.removeprefix(settings.STATIC_URL)), f"{url} is not installed"
    assert "<script>" not in html and "<style" not in html  # nothing inline for the CSP to allow


def test_the_installed_bundles_load_nothing_from_elsewhere() -> None:
    for name in (
        "graphiql.min.css",
        "graphiql.min.js",
        "react.production.min.js",
        "react-dom.production.min.js",
    ):
        path = Path(settings.GRAPHIQL_ASSETS_DIR) / name
        assert path.is_file(), f"{path} missing: scripts/lib.sh installs it"
    assert not EXTERNAL_URL_IN_CSS.search(
        (Path(settings.GRAPHIQL_ASSETS_DIR) / "graphiql.min.css").read_text()
    )


def test_the_csp_allows_only_this_origin_and_the_pages_nonce() -> None:
    html, policy = graphiql_page()
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    nonce = re.search(r'name="argus-csp-nonce" content="([^"]+)"', html).group(1)
    assert directives["style-src"] == f"'self' 'nonce-{nonce}'"
    assert "http" not in policy


def test_other_pages_get_the_policy_without_a_nonce() -> None:
    response = Client().get("/admin/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "nonce-" not in policy
