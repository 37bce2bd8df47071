"""Fixtures shared by the whole suite: users, tenants, tokens and a GraphQL client."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from argus_plugins.tenancy import services as tenancy_services
from argus_plugins.tenancy.models import Membership, Role, Tenant, User
from tests.support.postgres import temporary_database
from tests.support.publishing import make_reviewer

pytest_plugins = ["tests.support.fixtures"]


@dataclass
class GraphQLResponse:
    status_code: int
    body: dict[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        assert "errors" not in self.body, self.body
        return self.body["data"]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return self.body.get("errors", [])

    def payload(self, field: str) -> dict[str, Any]:
        """The payload of mutation ``field``; asserts the request itself had no top-level error."""
        return self.data[field]


class GraphQLClient:
    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.client = Client()

    def headers(self) -> dict[str, str]:
        # The GraphQL-over-HTTP media type: a request error (parse, validation, limits) answers 400.
        headers = {"HTTP_ACCEPT": "application/graphql-response+json"}
        if self.token:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {self.token}"
        return headers

    def execute_multipart(
        self, query: str, variables: dict[str, Any], files: dict[str, bytes]
    ) -> GraphQLResponse:
        """GraphQL multipart request spec: each file replaces ``variables.<name>``."""
        from django.core.files.uploadedfile import SimpleUploadedFile

        variables = {**variables, **{name: None for name in files}}
        data: dict[str, Any] = {
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps({str(i): [f"variables.{name}"] for i, name in enumerate(files)}),
        }
        for index, (name, content) in enumerate(files.items()):
            data[str(index)] = SimpleUploadedFile(f"{name}.tar.gz", content, "application/gzip")
        response = self.client.post("/graphql/", data=data, **self.headers())
        return GraphQLResponse(response.status_code, json.loads(response.content))

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, operation_name: str | None = None
    ) -> GraphQLResponse:
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            body["operationName"] = operation_name
        response = self.client.post(
            "/graphql/", data=json.dumps(body), content_type="application/json", **self.headers()
        )
        return GraphQLResponse(response.status_code, json.loads(response.content))


def make_user(username: str, *, staff: bool = False) -> User:
    user = User.objects.create(username=username, is_staff=staff)
    return user


def token_for(user: User) -> str:
    _, raw = tenancy_services.create_api_token(actor=user, name="test")
    return raw


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    """Every test stores bundles and evidence in its own directory."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def no_rate_limits(settings):
    """Rate limits are tested on their own (tests/core/test_graphql_rate_limits.py); elsewhere a fast test
    must not be refused for being fast."""
    settings.RATELIMIT_ENABLE = False


@pytest.fixture
def user_factory(db: None) -> Callable[..., User]:
    return make_user


@pytest.fixture
def gql_for(db: None) -> Callable[[User | None], GraphQLClient]:
    def build(user: User | None) -> GraphQLClient:
        return GraphQLClient(token_for(user) if user is not None else None)

    return build


@dataclass
class TenantWorld:
    """Two tenants with one member of each role in A, an admin in B, and a staff operator."""

    tenant_a: Tenant
    tenant_b: Tenant
    admin_a: User
    analyst_a: User
    viewer_a: User
    admin_b: User
    staff: User
    outsider: User


@pytest.fixture
def world(db: None) -> TenantWorld:
    from argus_plugins.core.flags import ensure_default_flags
    from installations.catalog import sync_catalog
    from installations.models import Capability

    sync_catalog(Capability)  # transactional tests flush the rows the data migrations loaded
    ensure_default_flags()
    admin_a = make_user("alice-admin")
    tenant_a = tenancy_services.create_tenant(actor=admin_a, name="Agency A")
    analyst_a, viewer_a = make_user("andy-analyst"), make_user("vera-viewer")
    Membership.objects.create(user=analyst_a, tenant=tenant_a, role=Role.ANALYST)
    Membership.objects.create(user=viewer_a, tenant=tenant_a, role=Role.VIEWER)
    admin_b = make_user("bob-admin")
    tenant_b = tenancy_services.create_tenant(actor=admin_b, name="Agency B")
    return TenantWorld(
        tenant_a=tenant_a,
        tenant_b=tenant_b,
        admin_a=admin_a,
        analyst_a=analyst_a,
        viewer_a=viewer_a,
        admin_b=admin_b,
        staff=make_reviewer(make_user("sam-staff", staff=True)),
        outsider=make_user("olga-outsider"),
    )


@pytest.fixture
def publisher_kit(world: TenantWorld):
    """A publisher owned by a dedicated developer account, with a registered RSA-4096 key."""
    from tests.support.publishing import make_publisher_kit

    return make_publisher_kit(make_user("dana-developer"))


@pytest.fixture
def published_version(world: TenantWorld, publisher_kit):
    """A plugin with one approved, published version (trivial echo plugin)."""
    from registry import services as registry_services

    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="echo", name="Echo"
    )
    return publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on the test server, dropped afterwards.

    Skipped where ARGUS_TEST_POSTGRES_URL is not set, except in CI, where that is a failure.
    """
    server_url = os.environ.get("ARGUS_TEST_POSTGRES_URL")
    if not server_url:
        message = (
            "ARGUS_TEST_POSTGRES_URL is not set (scripts/test.sh sets it): the PostgreSQL test cannot run"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with temporary_database(server_url, "argus_test") as url:
        yield url
