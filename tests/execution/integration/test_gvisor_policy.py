"""A tenant whose policy requires gVisor gets its runs in runsc containers; other tenants keep the default."""

from __future__ import annotations

from argus_plugins.tenancy.models import TenantPolicy
from execution.models import ExecutionStatus
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, wait_terminal

pytestmark = SANDBOX_RUN_MARKS

# gVisor's user-space kernel introduces itself as Linux 4.4.0 with a fixed build line; the host's kernel does not.
KERNEL = "print(open('/proc/version').read().strip())"
GVISOR_KERNEL = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016"


def test_a_tenant_policy_can_require_gvisor(deploy, world, settings):
    installation = deploy(KERNEL)
    TenantPolicy.objects.update_or_create(tenant=world.tenant_a, defaults={"require_gvisor": True})
    under_gvisor = wait_terminal(deploy.run(installation))
    TenantPolicy.objects.filter(tenant=world.tenant_a).update(require_gvisor=False)
    by_default = wait_terminal(deploy.run(installation))
    assert under_gvisor.status == by_default.status == ExecutionStatus.SUCCEEDED, under_gvisor.error_reason
    assert under_gvisor.stdout.strip() == GVISOR_KERNEL
    if not settings.ARGUS_SANDBOX_OCI_RUNTIME:  # the suite's second pass runs everything under runsc
        assert by_default.stdout.strip() != GVISOR_KERNEL
