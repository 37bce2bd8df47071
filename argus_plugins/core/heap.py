"""A web worker's start-up heap, kept out of the cyclic garbage collector's full collections.

A web worker imports the whole platform — Django, every app, graphene's schema — and keeps all of it until it
exits: about 180 000 objects the cyclic GC tracks. CPython's full (generation 2) collection traverses every
tracked object, and a request's garbage triggers one whenever enough objects have survived into the oldest
generation since the last: on the marketplace bench's machine each took 120 to 180 ms, once every ten or so
pages of 100 listings (≈ 14 ms a page on average; README, "Marketplace").
``gc.freeze()`` moves every object alive at that moment into a permanent generation the collector no longer
visits (Python's ``gc`` documentation; Instagram's and others' practice for pre-loaded web workers). Objects
created later are collected as before, so cyclic garbage from requests is still reclaimed; what the start-up
allocated and later drops is simply never traversed again.

:func:`freeze_startup_heap` runs in every gunicorn worker once it has loaded the application
(``post_worker_init`` in argus_plugins.core.gunicorn_conf); ``bench/marketplace_bench.py`` calls it in the
process that serves its requests, like a worker.
"""

from __future__ import annotations

import gc

from django.urls import get_resolver


def freeze_startup_heap() -> int:
    """Load what a worker's first request would (the URLconf, through it every view and the GraphQL
    schema), collect the start-up's garbage, then freeze what is left. Returns how many objects it froze."""
    get_resolver().url_patterns  # noqa: B018 - imports the URLconf (Django's resolver caches it)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
