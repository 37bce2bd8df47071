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
    # Catalogue on PostgreSQL: the category filter (jsonb @>, case-insensitive label), the sorts, delisting.
    assert sorted(result["category_page"]) == result["category_expected"]
    assert result["category_total"] == len(result["category_expected"]) > 0
    assert result["rating_order_matches"] is True and result["newest_order_matches"] is True
    assert result["delisted_slug"] not in result["after_delisting"]
    assert result["total_after_delisting"] == len(result["after_delisting"]) == 59
    # The query count does not depend on the page size (filters and search included).
    assert result["narrowed_page_matches"] is True
    assert result["any_of_matches"] is True and result["any_of_array"] is True
    queries = result["page_queries"]
    assert queries["category 5"] == queries["category 50"] and queries["search 5"] == queries["search 50"]
