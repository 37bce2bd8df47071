# The installation fixtures (a tenant-A installation of a plugin requesting evidence:read) are reused to
# exercise the grant hooks through the real installation services.
from tests.installations.conftest import installation, reader_plugin, reader_v1  # noqa: F401
