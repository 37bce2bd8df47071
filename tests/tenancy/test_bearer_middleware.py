"""BearerTokenMiddleware: API tokens authenticate the views that accept them, and nothing else."""

from __future__ import annotations

import json

from django.conf import settings
from django.test import Client, RequestFactory

from argus_plugins.core.graphql.view import ArgusGraphQLView

QUERY = json.dumps({"query": "{ me { username } }"})


def test_it_runs_right_after_django_authentication():
    middleware = settings.MIDDLEWARE
    bearer = middleware.index("argus_plugins.tenancy.middleware.BearerTokenMiddleware")
    assert bearer == middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1


def test_a_token_does_not_open_the_admin(world, gql_for):
    admin_token = gql_for(world.staff).token
    response = Client().get("/admin/", HTTP_AUTHORIZATION=f"Bearer {admin_token}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_token_authenticates_the_graphql_view(world, gql_for):
    response = Client().post(
        "/graphql/",
        data=QUERY,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {gql_for(world.admin_a).token}",
    )
    assert response.json() == {"data": {"me": {"username": "alice-admin"}}}


def test_a_bearer_header_nothing_checked_is_refused_not_ignored(world, gql_for):
    # The view called without the middleware (e.g. mounted elsewhere): the header still counts as refused.
    request = RequestFactory().post(
        "/graphql/",
        data=QUERY,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {gql_for(world.admin_a).token}",
    )
    request.user = world.admin_a  # even a session user does not make an unchecked header acceptable
    response = ArgusGraphQLView.as_view()(request)
    assert response.status_code == 401
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
