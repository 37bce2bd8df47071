"""Webhooks against a real local receiver: Standard Webhooks signatures, retries driven by the clock,
SSRF refusals (addresses, redirects), endpoint disabling and redelivery."""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook

from argus_plugins.core import clock
from tests.triggers.receiver import running_receiver
from triggers import dispatch, ssrf, sweeper, webhook_delivery, webhooks
from triggers.events import store_event
from triggers.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint

CREATE = """
mutation($tenantId: ID!, $url: String!, $types: [String!]!) {
  createWebhookEndpoint(tenantId: $tenantId, url: $url, eventTypes: $types) {
    endpoint { id url enabled eventTypes }
    secret
    errors { code field message }
  }
}
"""
ENDPOINT = "query($id: ID!) { webhookEndpoint(id: $id) { enabled disabledReason } }"
DELIVERIES = """
query($tenantId: ID!) {
  webhookDeliveries(tenantId: $tenantId) {
    totalCount
    edges { node { id status attempts messageId attemptLog { number manual statusCode latencyMs error
      responseExcerpt succeeded nextAttemptAt attemptedAt } } }
  }
}
"""
REDELIVER = """
mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { delivery { status } errors { code message } } }
"""


def create_endpoint(world, url, types=("custom.found",)):
    return webhooks.create_endpoint(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, url=url, event_types=list(types)
    )


def emit(world, key="e1", event_type="custom.found", payload=None):
    event = store_event(
        tenant_id=world.tenant_a.pk, type=event_type, payload=payload or {"ip": "10.0.0.1"}, dedupe_key=key
    )
    dispatch.dispatch(event.pk)
    return event


def test_signed_delivery_verifies_with_standard_webhooks(world, gql_for, receiver):
    created = gql_for(world.admin_a).execute(
        CREATE, {"tenantId": str(world.tenant_a.pk), "url": receiver.url, "types": ["custom.*"]}
    )
    payload = created.payload("createWebhookEndpoint")
    assert payload["errors"] == [] and payload["secret"].startswith("whsec_")
    event = emit(world)
    assert store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={}, dedupe_key="e1") is None
    dispatch.dispatch(event.pk)  # a re-dispatch: still one delivery
    delivery = WebhookDelivery.objects.get()
    attempt = webhook_delivery.attempt(delivery.pk)
    assert attempt.succeeded and attempt.status_code == 200 and attempt.address == "127.0.0.1"
    assert attempt.response_excerpt == "ok" and attempt.latency_ms is not None

    (request,) = receiver.requests
    assert request.path == "/hooks/argus?x=1" and request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    body = Webhook(payload["secret"]).verify(request.body, request.headers)
    assert body["type"] == "custom.found" and body["data"] == {"ip": "10.0.0.1"}
    assert request.headers["webhook-id"] == f"msg_{event.pk.hex}"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook("whsec_" + "A" * 44).verify(request.body, request.headers)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.SUCCEEDED and delivery.attempts == 1
    assert webhook_delivery.attempt(delivery.pk) is None  # nothing more to do
    # The secret is never readable again through the API.
    endpoint = gql_for(world.admin_a).execute(
        "query($id: ID!) { webhookEndpoint(id: $id) { url } }", {"id": payload["endpoint"]["id"]}
    )
    assert "secret" not in json.dumps(endpoint.body).lower()


def test_failing_receiver_sees_growing_retries_then_the_endpoint_is_disabled(
    world, gql_for, receiver, settings
):
    schedule = settings.ARGUS_WEBHOOK_RETRY_SCHEDULE_SECONDS
    assert schedule == [5, 300, 1800, 7200, 18000, 36000, 50400]
    receiver.answer(500, b"database down")
    endpoint, _secret = create_endpoint(world, receiver.url)
    emit(world)
    delivery = WebhookDelivery.objects.get()
    now = delivery.next_attempt_at
    for _ in range(len(schedule) + 1):
        with clock.frozen(now):
            assert webhook_delivery.attempt(delivery.pk) is not None
        delivery.refresh_from_db()
        if delivery.next_attempt_at is None:
            break
        with clock.frozen(delivery.next_attempt_at - dt.timedelta(seconds=1)):
            assert webhook_delivery.attempt(delivery.pk) is None  # not due yet
        now = delivery.next_attempt_at
    assert len(receiver.requests) == 8
    log = list(delivery.attempt_log.order_by("number"))
    assert [a.number for a in log] == list(range(1, 9)) and not any(a.succeeded for a in log)
    assert all(
        a.status_code == 500 and a.error == "HTTP 500." and a.response_excerpt == "database down" for a in log
    )
    delays = [(b.attempted_at - a.attempted_at).total_seconds() for a, b in itertools.pairwise(log)]
    assert all(0.9 * base <= delay <= 1.1 * base for delay, base in zip(delays, schedule, strict=True))
    assert delays == sorted(delays) and len(set(delays)) == len(delays)
    assert 26 * 3600 < sum(delays) < 35 * 3600  # about a day
    assert log[-1].next_attempt_at is None
    assert delivery.status == WebhookDeliveryStatus.FAILED and delivery.completed_at is not None

    endpoint.refresh_from_db()
    assert endpoint.enabled is False and endpoint.disabled_at is not None
    data = gql_for(world.viewer_a).execute(ENDPOINT, {"id": str(endpoint.pk)}).data["webhookEndpoint"]
    assert data["enabled"] is False and "failed 8 times" in data["disabledReason"]
    # Nothing more is sent to a disabled endpoint; new events get no delivery.
    emit(world, key="e2")
    assert WebhookDelivery.objects.count() == 1
    listed = gql_for(world.analyst_a).execute(DELIVERIES, {"tenantId": str(world.tenant_a.pk)}).data
    node = listed["webhookDeliveries"]["edges"][0]["node"]
    assert node["status"] == "FAILED" and [a["statusCode"] for a in node["attemptLog"]] == [500] * 8


def test_redeliver_webhook(world, gql_for, receiver):
    receiver.answer(500)
    create_endpoint(world, receiver.url)
    event = emit(world)
    delivery = WebhookDelivery.objects.get()
    webhook_delivery.attempt(delivery.pk)  # fails, a retry is due in about 5 s
    receiver.answer(200, b"thanks")

    refused = (
        gql_for(world.analyst_a).execute(REDELIVER, {"id": str(delivery.pk)}).payload("redeliverWebhook")
    )
    assert refused["errors"][0]["code"] == "PERMISSION_DENIED"
    foreign = gql_for(world.admin_b).execute(REDELIVER, {"id": str(delivery.pk)}).payload("redeliverWebhook")
    assert foreign["errors"][0]["code"] == "NOT_FOUND"
    done = gql_for(world.admin_a).execute(REDELIVER, {"id": str(delivery.pk)}).payload("redeliverWebhook")
    assert done == {"delivery": {"status": "PENDING"}, "errors": []}
    attempt = webhook_delivery.attempt(delivery.pk)
    assert attempt.succeeded and attempt.manual and attempt.number == 2

    # A finished delivery can be sent again too: one more attempt, no automatic retries.
    receiver.answer(503)
    again = gql_for(world.admin_a).execute(REDELIVER, {"id": str(delivery.pk)}).payload("redeliverWebhook")
    assert again["errors"] == []
    attempt = webhook_delivery.attempt(delivery.pk)
    assert not attempt.succeeded and attempt.manual and attempt.next_attempt_at is None
    delivery.refresh_from_db()
    assert delivery.status == WebhookDeliveryStatus.FAILED
    assert WebhookEndpoint.objects.get().enabled  # a failed manual redelivery does not disable the endpoint
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"msg_{event.pk.hex}"}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://127.0.0.1:{port}/", "a loopback address"),
        ("http://localhost:{port}/", "loopback"),
        ("http://2130706433:{port}/", "a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/", "a loopback address"),
        ("http://10.1.2.3/", "a private address"),
        ("http://0.0.0.0:{port}/", "unspecified"),
    ],
)
def test_forbidden_addresses_are_refused_and_nothing_is_written(world, gql_for, url, why, settings):
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = []
    with running_receiver() as server:
        result = gql_for(world.admin_a).execute(
            CREATE,
            {"tenantId": str(world.tenant_a.pk), "url": url.format(port=server.port), "types": ["custom.x"]},
        )
        error = result.payload("createWebhookEndpoint")["errors"][0]
        assert (error["code"], error["field"]) == ("URL_FORBIDDEN", "url") and why in error["message"]
        assert not WebhookEndpoint.objects.exists() and server.requests == []


def test_address_policy():
    public = ["8.8.8.8", "2606:4700:4700::1111"]
    refused = [
        "127.0.0.1",
        "::1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "fd00:ec2::254",
        "fe80::1",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "::",
        "100.64.0.1",
        "240.0.0.1",
        "::ffff:10.0.0.1",
    ]
    assert [ssrf.forbidden_reason(ipaddress.ip_address(a)) for a in public] == [None, None]
    assert all(ssrf.forbidden_reason(ipaddress.ip_address(a)) for a in refused)


def test_destinations_are_checked_again_before_every_attempt(world, receiver, settings):
    create_endpoint(world, receiver.url)
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = []  # the operator withdrew the allow-list entry
    emit(world)
    attempt = webhook_delivery.attempt(WebhookDelivery.objects.get().pk)
    assert not attempt.succeeded and attempt.status_code is None and attempt.address == ""
    assert attempt.error.startswith("Not sent: '127.0.0.1' resolves to 127.0.0.1, a loopback address")
    assert receiver.requests == []


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/"])
def test_redirects_are_never_followed(world, receiver, target):
    with running_receiver() as elsewhere:
        location = target.format(port=elsewhere.port)
        receiver.answer(302, b"", Location=location)
        create_endpoint(world, receiver.url)
        emit(world)
        attempt = webhook_delivery.attempt(WebhookDelivery.objects.get().pk)
        assert not attempt.succeeded and attempt.status_code == 302
        assert attempt.error == f"HTTP 302: redirects are not followed (Location: {location})."
        assert attempt.next_attempt_at is not None  # a failed attempt, retried like any other
        assert len(receiver.requests) == 1 and elsewhere.requests == []


def test_response_size_is_capped(receiver, settings):
    settings.ARGUS_WEBHOOK_RESPONSE_MAX_BYTES = 1024
    receiver.answer(200, b"x" * 2_000_000)
    response = ssrf.post(ssrf.resolve(receiver.url), body=b"{}", headers={})
    assert response.status_code == 200 and len(response.body) == 1024


def test_invalid_urls_are_typed_errors(world, gql_for, settings):
    for url, code in [
        ("ftp://example.org/x", "INVALID_URL"),
        ("file:///etc/passwd", "INVALID_URL"),
        ("http://user:pw@example.org/", "INVALID_URL"),
        ("not a url", "INVALID_URL"),
        ("http:///nohost", "INVALID_URL"),
    ]:
        result = gql_for(world.admin_a).execute(
            CREATE, {"tenantId": str(world.tenant_a.pk), "url": url, "types": ["custom.x"]}
        )
        error = result.payload("createWebhookEndpoint")["errors"][0]
        assert (error["code"], error["field"]) == (code, "url"), url
    assert not WebhookEndpoint.objects.exists()


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_https_connects_to_the_checked_address_with_sni_and_certificate_of_the_name(
    world, settings, tmp_path
):
    cert_path, key_path = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    settings.ARGUS_WEBHOOK_CA_BUNDLE = str(cert_path)
    with running_receiver(tls=context) as server:
        url = f"https://localhost:{server.port}/hook"
        target = ssrf.resolve(url)
        assert ipaddress.ip_address("127.0.0.1") in target.addresses
        response = ssrf.post(target, body=b"{}", headers={})
        assert response.status_code == 200 and response.address == "127.0.0.1"
        assert server.requests[0].headers["Host"] == f"localhost:{server.port}"
        # The certificate names "localhost": the same server reached as 127.0.0.1 fails verification.
        settings.ARGUS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
        with pytest.raises(Exception, match=r"certificate|hostname"):
            ssrf.post(ssrf.resolve(f"https://127.0.0.1:{server.port}/hook"), body=b"{}", headers={})


def test_rotated_secret_signs_with_both_during_the_grace_period(world, receiver):
    endpoint, old_secret = create_endpoint(world, receiver.url)
    _endpoint, new_secret = webhooks.rotate_secret(actor=world.admin_a, endpoint_id=endpoint.pk)
    emit(world)
    assert webhook_delivery.attempt(WebhookDelivery.objects.get().pk).succeeded
    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(request.body, request.headers)


def test_sweep_publishes_due_attempts(world, receiver, monkeypatch):
    from argus_plugins.core import publishing

    published = []
    monkeypatch.setattr(publishing, "publish", lambda task_name, object_id: published.append(object_id))
    receiver.answer(500)
    create_endpoint(world, receiver.url)
    emit(world)
    delivery = WebhookDelivery.objects.get()
    webhook_delivery.attempt(delivery.pk)
    delivery.refresh_from_db()
    with clock.frozen(delivery.next_attempt_at - dt.timedelta(seconds=1)):
        assert sweeper.sweep()["webhook_attempts"] == 0
    with clock.frozen(delivery.next_attempt_at):
        assert sweeper.sweep()["webhook_attempts"] == 1
        assert sweeper.sweep()["webhook_attempts"] == 0  # already published, not yet stale
    assert published == [str(delivery.pk)]
