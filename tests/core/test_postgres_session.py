"""The PostgreSQL session the platform's connections open (settings.DATABASES' options)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.postgres import run_check_script

CHECK = Path(__file__).with_name("session_postgres_check.py")


@pytest.mark.postgres
def test_connections_plan_for_solid_state_storage(postgres_database, tmp_path):
    assert run_check_script(CHECK, postgres_database, tmp_path)["random_page_cost"] == "1.1"


@pytest.mark.postgres
def test_zero_keeps_the_servers_random_page_cost(postgres_database, tmp_path, monkeypatch):
    monkeypatch.setenv("ARGUS_DB_RANDOM_PAGE_COST", "0")
    assert run_check_script(CHECK, postgres_database, tmp_path)["random_page_cost"] == "4"  # PostgreSQL's
