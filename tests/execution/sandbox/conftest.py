"""Fixtures for the sandbox tests: a real Docker engine, the runtime image (built once), a pool.

Docker must be reachable: when it is not, these fixtures fail with a clear message instead of
skipping, so a CI machine without the engine cannot pass silently.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from django.conf import settings as django_settings

from execution.sandbox import ContainerPool, SandboxJob, SandboxLimits, connect, owner_id
from execution.sandbox.container import LABEL_MANAGED, LABEL_OWNER
from execution.sandbox.errors import SandboxError
from execution.sandbox.images import DEFAULT_CACHE_DIR, DEFAULT_RUNTIME_IMAGES, ensure_runtime_images
from registry.ecosystems import NPM, PIP, SANDBOX_ENV
from registry.layers import extract_layer, write_layer_archive

# scripts/test.sh runs this suite again with ARGUS_TEST_SANDBOX_PROFILE=node18-deps: the same hostile
# programs in the second runtime's image, with a dependency layer mounted at /argus/deps and on the
# plugin's PYTHONPATH and NODE_PATH, must meet the same fate.
PROFILE = os.environ.get("ARGUS_TEST_SANDBOX_PROFILE", "")
RUNTIME = "node18" if PROFILE == "node18-deps" else "python3.11"
IMAGE = DEFAULT_RUNTIME_IMAGES[RUNTIME]["image"]


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = connect(os.environ.get("DOCKER_HOST") or None, timeout=120)
    except SandboxError as exc:
        pytest.fail(f"the sandbox tests need a reachable Docker engine: {exc}", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def runtime_image(docker_client: docker.DockerClient) -> str:
    """Builds the runtime image if it is missing or stale (a file lock serialises xdist workers)."""
    cache_dir = Path(os.environ.get("ARGUS_RUNTIME_CACHE_DIR", DEFAULT_CACHE_DIR))
    try:
        ensure_runtime_images(
            docker_client, {RUNTIME: DEFAULT_RUNTIME_IMAGES[RUNTIME]}, cache_dir=cache_dir, log=print
        )
    except SandboxError as exc:
        pytest.fail(f"could not build the sandbox runtime image: {exc}", pytrace=False)
    return IMAGE


@pytest.fixture(scope="session")
def node_image(docker_client: docker.DockerClient) -> str:
    """The second runtime's image (Debian's Node.js 18), built if missing or stale."""
    cache_dir = Path(os.environ.get("ARGUS_RUNTIME_CACHE_DIR", DEFAULT_CACHE_DIR))
    try:
        ensure_runtime_images(
            docker_client, {"node18": DEFAULT_RUNTIME_IMAGES["node18"]}, cache_dir=cache_dir, log=print
        )
    except SandboxError as exc:
        pytest.fail(f"could not build the node18 runtime image: {exc}", pytrace=False)
    return DEFAULT_RUNTIME_IMAGES["node18"]["image"]


@pytest.fixture(scope="session")
def sandbox_work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox-work")


@pytest.fixture(scope="session")
def no_leftover_containers(docker_client: docker.DockerClient) -> Iterator[None]:
    """After the session, no container owned by this test process may remain."""
    yield
    mine = owner_id()
    left = docker_client.api.containers(
        all=True, filters={"label": [f"{LABEL_MANAGED}=1", f"{LABEL_OWNER}={mine}"]}
    )
    for info in left:  # clean up anyway, then fail loudly
        docker_client.api.remove_container(info["Id"], force=True)
    assert not left, f"sandbox containers left behind: {[c['Id'][:12] for c in left]}"


@pytest.fixture(scope="session")
def sandbox_pool(
    docker_client: docker.DockerClient,
    runtime_image: str,
    sandbox_work_dir: Path,
    no_leftover_containers: None,
) -> Iterator[ContainerPool]:
    pool = ContainerPool(docker_client, work_dir=sandbox_work_dir / "pool", size=2)
    yield pool
    pool.close()


@pytest.fixture(autouse=True)
def _leftover_guard(request: pytest.FixtureRequest) -> None:
    """Every Docker test runs under the session's leftover check (it tears down after the pool)."""
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("no_leftover_containers")


JobFactory = Callable[..., SandboxJob]


@pytest.fixture(scope="session")
def make_job(runtime_image: str, sandbox_work_dir: Path) -> JobFactory:
    """make_job(code, **fields): a job whose bundle is one main.py holding ``code``."""

    def build(code: str, **fields: Any) -> SandboxJob:
        limits = fields.pop("limits", None) or SandboxLimits(timeout_seconds=fields.pop("timeout", 10))
        bundle = fields.pop("bundle", None) or [("main.py", code.encode())]
        fields.setdefault("launch", django_settings.ARGUS_RUNTIME_IMAGES["python3.11"].get("launch", "exec"))
        # scripts/test.sh runs this suite a second time with ARGUS_SANDBOX_OCI_RUNTIME=runsc (gVisor).
        fields.setdefault("runtime", django_settings.ARGUS_SANDBOX_OCI_RUNTIME or None)
        if PROFILE == "node18-deps":
            fields.setdefault("layer", functools.partial(extract_layer, _test_layer()))
            fields["env"] = {**SANDBOX_ENV[PIP], **SANDBOX_ENV[NPM], **fields.get("env", {})}
        return SandboxJob(
            execution_id=fields.pop("execution_id", f"test-{uuid.uuid4().hex[:12]}"),
            image=fields.pop("image", runtime_image),
            entrypoint=fields.pop("entrypoint", "main.py"),
            bundle=bundle,
            limits=limits,
            work_dir=sandbox_work_dir / "cold",
            plugin_name=fields.pop("plugin_name", "acme.test"),
            plugin_version=fields.pop("plugin_version", "1.2.3"),
            **fields,
        )

    return build


@functools.cache
def _test_layer() -> Path:
    """A small dependency layer as the platform freezes them (a Python module and an npm package): the path
    of its archive, removed when the test process exits."""
    archive_dir = Path(tempfile.mkdtemp(prefix="argus-test-layer-"))
    atexit.register(shutil.rmtree, archive_dir, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "site-packages").mkdir()
        (root / "site-packages" / "argus_test_dep.py").write_text("VALUE = 42\n")
        (root / "node_modules" / "argus-test-dep").mkdir(parents=True)
        (root / "node_modules" / "argus-test-dep" / "index.js").write_text("module.exports = 42;\n")
        return write_layer_archive(root, archive_dir / "layer.tar.gz", []).archive


def container_exists(client: docker.DockerClient, container_id: str | None) -> bool:
    if container_id is None:
        return False
    try:
        client.api.inspect_container(container_id)
    except docker.errors.NotFound:
        return False
    return True


@pytest.fixture
def exists() -> Callable[[docker.DockerClient, str | None], bool]:
    return container_exists
