"""Fair scheduling with a real worker: one tenant's flood does not queue ahead of another tenant's run."""

from __future__ import annotations

import contextlib

import pytest
from django.conf import settings

from argus_plugins.core.errors import DomainError
from execution import services as execution_services
from execution.models import Execution, ExecutionStatus
from installations import services as installation_services
from tests.execution.integration.conftest import wait_for, wait_terminal

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.docker,
    pytest.mark.redis,
    pytest.mark.worker,
]

FLOOD = 20


def test_a_tenants_run_starts_after_at_most_the_runs_in_flight_of_a_flooding_tenant(deploy, world):
    installation_a = deploy("import time\ntime.sleep(0.2)\nprint('done')")
    installation_b = installation_services.install_plugin(
        actor=world.admin_b, tenant_id=world.tenant_b.pk, plugin_id=installation_a.plugin_id
    )
    flood = [
        execution_services.run_plugin(actor=world.admin_b, installation_id=installation_b.pk, input={})
        for _ in range(FLOOD)
    ]
    wait_for(
        lambda: Execution.objects.filter(pk=flood[0].pk).exclude(status=ExecutionStatus.QUEUED).exists(),
        what="the flood to start",
    )
    run_a = wait_terminal(deploy.run(installation_a))
    try:
        assert run_a.status == ExecutionStatus.SUCCEEDED
        started_before_a = Execution.objects.filter(
            tenant=world.tenant_b, started_at__lt=run_a.started_at
        ).count()
        # Only the runs already released when A arrived (every slot) went first; FIFO would put all 20.
        assert started_before_a <= settings.ARGUS_DISPATCH_SLOTS < FLOOD
        # The rest of the flood still waited in the database, not in the broker.
        assert Execution.objects.filter(tenant=world.tenant_b, started_at__isnull=True).exists()
    finally:
        for run in flood:
            run.refresh_from_db()
            if not run.is_terminal:
                with contextlib.suppress(DomainError):  # finished meanwhile
                    execution_services.request_cancel(run, "test over")
        for run in flood:
            wait_terminal(run)
