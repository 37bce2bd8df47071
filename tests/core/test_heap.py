"""A web worker's start-up heap is frozen out of the cyclic GC's full collections (argus_plugins.core.heap)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from argus_plugins.core import gunicorn_conf, heap

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import gc, json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"
import django
django.setup()
from django.conf import settings
loaded_before = settings.ROOT_URLCONF in sys.modules
from argus_plugins.core.heap import freeze_startup_heap
frozen = freeze_startup_heap()
first, second = [], []
first.append(second)
second.append(first)
del first, second
print(json.dumps({
    "loaded_before": loaded_before,
    "urlconf_loaded": settings.ROOT_URLCONF in sys.modules,
    "frozen": frozen,
    "frozen_count": gc.get_freeze_count(),
    "tracked_after": len(gc.get_objects()),
    "collected": gc.collect(),
}))
"""


def test_the_start_up_heap_is_frozen_with_the_urlconf_loaded_and_later_cycles_are_still_collected(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ARGUS_DATA_DIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded_before"] is False and result["urlconf_loaded"] is True
    assert result["frozen"] == result["frozen_count"] > 50_000
    assert result["tracked_after"] < result["frozen"] / 10  # the collector no longer visits the start-up
    assert result["collected"] >= 2  # the two lists of the cycle made after the freeze


def test_every_gunicorn_worker_freezes_its_heap_once_loaded(monkeypatch):
    calls = []
    monkeypatch.setattr(gunicorn_conf, "freeze_startup_heap", lambda: calls.append(True))
    gunicorn_conf.post_worker_init(object())
    assert calls == [True]
    assert heap.freeze_startup_heap.__module__ == "argus_plugins.core.heap"
