import datetime as dt

import pytest

from argus_plugins.core import clock
from argus_plugins.tenancy import services
from argus_plugins.tenancy.models import ApiToken
from tests.conftest import GraphQLClient

ME = "{ me { username } }"


@pytest.fixture
def user(user_factory):
    return user_factory("tess")


def test_valid_token_authenticates_and_records_last_use(user):
    token, raw = services.create_api_token(actor=user, name="laptop")
    assert token.last_used_at is None
    response = GraphQLClient(raw).execute(ME)
    assert response.status_code == 200
    assert response.data == {"me": {"username": "tess"}}
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_token_is_stored_only_as_its_sha256(user):
    token, raw = services.create_api_token(actor=user, name="laptop")
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in {stored.token_hash, stored.prefix, stored.name}
    assert len(stored.token_hash) == 64
    assert raw.startswith(stored.prefix)


def test_revoked_token_is_refused(user):
    token, raw = services.create_api_token(actor=user, name="laptop")
    services.revoke_api_token(actor=user, token_id=token.pk)
    response = GraphQLClient(raw).execute(ME)
    assert response.status_code == 401
    assert response.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in response.errors[0]["message"]
    assert "data" not in response.body


def test_token_expires_at_its_instant(user):
    expires = clock.now() + dt.timedelta(hours=1)
    _, raw = services.create_api_token(actor=user, name="short", expires_at=expires)
    with clock.frozen(expires - dt.timedelta(microseconds=1)):
        assert GraphQLClient(raw).execute(ME).status_code == 200
    with clock.frozen(expires):
        response = GraphQLClient(raw).execute(ME)
    assert response.status_code == 401
    assert "expired" in response.errors[0]["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Token abc",
        "Basic dXNlcjpwYXNz",
        "bearer not-a-token",
        "Bearer argus_" + "x" * 43,
    ],
)
def test_malformed_or_unknown_token_is_refused(user, header):
    from django.test import Client

    response = Client().post(
        "/graphql/", data={"query": ME}, content_type="application/json", HTTP_AUTHORIZATION=header
    )
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body


def test_anonymous_request_gets_typed_error_and_no_data(db):
    response = GraphQLClient().execute(ME)
    assert response.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.body.get("data") is None


def test_inactive_user_token_is_refused(user):
    _, raw = services.create_api_token(actor=user, name="laptop")
    user.is_active = False
    user.save()
    assert GraphQLClient(raw).execute(ME).status_code == 401


def test_revoking_someone_elses_token_is_not_found(user, user_factory):
    token, raw = services.create_api_token(actor=user, name="laptop")
    other = user_factory("mallory")
    response = GraphQLClient(services.create_api_token(actor=other, name="x")[1]).execute(
        "mutation($id: ID!) { revokeApiToken(id: $id) { apiToken { id } errors { code field } } }",
        {"id": str(token.pk)},
    )
    assert response.payload("revokeApiToken")["errors"] == [{"code": "NOT_FOUND", "field": "id"}]
    token.refresh_from_db()
    assert token.revoked_at is None
    assert GraphQLClient(raw).execute(ME).status_code == 200
