from execution.models import Execution, ExecutionStatus, Trigger
from execution.services import start_execution
from installations import services as installation_services
from registry import services as registry_services
from tests.support.publishing import manifest_for


def test_a_refused_triggered_run_is_recorded_rejected_with_its_ledger_entry(world, publisher_kit):
    plugin = registry_services.create_plugin(
        actor=publisher_kit.owner, publisher_id=publisher_kit.publisher.pk, slug="nightly", name="Nightly"
    )
    manifest = manifest_for("nightly", "1.0.0", capabilities=["artifacts:write"])
    publisher_kit.publish(plugin, "1.0.0", reviewer=world.staff, manifest=manifest)
    installation = installation_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=plugin.pk
    )
    execution = start_execution(
        installation=installation, input={}, evidence_ids=[], trigger=Trigger.SCHEDULED, triggered_by=None,
        record_refusal=True,
    )
    execution = Execution.objects.get(pk=execution.pk)
    assert execution.status == ExecutionStatus.REJECTED
    assert "artifacts:write" in execution.error_reason
    assert execution.ledger_entry.record["status"] == "REJECTED"
    assert execution.ledger_entry.record["trigger"] == "SCHEDULED"
