"""Fair scheduling with a real worker: one tenant's flood does not queue ahead of another tenant's run."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.db.models import Q

from argus_plugins.core.errors import DomainError
from execution import services as execution_services
from execution.models import Execution, ExecutionStatus
from installations import services as installation_services
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, wait_terminal

pytestmark = SANDBOX_RUN_MARKS

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
    run_a = wait_terminal(deploy.run(installation_a))
    try:
        assert run_a.status == ExecutionStatus.SUCCEEDED
        came, released = run_a.queued_at, run_a.released_at
        flood_runs = Execution.objects.filter(tenant=world.tenant_b)
        unfinished_when_a_came = flood_runs.exclude(finished_at__lt=came)
        assert unfinished_when_a_came.count() > settings.ARGUS_DISPATCH_SLOTS + 1, "the flood was over"
        # Ahead of A: only B's runs released (in flight) when it came, at most one per slot. In one FIFO
        # queue every unfinished B run would have been.
        ahead_of_a = unfinished_when_a_came.filter(released_at__lt=came)
        assert ahead_of_a.count() <= settings.ARGUS_DISPATCH_SLOTS
        # No B run was released between A's arrival and its release: A took the first free slot.
        assert not flood_runs.filter(released_at__gte=came, released_at__lt=released).exists()
        # Seen from outside: A did not wait for the flood (FIFO: every unfinished B run done first). A run
        # released just after A may run beside it on the worker's other process, hence the + 1.
        done_before_a_started = unfinished_when_a_came.filter(finished_at__lt=run_a.started_at)
        assert done_before_a_started.count() <= settings.ARGUS_DISPATCH_SLOTS + 1
        # The rest of the flood was still waiting in the database when A's run had finished.
        assert flood_runs.filter(Q(released_at__isnull=True) | Q(released_at__gt=run_a.finished_at)).exists()
    finally:
        for run in flood:
            run.refresh_from_db()
            if not run.is_terminal:
                with contextlib.suppress(DomainError):  # finished meanwhile
                    execution_services.request_cancel(run, "test over")
        for run in flood:
            wait_terminal(run)
