"""timestamptz values on PostgreSQL: psycopg's C loader gives what Django's own loader gives."""

from pathlib import Path

import pytest

from tests.support.postgres import run_check_script


@pytest.mark.postgres
def test_the_c_timestamptz_loader_gives_djangos_values(postgres_database, tmp_path):
    result = run_check_script(
        Path(__file__).with_name("timestamps_postgres_check.py"), postgres_database, tmp_path
    )
    assert result["loader"] == "UtcTimestamptzLoader"
    for session in ("utc", "other_zone"):
        loaded = result[session]
        assert loaded["platform"] == loaded["django"]
        assert all(value[1] for value in loaded["platform"] if value is not None)  # datetime.timezone.utc
    assert result["utc"]["platform"][0][0] == "2024-03-01T07:04:56.123456+00:00"
    assert result["utc"]["platform"][-1] is None
