"""The Celery application. Configuration lives in Django settings under the ``CELERY_`` namespace."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "argus_plugins.settings")

app = Celery("argus_plugins")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


#: Tasks that keep the platform going (finishing lost runs, re-publishing lost messages, firing schedules,
#: dispatching events, delivering webhooks). They go to queues of their own, next to the runs' queue and
#: consumed by every worker, so that a backlog of queued runs never delays them (Redis lists are FIFO).
HOUSEKEEPING_TASKS = {"execution.sweep", "marketplace.billing_cycle", "ledger.link_pending_entries"}
HOUSEKEEPING_PREFIXES = ("triggers.",)
WEBHOOK_TASKS = {"triggers.deliver_webhook"}


def housekeeping_queues(runs_queue: str) -> tuple[str, str]:
    """The queues beside ``runs_queue``: housekeeping, and webhook deliveries (a slow receiver waits up to
    the read timeout, which must not hold up a sweep)."""
    return f"{runs_queue}.housekeeping", f"{runs_queue}.webhooks"


def route_task(name: str, args: object, kwargs: object, options: object, task: object = None, **kw: object):
    """Celery router: housekeeping tasks to their queue beside the default (runs') queue, read at publish
    time so that a process that switches its default queue (the tests) switches all of them."""
    housekeeping, webhooks = housekeeping_queues(app.conf.task_default_queue)
    if name in WEBHOOK_TASKS:
        return {"queue": webhooks}
    if name in HOUSEKEEPING_TASKS or name.startswith(HOUSEKEEPING_PREFIXES):
        return {"queue": housekeeping}
    return None


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(**_kwargs: object) -> None:
    """What Django does around each web request, around each task: drop a connection that is too old
    (CONN_MAX_AGE) or broken, and health-check a kept one before its next use (CONN_HEALTH_CHECKS)."""
    from django.db import close_old_connections

    close_old_connections()
