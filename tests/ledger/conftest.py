import pytest

from ledger.notes import generate_private_key_pem, load_private_key, public_key_pem

LOG_ORIGIN = "argus.test/ledger"


@pytest.fixture
def installed_version(reader_v1):
    """``installation`` is of the reader plugin (it requests evidence:read), to exercise the grant hooks
    through the real installation services."""
    return reader_v1


@pytest.fixture(scope="session")
def log_key_pem() -> str:
    return generate_private_key_pem().decode("ascii")


@pytest.fixture
def log_key(settings, log_key_pem, tmp_path):
    """The log key configured from the environment (as PEM text); returns its public key PEM, also written
    to ``log-key.pem`` in tmp_path for the standalone verifier."""
    settings.ARGUS_LEDGER_LOG_KEY = log_key_pem
    settings.ARGUS_LEDGER_ORIGIN = LOG_ORIGIN
    settings.ARGUS_LEDGER_LOG_KEY_NAME = ""
    public = public_key_pem(load_private_key(log_key_pem).public_key())
    (tmp_path / "log-key.pem").write_text(public, encoding="ascii")
    return public
