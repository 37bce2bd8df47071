"""Celery tasks of the registry. Bodies call plain functions in ``registry.dependencies``."""

from __future__ import annotations

from celery import shared_task

from . import dependencies


@shared_task(
    name=dependencies.FREEZE_TASK, acks_late=True, ignore_result=True, soft_time_limit=900, time_limit=960
)
def freeze_dependencies(layer_id: str) -> None:
    dependencies.freeze(layer_id)


@shared_task(name="registry.sweep_dependency_layers", acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_dependency_layers() -> int:
    return dependencies.sweep_stale_layers()
