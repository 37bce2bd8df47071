"""The PostgreSQL-only paths (full-text search, percentile_cont) against a real server."""

from pathlib import Path

import pytest

from tests.support.postgres import run_check_script

from .test_analytics import percentile


@pytest.mark.postgres
def test_full_text_search_and_percentile_cont_on_postgresql(postgres_database, tmp_path):
    result = run_check_script(Path(__file__).with_name("postgres_check.py"), postgres_database, tmp_path)
    assert result["p50"] == pytest.approx(percentile(result["durations"], 0.5))
    assert result["p95"] == pytest.approx(percentile(result["durations"], 0.95))
    assert result["by_day_p95"] == [pytest.approx(result["p95"])]
    assert result["search_first"] == "plugin-00000" and result["search_ranked"] is True
    assert result["tagline_hits"] == 60 and result["nothing"] == 0
