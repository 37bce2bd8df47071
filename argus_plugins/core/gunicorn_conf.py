"""gunicorn's settings for the platform's web processes: every start passes
``--config python:argus_plugins.core.gunicorn_conf`` (run_platform, the Dockerfile, the benches, the tests'
live servers); the command line adds the bind address and the number of worker processes.

The ``gthread`` worker class: each worker process serves up to ``ARGUS_WEB_THREADS`` requests at once, one
thread each. nginx still buffers every request and response (a slow client never holds a thread), so the
threads serve what gunicorn's sync workers served, plus ``waitForExecution``: a request held until its run
ends costs a thread, not a process; ``ARGUS_WEB_WAIT_SLOTS`` of them at most (execution/waiting.py).

Each worker freezes its start-up heap once it has loaded the application (``post_worker_init``,
argus_plugins.core.heap): the cyclic GC's full collections then skip the ~180 000 objects it imported.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "argus_plugins.settings")

from django.conf import settings

from argus_plugins.core.heap import freeze_startup_heap

worker_class = "gthread"
threads = settings.ARGUS_WEB_THREADS


def post_worker_init(worker: object) -> None:
    """gunicorn's hook, in each worker once it has loaded the application: its start-up heap out of the
    cyclic GC's full collections (argus_plugins.core.heap)."""
    freeze_startup_heap()
