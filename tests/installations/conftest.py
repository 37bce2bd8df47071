import pytest


@pytest.fixture
def installed_version(reader_v1):
    """These tests install the reader plugin, which requests evidence:read."""
    return reader_v1
