"""run_job: one plugin execution in a single-use container, from the pool or started cold.

Worker-side sequence (both paths share it after the container is running):

    fill the slot (bundle, evidence, input.json) -> send the job header on stdin
    -> read the attach stream (hard byte cap, deadline, cancel) -> parse the result frame
    -> remove the container (always; in the background when a pool's reaper is available)

The launcher enforces the plugin's timeout itself; the deadline here is the backstop for a
launcher that cannot report (starved, killed, hostile stream), after which we kill the container.
"""

from __future__ import annotations

import select
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import docker

from .container import (
    StartedContainer,
    discard,
    docker_errors,
    engine_actions,
    exit_state,
    owner_id,
    start_container,
)
from .errors import DockerUnavailable
from .pool import ContainerPool
from .protocol import AttachDemuxer, FrameCaps, LiveOutput, MalformedFrame, ResultFrameParser, encode_job
from .spec import MiB, Outcome, SandboxJob, SandboxResult
from .workspace import Slot

# Extra time the launcher gets, beyond the plugin's timeout, to kill, collect and send.
DEADLINE_GRACE_SECONDS = 3.0
# How long a started container's launcher may take to acknowledge a job (it is only booting
# Python; this is generous for an engine under heavy load).
ACK_TIMEOUT_SECONDS = 60.0
# How often a blocked read looks at the cancel event.
CANCEL_POLL_SECONDS = 0.05
#: When the launcher sent no result: how long to let the engine see the container exit (and record an OOM
#: kill) before judging why. Only this abnormal path waits.
#: Under gVisor on a loaded host the runtime has been seen to need more than 5 s to tear an OOM-killed sandbox
#: down; the wait ends as soon as the container has exited.
NO_FRAME_EXIT_WAIT_SECONDS = 20.0
#: After a SIGKILL without OOMKilled: how long to let a late ``oom`` or ``kill`` event reach the engine's log.
NO_FRAME_OOM_EVENT_SECONDS = 1.0
RECV_CHUNK = MiB
# Conservative transfer rate for the deadline's allowance to ship a full result frame.
TRANSFER_BYTES_PER_SECOND = 50 * MiB


class CancelSignal(Protocol):
    """What ``run_job`` asks between reads: a threading.Event, or anything with the same ``is_set``."""

    def is_set(self) -> bool: ...


#: Called with what the plugin printed and reported so far, whenever an update frame brought more.
LiveCallback = Callable[[LiveOutput], None]


def default_work_dir() -> Path:
    return Path(tempfile.gettempdir()) / "argus-sandbox"


def acquire(
    client: docker.DockerClient, spec: SandboxJob, *, pool: ContainerPool | None = None
) -> StartedContainer:
    """A started container for ``spec`` whose launcher waits for its job: a warm one from ``pool``, or
    one created and started now (cold). Give it to ``run_job`` (``container=``) or back with ``release``.

    Raises InvalidJob for an unacceptable job, DockerUnavailable when the engine cannot be reached
    (retry later) and RuntimeImageMissing when the image was never built.
    """
    spec.validate()
    settings = spec.container_settings()
    began = time.perf_counter()
    container = pool.take(settings) if pool is not None else None
    if container is None:
        slot = Slot.create(Path(spec.work_dir) if spec.work_dir else default_work_dir())
        try:
            owner = pool.owner if pool is not None else owner_id()
            container = start_container(client, settings, slot, owner=owner, execution_id=spec.execution_id)
        except BaseException:
            slot.destroy()
            raise
    container.acquired_seconds = time.perf_counter() - began
    return container


def release(
    client: docker.DockerClient, container: StartedContainer, *, pool: ContainerPool | None = None
) -> None:
    """Give back a container that never received a job: a pooled one to its pool, any other removed."""
    if pool is None:
        with docker_errors("remove a sandbox container"):
            discard(client, container)
    elif not pool.put_back(container):
        pool.dispose(container)


def run_job(
    client: docker.DockerClient,
    spec: SandboxJob,
    *,
    pool: ContainerPool | None = None,
    cancel: CancelSignal | None = None,
    on_started: Callable[[str], None] | None = None,
    container: StartedContainer | None = None,
    on_live: LiveCallback | None = None,
) -> SandboxResult:
    """Run ``spec`` and return what happened; the container is gone (or queued for removal on the
    pool's reaper) when this returns, whatever the path.

    With ``spec.update_interval_seconds``, ``on_live`` hears what the plugin printed and reported while
    it runs; a cancelled or overdue run's result keeps what had arrived by then (within the caps).

    ``container`` is one ``acquire`` returned for this job; without it, one is acquired here.
    Raises InvalidJob for an unacceptable job, DockerUnavailable when the engine cannot be reached
    (retry later) and RuntimeImageMissing when the image was never built.
    """
    spec.validate()
    began = time.perf_counter()
    if cancel is not None and cancel.is_set():
        if container is not None:
            release(client, container, pool=pool)
        return SandboxResult(Outcome.CANCELLED, timings={}, error="cancelled before start")
    if container is None:
        container = acquire(client, spec, pool=pool)
    path = "pool" if container.pooled else "cold"
    timings: dict[str, float] = {"acquire": container.acquired_seconds}
    if not container.pooled:
        timings.update(container.timings)
    try:
        result = _drive(client, container, spec, cancel, on_started, timings, on_live)
    finally:
        t = time.perf_counter()
        if pool is not None:
            pool.dispose(container)
        else:
            with docker_errors("remove a sandbox container"):
                discard(client, container)
        timings["remove"] = time.perf_counter() - t
    result.path = path
    timings["total"] = time.perf_counter() - began + container.acquired_seconds
    return result


def _drive(
    client: docker.DockerClient,
    container: StartedContainer,
    spec: SandboxJob,
    cancel: CancelSignal | None,
    on_started: Callable[[str], None] | None,
    timings: dict[str, float],
    on_live: LiveCallback | None = None,
) -> SandboxResult:
    def finish(outcome: Outcome, error: str) -> SandboxResult:
        return _cut_short(outcome, container, timings, error, parser.live)

    t = time.perf_counter()
    container.slot.fill(spec.bundle, spec.entrypoint, spec.input, spec.evidence, layer=spec.layer)
    header = encode_job(spec)
    timings["prepare"] = time.perf_counter() - t

    sock = container.raw_socket
    t = time.perf_counter()
    try:
        sock.sendall(header)
    except OSError as exc:
        return _no_frame(client, container, timings, f"could not send the job to the launcher: {exc}")
    timings["send"] = time.perf_counter() - t

    caps = FrameCaps.for_job(spec)
    parser = ResultFrameParser(caps)
    live_version = 0
    demux = AttachDemuxer(parser)
    # Until the launcher acknowledges the job only its boot is being waited for; from the ack on
    # the plugin's timeout runs, plus time to kill, collect and ship a full frame.
    deadline = time.monotonic() + ACK_TIMEOUT_SECONDS
    allowance = DEADLINE_GRACE_SECONDS + caps.max_frame / TRANSFER_BYTES_PER_SECOND
    # poll, not select: a busy worker process may well have file descriptors above 1024.
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
    t = time.perf_counter()
    try:
        while not parser.done:
            remaining = deadline - time.monotonic()
            if cancel is not None and cancel.is_set():
                _kill_now(client, container, timings)
                return finish(Outcome.CANCELLED, "cancelled while running")
            if remaining <= 0:
                _kill_now(client, container, timings)
                if not parser.acked:
                    return finish(Outcome.SANDBOX_ERROR, "the launcher did not acknowledge the job in time")
                return finish(Outcome.TIMED_OUT, "the launcher did not report before the worker deadline")
            wait = remaining if cancel is None else min(remaining, CANCEL_POLL_SECONDS)
            if not poller.poll(wait * 1000):
                continue
            try:
                chunk = sock.recv(RECV_CHUNK)
            except OSError as exc:
                return _no_frame(client, container, timings, f"attach stream failed: {exc}", parser.live)
            if not chunk:
                return _no_frame(client, container, timings, _describe_missing(demux), parser.live)
            was_acked = parser.acked
            demux.feed(chunk)
            if parser.acked and not was_acked:
                deadline = time.monotonic() + spec.limits.timeout_seconds + allowance
                timings["ack"] = time.perf_counter() - t
                if on_started is not None:
                    on_started(container.id)
            if on_live is not None and parser.live.version != live_version and not parser.done:
                live_version = parser.live.version
                on_live(parser.live)
    except MalformedFrame as exc:
        reason = f"malformed result from the sandbox: {exc}"
        return _no_frame(client, container, timings, reason, parser.live)
    finally:
        timings["wait"] = time.perf_counter() - t
    assert parser.result is not None
    return _from_frame(parser, container, timings)


def _kill_now(client: docker.DockerClient, container: StartedContainer, timings: dict[str, float]) -> None:
    """Synchronous kill+remove, so that a cancelled or overdue job is really gone on return."""
    t = time.perf_counter()
    with docker_errors("kill a sandbox container"):
        discard(client, container)
    timings["kill"] = time.perf_counter() - t


def _describe_missing(demux: AttachDemuxer) -> str:
    reason = "the launcher exited without sending a result"
    if demux.stderr:
        tail = bytes(demux.stderr[-2000:]).decode("utf-8", "replace")
        reason += f"; launcher stderr: {tail}"
    return reason


def _no_frame(
    client: docker.DockerClient,
    container: StartedContainer,
    timings: dict[str, float],
    reason: str,
    live: LiveOutput | None = None,
) -> SandboxResult:
    # The launcher itself may have been the OOM killer's victim; the engine knows once it has seen the exit.
    try:
        state = exit_state(client, container.id, exit_wait_seconds=NO_FRAME_EXIT_WAIT_SECONDS)
    except DockerUnavailable:
        state = {}
    live = live or LiveOutput()
    memory = bool(state.get("OOMKilled"))
    if not memory and not live.at_process_limit and not state.get("Running") and state.get("ExitCode") == 137:
        memory = _killed_by_the_kernel(client, container.id)
    if state.get("Running"):
        reason += f" (the container was still running {NO_FRAME_EXIT_WAIT_SECONDS:g} s later)"
    elif "ExitCode" in state and not memory:
        reason += f" (the container exited with code {state['ExitCode']})"
    if memory:
        outcome = Outcome.MEMORY_EXCEEDED
    elif live.at_process_limit:
        outcome = Outcome.PROCESSES_EXCEEDED
        reason = (
            f"kept creating processes at its limit of {container.settings.pids} until the sandbox gave out "
            f"(gVisor's kernel starts host threads for them; {reason})"
        )
    else:
        outcome = Outcome.SANDBOX_ERROR
    return _cut_short(outcome, container, timings, reason, live)


def _killed_by_the_kernel(client: docker.DockerClient, container_id: str) -> bool:
    """A sandbox that ended with SIGKILL (137) and no result. The engine logs a ``kill`` event for every kill
    it was asked for (``docker kill``/``rm -f``, a cancel, a node's shutdown), so a SIGKILL without one came
    from the host's kernel, whose OOM killer is what kills a sandbox at its memory limit. Needed under gVisor,
    where the engine does not always record that as ``OOMKilled`` (the whole sandbox is the victim, not a
    process the engine watches); an ``oom`` event, when there is one, says so outright."""
    actions = engine_actions(client, container_id, settle_seconds=NO_FRAME_OOM_EVENT_SECONDS)
    return "oom" in actions or "kill" not in actions


def _cut_short(
    outcome: Outcome,
    container: StartedContainer,
    timings: dict[str, float],
    error: str,
    live: LiveOutput,
) -> SandboxResult:
    """A run that ended without a result frame (cancelled, overdue, or the launcher gone): what the update
    frames brought (output and progress) is all there is of the plugin's output, kept whatever the cause."""
    return SandboxResult(
        outcome,
        container_id=container.id,
        timings=timings,
        error=error,
        stdout=bytes(live.stdout),
        stderr=bytes(live.stderr),
        stdout_total=len(live.stdout),
        stderr_total=len(live.stderr),
        progress=(live.progress.fraction, live.progress.message) if live.progress else None,
    )


def _from_frame(
    parser: ResultFrameParser, container: StartedContainer, timings: dict[str, float]
) -> SandboxResult:
    parsed = parser.result
    assert parsed is not None
    header = parsed.header
    for key, value in header["timings"].items():
        timings[f"launcher_{key}"] = float(value)
    if header["spawn_error"]:
        return SandboxResult(
            Outcome.SANDBOX_ERROR,
            container_id=container.id,
            timings=timings,
            error=f"the launcher could not start the plugin: {header['spawn_error']}",
        )
    if header["oom_killed"]:
        outcome = Outcome.MEMORY_EXCEEDED
    elif header["timed_out"]:
        outcome = Outcome.TIMED_OUT
    else:
        outcome = Outcome.COMPLETED
    output_info = header["output"]
    progress = (parsed.progress.fraction, parsed.progress.message) if parsed.progress else None
    return SandboxResult(
        outcome,
        exit_code=header["exit_code"],
        signal=header["signal"],
        stdout=parsed.stdout,
        stderr=parsed.stderr,
        stdout_total=header["stdout_total"],
        stderr_total=header["stderr_total"],
        stdout_truncated=header["stdout_total"] > len(parsed.stdout),
        stderr_truncated=header["stderr_total"] > len(parsed.stderr),
        output=parsed.output,
        output_truncated=output_info["truncated"],
        output_error=output_info["error"],
        artifacts=parsed.artifacts,
        artifact_errors=list(header["artifact_errors"]),
        container_id=container.id,
        timings=timings,
        progress=progress,
    )
