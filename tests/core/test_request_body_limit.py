"""RequestBodyLimitMiddleware: oversized bodies are refused from their Content-Length, unread.

Django's test client hands the view a stream of exactly the bytes given (reading past them fails), so
announcing 600 MB while sending a few bytes shows whether anything tried to read the body.
"""

import json

import pytest

from tests.conftest import token_for

MULTIPART = "multipart/form-data; boundary=argus"
SLICE = b"--argus\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--argus--\r\n"


def _post(client, length: int, **extra):
    return client.generic("POST", "/graphql/", SLICE, content_type=MULTIPART, CONTENT_LENGTH=str(length), **extra)


def _code(response) -> str:
    return json.loads(response.content)["errors"][0]["extensions"]["code"]


def test_an_anonymous_600_mb_multipart_is_refused_before_reading(client, db):
    response = _post(client, 600 * 1024 * 1024)
    assert response.status_code == 413
    assert _code(response) == "REQUEST_TOO_LARGE"
    assert "without credentials" in json.loads(response.content)["errors"][0]["message"]


def test_the_anonymous_limit_is_small(client, db, settings):
    settings.ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES = 1000
    assert _post(client, 1001).status_code == 413
    # At the limit the body is read and the request reaches GraphQL (here: an empty operations object).
    at_limit = client.post(
        "/graphql/", json.dumps({"query": "{ __typename }", "pad": "x" * 900}), content_type="application/json"
    )
    assert at_limit.status_code == 200


@pytest.mark.parametrize("credential", ["bearer", "session"])
def test_credentials_get_the_upload_limit_which_applies_before_authentication(client, db, credential):
    headers = {}
    if credential == "bearer":
        headers["HTTP_AUTHORIZATION"] = "Bearer argus_not-a-real-token"
    else:
        client.cookies["sessionid"] = "not-a-real-session"
    from django.conf import settings

    over = _post(client, settings.ARGUS_WEB_MAX_BODY_BYTES + 1, **headers)
    assert over.status_code == 413
    assert "without credentials" not in json.loads(over.content)["errors"][0]["message"]


def test_an_authenticated_upload_within_the_limit_is_read(client, db, user_factory, settings):
    settings.ARGUS_WEB_ANONYMOUS_MAX_BODY_BYTES = 10
    token = token_for(user_factory("uploader"))
    response = client.post(
        "/graphql/",
        json.dumps({"query": "{ __typename }"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert json.loads(response.content)["data"] == {"__typename": "Query"}
