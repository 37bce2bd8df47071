import pytest

from installations import services
from registry import services as registry_services
from tests.support.publishing import manifest_for


@pytest.fixture
def reader_plugin(publisher_kit):
    return registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="reader", name="Reader"
    )


@pytest.fixture
def reader_v1(publisher_kit, reader_plugin, world):
    manifest = manifest_for("reader", "1.0.0", capabilities=["evidence:read"])
    return publisher_kit.publish(reader_plugin, "1.0.0", reviewer=world.staff, manifest=manifest)


@pytest.fixture
def installation(world, reader_v1):
    return services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=reader_v1.plugin_id
    )
