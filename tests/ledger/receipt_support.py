"""A finished execution of tenant A with two evidence items, recorded through the real services."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from argus_plugins.core import clock
from execution import services as execution_services
from execution.lifecycle import transition
from execution.models import Execution, ExecutionStatus
from execution.recording import finish
from installations import services as installation_services


def finished_execution(world, installation) -> Execution:
    installation_services.grant_capability(
        actor=world.admin_a, installation_id=installation.pk, capability="evidence:read"
    )
    evidence = [
        execution_services.upload_evidence(
            actor=world.analyst_a,
            tenant_id=world.tenant_a.pk,
            upload=SimpleUploadedFile(name, content),
        )
        for name, content in (("seized-disk.img", b"disk image bytes"), ("notes.txt", b"suspect notes"))
    ]
    # One transaction: the run is queued and finished before its dispatch is published (on commit), so in a
    # transactional test no worker can claim it in between; a late claim finds it finished and does nothing.
    with transaction.atomic():
        execution = execution_services.run_plugin(
            actor=world.analyst_a,
            installation_id=installation.pk,
            input={"mode": "quick"},
            evidence_ids=[str(item.pk) for item in evidence],
        )
        started = transition(
            execution, ExecutionStatus.RUNNING, expected=ExecutionStatus.QUEUED, started_at=clock.now()
        )
        assert started
        assert finish(execution, ExecutionStatus.SUCCEEDED, expected=ExecutionStatus.RUNNING, exit_code=0)
    return Execution.objects.get(pk=execution.pk)
