"""A version's dependency layer inside the real sandbox: on the interpreter's path (fork and exec launch),
read-only, and in the node18 image reachable from Node.js through NODE_PATH."""

from __future__ import annotations

import functools
import json

import docker
import pytest

from execution.sandbox import Outcome, run_job
from registry.ecosystems import NPM, PIP, SANDBOX_ENV
from registry.layers import extract_layer

from .conftest import _test_layer

pytestmark = pytest.mark.docker

PROBE = """
import json, os
import argus_test_dep
try:
    open("/argus/deps/site-packages/planted.py", "w")
    writable = True
except OSError:
    writable = False
json.dump({"value": argus_test_dep.VALUE, "from": argus_test_dep.__file__, "writable": writable},
          open("/argus/output/output.json", "w"))
"""


@pytest.mark.parametrize("launch", ["fork", "exec"])
def test_the_layer_is_importable_and_read_only(
    make_job, docker_client: docker.DockerClient, launch: str
) -> None:
    job = make_job(
        PROBE,
        launch=launch,
        layer=functools.partial(extract_layer, _test_layer()),
        env={**SANDBOX_ENV[PIP]},
    )
    result = run_job(docker_client, job)
    assert result.outcome == Outcome.COMPLETED and result.exit_code == 0, result.stderr
    assert json.loads(result.output) == {
        "value": 42,
        "from": "/argus/deps/site-packages/argus_test_dep.py",
        "writable": False,
    }


def test_node_finds_its_packages_through_node_path(
    make_job, docker_client: docker.DockerClient, node_image: str
) -> None:
    job = make_job(
        "",
        bundle=[
            (
                "main.js",
                b"require('fs').writeFileSync('/argus/output/output.json', String(require('argus-test-dep')));",
            )
        ],
        entrypoint="main.js",
        image=node_image,
        interpreter=("node",),
        launch="exec",
        layer=functools.partial(extract_layer, _test_layer()),
        env={**SANDBOX_ENV[NPM]},
    )
    result = run_job(docker_client, job)
    assert result.outcome == Outcome.COMPLETED and result.exit_code == 0, result.stderr
    assert result.output == b"42"
