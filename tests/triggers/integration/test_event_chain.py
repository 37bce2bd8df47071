"""An event chain A → B → C for real: Redis, the Celery worker, Docker sandboxes, the ledger.

A (run by an analyst) emits custom.a; B subscribes to custom.a and emits custom.b; C subscribes to
custom.b. Every hop is the worker finishing a run, the after-commit hook storing its events, a dispatch
task matching subscriptions and starting the next run.
"""

from __future__ import annotations

from execution.models import Execution, ExecutionStatus, Trigger
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, wait_for, wait_terminal
from triggers import subscriptions
from triggers.models import DeliveryOutcome, Event, EventDelivery

pytestmark = SANDBOX_RUN_MARKS

EMIT_A = """
import json
json.dump({"events": [{"type": "custom.a", "payload": {"n": 1, "note": "from A"}}]},
          open("/argus/output/output.json", "w"))
"""
EMIT_B = """
import json, sys
data = json.load(sys.stdin)
json.dump({"seen": data, "events": [{"type": "custom.b", "payload": {"n": data["n"] + 1}},
                                    {"type": "custom.undeclared", "payload": {}}]},
          open("/argus/output/output.json", "w"))
"""
RECORD_C = """
import json, sys
json.dump({"got": json.load(sys.stdin)}, open("/argus/output/output.json", "w"))
"""


def test_event_chain_a_b_c_runs_through_the_worker(deploy, world):
    a = deploy(EMIT_A, capabilities=["events:emit"], emits=["custom.a"])
    b = deploy(EMIT_B, capabilities=["events:emit"], events=["custom.a"], emits=["custom.b"])
    c = deploy(RECORD_C, events=["custom.b"])
    to_b = subscriptions.create_subscription(
        actor=world.admin_a,
        installation_id=b.pk,
        event_type="custom.a",
        filter="n == `1`",
        input_template={"n": "$.n"},
    )
    to_c = subscriptions.create_subscription(
        actor=world.admin_a, installation_id=c.pk, event_type="custom.b", input_template="{value: n}"
    )

    first = wait_terminal(deploy.run(a))
    assert first.status == ExecutionStatus.SUCCEEDED, first.error_reason

    wait_for(
        lambda: EventDelivery.objects.filter(subscription=to_c).exists(), timeout=60, what="C's delivery"
    )
    c_delivery = EventDelivery.objects.select_related("execution", "event").get(subscription=to_c)
    c_run = wait_terminal(c_delivery.execution)
    assert c_run.status == ExecutionStatus.SUCCEEDED, c_run.error_reason
    assert c_run.trigger == Trigger.EVENT and c_run.output == {"got": {"value": 2}}
    assert c_run.ledger_entry.record["trigger"] == "EVENT"

    b_delivery = EventDelivery.objects.select_related("execution", "event").get(subscription=to_b)
    b_run = Execution.objects.get(pk=b_delivery.execution_id)
    assert b_delivery.outcome == DeliveryOutcome.STARTED and b_run.input == {"n": 1}
    assert (b_delivery.event.type, b_delivery.event.chain_depth) == ("custom.a", 0)
    assert b_delivery.event.source_execution_id == first.pk
    assert (c_delivery.event.type, c_delivery.event.chain_depth) == ("custom.b", 1)
    # B's undeclared event was refused and noted on B's execution.
    assert any("custom.undeclared" in warning and "does not declare" in warning for warning in b_run.warnings)
    assert not Event.objects.filter(type="custom.undeclared").exists()
    # C's own execution.succeeded is two hops deep; wait until every event is dispatched before leaving.
    wait_for(
        lambda: Event.objects.filter(type="execution.succeeded", source_execution=c_run).exists(),
        timeout=30,
        what="C's execution.succeeded event",
    )
    assert Event.objects.get(type="execution.succeeded", source_execution=c_run).chain_depth == 2
    wait_for(
        lambda: not Event.objects.filter(dispatched_at__isnull=True).exists(), timeout=30, what="dispatches"
    )
    assert EventDelivery.objects.count() == 2  # exactly one run per subscription
