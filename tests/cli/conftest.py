import pytest


@pytest.fixture(autouse=True)
def isolated_cli_config(tmp_path, monkeypatch):
    """The CLI never reads the developer's own login: each test has its own (empty) config file."""
    path = tmp_path / "argus-plugin-config.json"
    monkeypatch.setenv("ARGUS_PLUGIN_CONFIG", str(path))
    monkeypatch.delenv("ARGUS_URL", raising=False)
    monkeypatch.delenv("ARGUS_TOKEN", raising=False)
    return path
