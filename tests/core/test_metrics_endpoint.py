"""``/metrics``: off without a token, refused without the right one, Prometheus text with it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db

TOKEN = "a-long-random-metrics-token"


def test_metrics_are_off_until_a_token_is_configured(settings):
    settings.ARGUS_METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Token {TOKEN}", TOKEN, f"Bearer {TOKEN}x"]
)
def test_a_scrape_without_the_token_is_refused(settings, authorization):
    settings.ARGUS_METRICS_TOKEN = TOKEN
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}
    response = Client().get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"argus_" not in response.content and b"django_" not in response.content


def test_the_token_gets_prometheus_text_with_the_web_tiers_request_metrics(settings):
    settings.ARGUS_METRICS_TOKEN = TOKEN
    client = Client()
    client.get("/healthz")
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    requests = families["django_http_requests_total_by_view_transport_method"]
    assert any(sample.labels["view"] == "healthz" and sample.value >= 1 for sample in requests.samples)
    assert "django_http_requests_latency_seconds_by_view_method" in families
    assert "argus_runs_queued" in families and "argus_runs_running" in families


def test_metrics_answer_get_only(settings):
    settings.ARGUS_METRICS_TOKEN = TOKEN
    assert Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_metrics_of_every_service_directory_are_added_up(settings, tmp_path):
    """Processes of each service (separate containers) write into their own subdirectory of a shared volume."""
    count_two = "from prometheus_client import Counter; Counter('argus_test_things', 'Things.', ['kind']).labels('a').inc(2)"
    for service in ("web", "worker", "beat"):
        (tmp_path / service).mkdir()
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / service)}
        subprocess.run([sys.executable, "-c", count_two], env=env, check=True)
    settings.ARGUS_METRICS_DIR = tmp_path
    settings.ARGUS_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    families = {family.name: family for family in text_string_to_metric_families(response.content.decode())}
    (sample,) = families["argus_test_things"].samples
    assert sample.labels == {"kind": "a"} and sample.value == 6
