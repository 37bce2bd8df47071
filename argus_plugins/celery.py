"""The Celery application. Configuration lives in Django settings under the ``CELERY_`` namespace."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "argus_plugins.settings")

app = Celery("argus_plugins")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(**_kwargs: object) -> None:
    """What Django does around each web request, around each task: drop a connection that is too old
    (CONN_MAX_AGE) or broken, and health-check a kept one before its next use (CONN_HEALTH_CHECKS)."""
    from django.db import close_old_connections

    close_old_connections()
