"""In-container launcher: PID 1 of every sandbox container (installed at /opt/argus/launcher.py).

This file is copied verbatim into the runtime image and runs under the image's Python (Debian's
3.11), so it uses the standard library only and must not import anything from the host package.
The host imports it just for the protocol constants below.

Life of a container:

1. The worker creates and starts the container with this script as its command, stdin attached, as
   root with no capability but CAP_SETUID and CAP_SETGID. Before anything else we drop to
   LAUNCHER_UID (see ``_drop_privileges``: no capability is left, and the plugin will run as another
   uid, PLUGIN_UID), make ourselves non-dumpable, start the plugin's process ahead (below) and block
   reading a job header on stdin.
2. The job header (JOB_MAGIC, u32 length, JSON) says what to run and the caps. We answer
   ACK_MAGIC at once (the worker starts its own backstop deadline there), then run the plugin
   as a child with /argus/input.json as its stdin, its stdout and stderr on two separate pipes
   that we drain concurrently, keeping only the first N bytes of each and counting the rest.
3. When the plugin exits (or its time is up) we SIGKILL every process we can signal (kill(-1)
   from PID 1 hits everything else in the container, double-forked daemons included) and reap
   them. Only then we collect /argus/output/output.json and the artifacts: with nothing left
   alive there is no race between our checks and our reads.
   While the plugin runs, at most every ``update_interval`` seconds of the job (and only when something
   changed) we send an update frame: the stdout/stderr bytes kept since the last one, and the plugin's
   latest progress report, read as JSON lines from a pipe on its file descriptor 3 (PROGRESS_FD).
4. We write one result frame on stdout (RESULT_MAGIC, u32 length, JSON header, raw blobs,
   RESULT_END), then wait, alone in the container, until the worker detaches (our stdin ends) and
   exit. The worker removes the container, at a pause in its runs (pool.RemovalDeferral).

The plugin's process is started while the container waits in the pool (``prestart``), with everything
that does not depend on the job: the fork, its pipes (stdout, stderr, progress on fd 3) and nothing else
of ours (its stdin is the read end of a "go" pipe, not the job stream), a session of its own, PLUGIN_UID
as all its ids, the lowest priority, the OOM killer's first place, and the start-up a fresh ``python3``
does (``site``). It then blocks on the go pipe. When the job comes we send it the go (``Prestarted.go``:
argv, entry point, working directory, environment, the input path; nothing else of the job) and close
the pipe; it takes the environment, changes directory, reopens /argus/input.json on its stdin and execs
the program or, for a Python entry point, runs it as ``__main__`` in that interpreter. The plugin's time
limit counts from the go and stays ours to enforce, as every other limit; the process held no job data
and ran none of the bundle before the go, and a container still runs one job. If it cannot be started
ahead (or died while it waited), it is started the same way when the job comes. That moves the fork,
the uid drop and the interpreter's start-up out of every warm run (bench/launcher_startup_bench.py).

The plugin cannot kill, stop, ptrace or read us: it runs as another uid (the kernel lets a process
signal another only when its real or effective uid is the other's real or saved uid, and ptrace and
our /proc files need all three to match), and we are non-dumpable. Being PID 1 of the container's
PID namespace protects us a second time under runc (the kernel drops signals sent to a namespace's
init from inside it unless init installed a handler; we keep every disposition at SIG_DFL for that
reason); gVisor does not shield its init that way, the uids do.
"""

from __future__ import annotations

# Every run pays for this interpreter's start-up, so it imports only what it needs, avoiding the
# modules that pull in re/enum/collections (json, subprocess, contextlib, signal): that halves it.
import gc
import os
import select
import stat
import struct
import sys
import time

try:  # the C halves of json and signal, without their pure-Python wrappers' imports
    import _json
    import _signal as signal
except ImportError:  # pragma: no cover - another Python implementation
    _json = None
    import signal  # type: ignore[no-redef]

PROTOCOL_VERSION = 1
JOB_MAGIC = b"ARGUSJ01"
# Written as soon as a job is accepted, before the plugin starts: the worker's own deadline for
# the plugin counts from here, so a slow container boot is not charged to the plugin.
ACK_MAGIC = b"ARGUSACK"
RESULT_MAGIC = b"ARGUSR01"
RESULT_END = b"ARGUSEND"
# Zero or more of these come between ACK_MAGIC and the result frame: what the plugin printed and reported
# so far (UPDATE_MAGIC, u32 length, JSON header, then the new stdout and stderr bytes it announces).
UPDATE_MAGIC = b"ARGUSU01"
MAX_UPDATE_HEADER = 4096
LENGTH = struct.Struct(">I")
MAX_JOB_HEADER = 1 << 20
MAX_RESULT_HEADER = 1 << 20

INPUT_PATH = "/argus/input.json"
OUTPUT_PATH = "/argus/output/output.json"
ARTIFACTS_DIR = "/argus/artifacts"
PLUGIN_DIR = "/argus/plugin"
LAUNCHER_DIR = "/opt/argus"

# After the plugin's main process exits, how long its leftover children may keep the pipes open
# before we stop waiting for EOF and kill them.
DRAIN_GRACE_SECONDS = 0.2
REAP_INTERVAL_SECONDS = 0.25
ARTIFACT_MAX_DEPTH = 8
ARTIFACT_MAX_ERRORS = 100
# Artifact names (paths under /argus/artifacts): each segment 1-100 characters from ARTIFACT_NAME_CHARS,
# not starting with "." or "-" (no hidden files, nothing a shell or a tool could take for an option), at
# most ARTIFACT_MAX_DEPTH directories deep and ARTIFACT_NAME_MAX characters in all: stored as they are,
# never cut, so two names can never collide. Names equal but for case are refused too.
ARTIFACT_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+=,@")
ARTIFACT_SEGMENT_MAX = 100
ARTIFACT_NAME_MAX = 255
# The plugin's progress channel: a pipe on this descriptor (also in $ARGUS_PROGRESS_FD), one JSON object
# per line, e.g. {"progress": 0.42, "message": "scanning chat-export.txt"}. The latest valid line counts.
PROGRESS_FD = 3
PROGRESS_LINE_MAX = 4096
PROGRESS_MESSAGE_MAX = 200
CHUNK = 1 << 16
PR_SET_DUMPABLE = 4
# Two users, neither of them root: the launcher keeps LAUNCHER_UID as its real and saved uid and takes
# PLUGIN_UID as its effective one (to signal the plugin's processes and read what they wrote without any
# capability); the plugin gets PLUGIN_UID as all three, so it can never signal the launcher. The runtime
# image's /etc/passwd names PLUGIN_UID "argus"; LAUNCHER_UID owns no file anywhere.
LAUNCHER_UID = LAUNCHER_GID = 10000
PLUGIN_UID = PLUGIN_GID = 10001
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _libc_prctl() -> object:
    """A caller of libc's prctl(2). The ``ctypes`` package costs about 5 ms of every run's start-up
    (it imports struct, types and its own helpers), so its C core ``_ctypes`` is used directly."""
    try:
        import _ctypes

        address = _ctypes.dlsym(_ctypes.dlopen(None, os.RTLD_NOW), "prctl")
        return lambda *args: _ctypes.call_function(address, args)
    except (ImportError, AttributeError, OSError):  # pragma: no cover - another Python build
        import ctypes

        return ctypes.CDLL(None).prctl


def _prctl_set_dumpable(value: int) -> None:
    if _libc_prctl()(PR_SET_DUMPABLE, value, 0, 0, 0) != 0:
        raise OSError(f"prctl(PR_SET_DUMPABLE, {value}) failed")


def _drop_privileges() -> None:
    """From root with CAP_SETUID and CAP_SETGID (how the container starts) to LAUNCHER_UID, effective
    PLUGIN_UID, no supplementary group, no capability: the kernel clears every capability when a process
    whose uids included 0 ends up with none that is 0. The plugin's child can then take PLUGIN_UID for all
    three of its uids without any privilege (one of ours already is)."""
    if os.getresuid() != (0, 0, 0):
        raise OSError("the launcher must start as root with CAP_SETUID and CAP_SETGID to drop to its user")
    os.setgroups([])
    os.setresgid(LAUNCHER_GID, PLUGIN_GID, LAUNCHER_GID)
    os.setresuid(LAUNCHER_UID, PLUGIN_UID, LAUNCHER_UID)
    if os.getresuid() != (LAUNCHER_UID, PLUGIN_UID, LAUNCHER_UID) or os.getgroups():
        raise OSError("could not drop to the launcher's user")
    with open("/proc/self/status", "rb") as fh:
        capabilities = [line.split()[1] for line in fh if line.startswith((b"CapPrm:", b"CapEff:"))]
    if len(capabilities) != 2 or any(int(mask, 16) for mask in capabilities):
        raise OSError("capabilities left after dropping to the launcher's user")


def _harden_self() -> None:
    _prctl_set_dumpable(0)
    # Python installs a SIGINT handler; as PID 1 a handled signal is deliverable from inside the
    # namespace. SIG_DFL makes the kernel drop it.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)


def _read_exact(fd: int, size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = os.read(fd, remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_job(fd: int = 0, idle_timeout: float | None = None) -> dict | None:
    """Block until the worker sends a job; None when stdin closes first (worker went away) or
    nothing came within ``idle_timeout`` seconds."""
    if idle_timeout is not None:
        readable, _, _ = select.select([fd], [], [], idle_timeout)
        if not readable:
            return None
    head = _read_exact(fd, len(JOB_MAGIC) + LENGTH.size)
    if head is None:
        return None
    if head[: len(JOB_MAGIC)] != JOB_MAGIC:
        raise ValueError("bad job magic")
    (size,) = LENGTH.unpack(head[len(JOB_MAGIC) :])
    if size > MAX_JOB_HEADER:
        raise ValueError("job header too large")
    body = _read_exact(fd, size)
    if body is None:
        return None
    job = json_loads(body)
    if not isinstance(job, dict) or job.get("v") != PROTOCOL_VERSION:
        raise ValueError("unsupported job header")
    return job


# --------------------------------------------------------------------------------------------- JSON
# The job header and the result header are JSON. The C scanner and string encoder of the json package
# do the work; importing json itself (re, enum, functools, collections) is paid by every run: measured
# by bench/launcher_startup_bench.py, +73% of the launcher's interpreter start-up (json and runpy together
# +93%; 3.11.7, -I -S, median of 60 starts). The reason is start-up time only, not security: the plugin
# runs in a forked child, so nothing it patches reaches this process's encoder. The tests check this codec
# against json (tests/execution/sandbox/test_launcher_process.py).


class _DecodeOptions:
    """What ``_json.make_scanner`` reads from its context (a JSONDecoder, normally)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"{name} is not valid JSON here")


def json_loads(data: bytes) -> object:
    text = data.decode("utf-8").strip(" \t\r\n")
    if _json is None:  # pragma: no cover - another Python implementation
        import json

        return json.loads(text)
    try:
        value, end = _json.make_scanner(_DecodeOptions())(text, 0)
    except StopIteration:
        raise ValueError("not a JSON document") from None
    if end != len(text):
        raise ValueError("extra data after the JSON document")
    return value


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _quote_python(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            code -= 0x10000
            out.append(f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}")
    out.append('"')
    return "".join(out)


_quote = _json.encode_basestring_ascii if _json is not None else _quote_python


def json_dumps(value: object) -> str:
    """Compact, ASCII-only JSON of dicts (str keys), lists, str, int, float (finite), bool and None."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out)


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        # Only timings are floats; a non-finite one has no JSON spelling.
        out.append(float.__repr__(value) if value - value == 0 else "null")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, not {type(key).__name__}")
            if index:
                out.append(",")
            out.append(_quote(key))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable here")


class _Capture:
    """Keeps the first ``cap`` bytes of a stream and counts all of them."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]


def _oom_kill_count() -> int | None:
    # cgroup v1 (docker mounts the container's own memory cgroup here) then cgroup v2.
    for path, key in (
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
        ("/sys/fs/cgroup/memory.events", "oom_kill"),
    ):
        try:
            with open(path) as fh:
                for line in fh:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return None


def _child_setup() -> None:
    # Runs in the forked child before exec.
    # Lowest CPU priority: nice only weighs tasks of the same (container) cgroup against each
    # other, so the plugin loses nothing against other containers, but however many processes it
    # spawns the launcher still gets the CPU at once to enforce the timeout and collect results.
    # Unprivileged processes cannot lower their nice value again.
    try:  # noqa: SIM105 - contextlib would cost every run an import
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    except OSError:
        pass
    # The child inherited our non-dumpable flag, which makes its /proc files root-owned; undo it
    # so it may raise its own oom_score_adj, making the plugin (not the launcher) the OOM killer's
    # first choice.
    try:
        _prctl_set_dumpable(1)
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass


def _reap_children(main_pid: int) -> int | None:
    """Reap every exited child (orphans are re-parented to us); the main one's status if it was."""
    main_status = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return main_status
        if pid == 0:
            return main_status
        if pid == main_pid:
            main_status = status


def _kill_everything(main_pid: int, deadline_seconds: float = 5.0) -> int | None:
    """SIGKILL every other process in the container and reap them all (we are their init).

    Returns the wait status of ``main_pid`` if it was reaped here.
    """
    main_status = None
    end = time.monotonic() + deadline_seconds
    while True:
        try:  # noqa: SIM105 - contextlib would cost every run an import
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:  # nothing left to signal
            pass
        try:
            while True:
                pid, status = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                if pid == main_pid:
                    main_status = status
        except ChildProcessError:
            return main_status
        if time.monotonic() > end:
            return main_status
        time.sleep(0.002)


class PrestartLost(OSError):
    """The process started ahead was gone before its go, without saying why (killed while it waited)."""


class Prestarted:
    """A plugin process started ahead of its job, waiting for its go (see ``prestart``)."""

    def __init__(
        self, pid: int, out_fd: int, err_fd: int, progress_fd: int, go_fd: int, report_fd: int
    ) -> None:
        self.pid = pid
        self.out_fd, self.err_fd, self.progress_fd = out_fd, err_fd, progress_fd
        self.go_fd, self.report_fd = go_fd, report_fd

    def go(
        self, argv: list[str], cwd: str, env: dict[str, str], stdin_path: str, main: str | None = None
    ) -> tuple[int, int, int, int]:
        """Tell the waiting process what to run; (pid, stdout fd, stderr fd, progress fd) once the
        plugin's code starts. A failure before that (the process is gone, missing interpreter, bad cwd,
        unreadable stdin) is raised here as OSError, as subprocess would, with every descriptor closed.

        Without ``main`` the process execs ``argv``. With ``main`` (a Python file) it becomes that program
        itself: the launcher's interpreter, forked and prepared ahead, runs it as ``__main__`` exactly as
        ``python3 <main>`` would (see ``_become_main``)."""
        go = {"argv": argv, "cwd": cwd, "env": env, "stdin": stdin_path, "main": main}
        message = json_dumps(go).encode()
        write_error: OSError | None = None
        try:
            if os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                raise BrokenPipeError(32, "it has exited")  # gone while it waited (not yet reaped: by us)
            _write_all(self.go_fd, LENGTH.pack(len(message)) + message)
        except OSError as exc:  # it died before its go (EPIPE): its report says why, if it could
            write_error = exc
        finally:
            os.close(self.go_fd)
        try:
            report = _read_up_to(self.report_fd, 32)
        finally:
            os.close(self.report_fd)
        if report or write_error is not None:
            for fd in (self.out_fd, self.err_fd, self.progress_fd):
                os.close(fd)
            os.waitpid(self.pid, 0)
            if report:
                code = int(report) if report.isdigit() else 22
                raise OSError(code, os.strerror(code), argv[0])
            raise PrestartLost(write_error.errno, f"the plugin ended before its go: {write_error}", argv[0])
        return self.pid, self.out_fd, self.err_fd, self.progress_fd


def prestart(user: tuple[int, int] | None = None, python: bool = True) -> Prestarted:
    """Start the plugin's process before its job is known, with everything that does not depend on it.

    The child gets a new session, stdout and stderr on two new pipes, the write end of a third (progress)
    pipe on PROGRESS_FD, the read end of its "go" pipe on stdin and nothing else of ours; with ``user``
    (uid, gid) it takes them as all its ids; then its lowest priority and the OOM killer's first place
    (``_child_setup``) and, with ``python``, the start-up a fresh interpreter would do (``site``,
    ``_prepare_interpreter``). It then blocks on its stdin until ``Prestarted.go`` says what to run. It
    holds no job data before that, and the job's own things (its environment, working directory, stdin
    from the input file, PYTHONPATH) are set after the go, before any of the plugin's code runs.
    """
    opened: list[int] = []
    try:
        out_r, out_w = os.pipe()  # non-inheritable (O_CLOEXEC), like every fd Python creates
        opened += [out_r, out_w]
        err_r, err_w = os.pipe()
        opened += [err_r, err_w]
        report_r, report_w = os.pipe()  # closed once the plugin's code starts: EOF means it runs
        opened += [report_r, report_w]
        progress_r, progress_w = os.pipe()
        opened += [progress_r, progress_w]
        go_r, go_w = os.pipe()
        opened += [go_r, go_w]
        if python:
            # The child's collector then leaves the launcher's objects alone: fewer pages copied on write.
            gc.freeze()
        pid = os.fork()
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise
    if pid == 0:
        try:
            os.dup2(go_r, 0)  # our own stdin (the job stream) must not stay open in the plugin
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            if report_w == PROGRESS_FD:
                report_w = os.dup(report_w)  # the lowest free descriptor: anything but PROGRESS_FD
            if progress_w != PROGRESS_FD:
                os.dup2(progress_w, PROGRESS_FD)
            os.set_inheritable(PROGRESS_FD, True)  # the plugin's own subprocesses may report too
            max_fd = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024
            os.closerange(PROGRESS_FD + 1, report_w)
            os.closerange(report_w + 1, max(max_fd, report_w + 1))
            os.setsid()
            if user is not None:
                os.setresgid(user[1], user[1], user[1])
                os.setresuid(user[0], user[0], user[0])
            _child_setup()
            if python:
                _prepare_interpreter()
            job = _read_go(0)
            if job is None:
                os._exit(0)  # the launcher ended without a job: nothing to run
            env = job["env"]
            os.chdir(job["cwd"])
            stdin_fd = os.open(job["stdin"], os.O_RDONLY | os.O_CLOEXEC)
            os.dup2(stdin_fd, 0)  # replaces the go pipe; dup2 leaves the copy inheritable
            os.close(stdin_fd)
            main = job["main"]
            if main is None:
                argv = job["argv"]
                os.execvpe(argv[0], argv, env)  # noqa: S606 - argv is the job's, no shell involved
            if not python:
                raise OSError(22, "a Python entry point needs a process started with python=True")
            _prepare_main(main, env)
        except BaseException as exc:  # noqa: BLE001 - whatever failed, the child reports and exits
            try:  # noqa: SIM105 - contextlib would cost every run an import
                os.write(report_w, str(getattr(exc, "errno", None) or 22).encode())
            except OSError:
                pass
            os._exit(127)
        os.close(report_w)
        _become_main(main)  # never returns: ends this process like the end of a script
    for fd in (out_w, err_w, report_w, progress_w, go_r):
        os.close(fd)
    return Prestarted(pid, out_r, err_r, progress_r, go_w, report_r)


def spawn(
    argv: list[str],
    cwd: str,
    env: dict[str, str],
    stdin_path: str,
    main: str | None = None,
    user: tuple[int, int] | None = None,
) -> tuple[int, int, int, int]:
    """``prestart`` then ``go`` at once: start the plugin in a new session (see both), for a launcher
    that could not start it ahead."""
    return prestart(user, python=main is not None).go(argv, cwd, env, stdin_path, main)


def _read_go(fd: int) -> dict | None:
    """The go message (u32 length, JSON) on the pipe; None if the launcher closed it without one."""
    head = _read_exact(fd, LENGTH.size)
    if head is None:
        return None
    (size,) = LENGTH.unpack(head)
    body = _read_exact(fd, size)
    if body is None:
        return None
    job = json_loads(body)
    if not isinstance(job, dict):
        raise ValueError("bad go message")
    return job


#: Standard modules a Python plugin's process imports while it waits for its job: its input is JSON, and
#: ``import json`` (with ``re`` and ``enum`` under it) is most of a trivial plugin's own time. Taken back
#: at the go when the plugin brings a module of the same top-level name (``_drop_shadowed_preloads``).
PRELOADED = ("json",)
#: What importing PRELOADED added to sys.modules (in the waiting process).
_preloaded: list[str] = []


def _prepare_interpreter() -> None:
    """What a fresh ``python3`` does at start-up that the launcher's ``-I -S`` interpreter skipped and that
    does not depend on the job: the ``site`` module (system site-packages; the Debian sitecustomize). As at
    a fresh start, before the script's directory is on sys.path, so nothing of the bundle runs here. Then
    the PRELOADED standard modules, from the standard library alone (sys.path holds nothing else yet)."""
    import io  # noqa: F401 - imported here, before the go, for _prepare_main
    import site
    from importlib.machinery import PathFinder, SourceFileLoader  # noqa: F401 - for _prepare_main, _become_main

    site.main()  # -I still holds: no user site-packages, as for any process of this user with HOME=/tmp
    before = set(sys.modules)
    for name in PRELOADED:
        __import__(name)
    _preloaded[:] = [name for name in sys.modules if name not in before]


def _drop_shadowed_preloads(directories: list[str]) -> None:
    """A fresh ``python3 <main>`` would import the plugin's own ``json`` (say) from its directory or its
    dependency layer, before the standard library's: if any of ``directories`` has a module named like a
    preloaded one, every preloaded module goes, and the plugin imports what a fresh start would."""
    from importlib.machinery import PathFinder

    names = {name.partition(".")[0] for name in _preloaded}
    if any(PathFinder.find_spec(name, directories) is not None for name in names):
        for name in _preloaded:
            sys.modules.pop(name, None)


def _prepare_main(main: str, env: dict[str, str]) -> None:
    """Make this forked interpreter (``_prepare_interpreter`` done) look like a fresh ``python3 <main>``
    started with ``env``.

    The launcher ran with -I -S (nothing from its environment or the plugin's directory could steer
    it); the plugin gets what a normal start gives: its directory first on sys.path, the system
    site-packages, its environment, fresh standard streams on its pipes, Python's SIGINT handler.
    """
    import io
    import site

    os.environ.clear()
    os.environ.update(env)
    # site computed the user base from the launcher's environment before the go: from the plugin's, as
    # a fresh start would (its HOME).
    site.USER_BASE = site.USER_SITE = None
    site.getusersitepackages()
    sys.argv = [main]
    sys.path[:] = [os.path.dirname(main), *(p for p in sys.path if p != os.path.dirname(__file__))]
    # PYTHONPATH (the version's dependency layer) goes where a fresh interpreter puts it: after the
    # script's directory, before the standard library.
    extra = [entry for entry in env.get("PYTHONPATH", "").split(":") if entry]
    sys.path[1:1] = extra
    _drop_shadowed_preloads(sys.path[: 1 + len(extra)])
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Streams as the interpreter creates them at start-up (the old ones cached the attach socket's
    # properties, e.g. stdin not seekable): newline "\n", stderr line-buffered, same codec settings.
    for fd, name, mode in ((0, "stdin", "rb"), (1, "stdout", "wb"), (2, "stderr", "wb")):
        old = getattr(sys, name)
        buffer = open(fd, mode, closefd=False)  # noqa: SIM115 - lives as long as the process
        buffer.raw.name = f"<{name}>"
        stream = io.TextIOWrapper(
            buffer, old.encoding, old.errors, "\n", line_buffering=fd == 2 or buffer.raw.isatty()
        )
        stream.mode = mode[0]
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)
    sys.modules.pop(__name__, None)


def _become_main(main: str) -> None:
    """Run ``main`` as ``__main__``, then end with SystemExit, which unwinds to the top and lets the
    interpreter shut down as after any script (threads joined, atexit handlers run, files flushed).

    ``runpy.run_path`` would do the same but import importlib.machinery/util and contextlib first (+20% of
    the start-up, bench/launcher_startup_bench.py) and leave its own frames in the plugin's tracebacks."""
    import builtins
    from importlib.machinery import SourceFileLoader

    module = type(sys)("__main__")
    module.__file__ = main
    module.__cached__ = None
    module.__loader__ = SourceFileLoader("__main__", main)
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    try:
        with open(main, "rb") as source:
            # dont_inherit: the launcher's own __future__ imports must not change how the plugin compiles.
            code = compile(source.read(), main, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # noqa: S102 - this is the plugin's own process, running its code
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported as the interpreter would, then exit 1
        trace = exc.__traceback__
        while trace is not None and trace.tb_frame.f_code.co_filename != main:
            trace = trace.tb_next  # the launcher's frames are no part of the plugin's traceback
        exc.__traceback__ = trace  # what the default hook prints (it reads the exception's own)
        sys.excepthook(type(exc), exc, trace)
        raise SystemExit(1) from None
    raise SystemExit(0)


class _Progress:
    """The plugin's progress channel: JSON lines on a pipe, the latest valid report kept.

    A line is ``{"progress": <number 0..1>, "message": <string, optional>}``; anything else (not JSON,
    NaN, out of range, over PROGRESS_LINE_MAX bytes) is ignored, so a plugin's mistake here costs it
    nothing but the report.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.latest: dict | None = None
        self.version = 0  # bumped by every accepted report
        self._partial = bytearray()
        self._overlong = False

    def feed(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        for index, piece in enumerate(lines):
            if index < len(lines) - 1:  # a complete line
                if not self._overlong and len(self._partial) + len(piece) <= PROGRESS_LINE_MAX:
                    self._accept(bytes(self._partial) + piece)
                self._partial = bytearray()
                self._overlong = False
            elif not self._overlong:
                if len(self._partial) + len(piece) > PROGRESS_LINE_MAX:
                    self._partial = bytearray()
                    self._overlong = True
                else:
                    self._partial += piece

    def _accept(self, line: bytes) -> None:
        try:
            report = json_loads(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(report, dict):
            return
        fraction = report.get("progress")
        message = report.get("message", "")
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
            return
        if not isinstance(message, str):
            return
        # Printable text only: the message is shown to people (no escapes, no line breaks).
        message = "".join(c if c.isprintable() else " " for c in message[:PROGRESS_MESSAGE_MAX])
        self.latest = {"fraction": float(fraction), "message": message}
        self.version += 1


class _Updates:
    """Sends update frames while the plugin runs: what it printed since the last frame and its latest
    progress, at most every ``interval`` seconds and only when something changed (a plugin that is done
    within the first interval costs nothing)."""

    def __init__(self, interval: float, started: float, stdout: _Capture, stderr: _Capture) -> None:
        self.interval = interval
        self.next_at = started + interval if interval > 0 else None
        self.stdout, self.stderr = stdout, stderr
        self.sent_stdout = self.sent_stderr = 0
        self.sent_progress = 0

    def wait_limit(self, now: float, progress: _Progress) -> float | None:
        """How long the main loop may sleep before an update is due (None: no limit from us)."""
        if self.next_at is None or not self._changed(progress):
            return None
        return max(self.next_at - now, 0.0)

    def _changed(self, progress: _Progress) -> bool:
        return (
            len(self.stdout.data) > self.sent_stdout
            or len(self.stderr.data) > self.sent_stderr
            or progress.version != self.sent_progress
        )

    def maybe_send(self, now: float, progress: _Progress, out_fd: int = 1) -> None:
        if self.next_at is None or now < self.next_at or not self._changed(progress):
            return
        self.send(now, progress, out_fd)

    def send(self, now: float, progress: _Progress, out_fd: int = 1, **flags: bool) -> None:
        """Send an update frame now (whatever the interval), with ``flags`` in its header."""
        new_stdout = self.stdout.data[self.sent_stdout :]
        new_stderr = self.stderr.data[self.sent_stderr :]
        header: dict = {"stdout": len(new_stdout), "stderr": len(new_stderr), **flags}
        if progress.latest is not None:
            header["progress"] = progress.latest
            self.sent_progress = progress.version
        body = json_dumps(header).encode()
        _write_all(out_fd, UPDATE_MAGIC + LENGTH.pack(len(body)) + body + new_stdout + new_stderr)
        self.sent_stdout += len(new_stdout)
        self.sent_stderr += len(new_stderr)
        if self.next_at is not None:
            self.next_at = now + self.interval


def _count_processes() -> int:
    """Processes in the container but us: the plugin's and its descendants' (zombies included)."""
    return sum(1 for name in os.listdir("/proc") if name.isdigit() and name != "1")


def _run_plugin(job: dict, prestarted: Prestarted | None = None) -> dict:
    stdout = _Capture(int(job["stdout_max"]))
    stderr = _Capture(int(job["stderr_max"]))
    timeout = float(job["timeout"])
    env = {str(k): str(v) for k, v in job.get("env", {}).items()}
    oom_before = _oom_kill_count()

    started = time.monotonic()
    deadline = started + timeout
    main = str(job["main"]) if job.get("main") else None
    argv = [str(a) for a in job["argv"]]
    cwd = str(job.get("cwd", PLUGIN_DIR))
    try:
        try:
            if prestarted is None:  # could not be started ahead: now, the same way
                prestarted = prestart((PLUGIN_UID, PLUGIN_GID), python=main is not None)
            pid, out_fd, err_fd, progress_fd = prestarted.go(argv, cwd, env, INPUT_PATH, main)
        except PrestartLost:  # killed while the container waited: start one now, once
            started_now = spawn(argv, cwd, env, INPUT_PATH, main, (PLUGIN_UID, PLUGIN_GID))
            pid, out_fd, err_fd, progress_fd = started_now
    except OSError as exc:
        return {
            "spawn_error": f"{exc.strerror or exc}: {exc.filename or job['argv'][0]}",
            "exit_code": None,
            "signal": None,
            "timed_out": False,
            "oom_killed": False,
            "stdout": stdout,
            "stderr": stderr,
            "progress": None,
            "run_seconds": 0.0,
            "kill_seconds": 0.0,
        }
    start_seconds = time.monotonic() - started  # until the plugin's code starts (a pre-started one: its go)
    streams = {out_fd: stdout, err_fd: stderr}
    progress = _Progress(progress_fd)
    updates = _Updates(float(job.get("update_interval") or 0), started, stdout, stderr)
    poller = select.poll()
    for fd in (out_fd, err_fd, progress_fd):
        os.set_blocking(fd, False)
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    pidfd = -1
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = -1  # older kernels / gVisor: fall back to a short poll tick

    timed_out = False
    status: int | None = None
    drain_until: float | None = None
    # Under gVisor (the job says so) a plugin that keeps forking at its process limit makes gVisor's own
    # kernel start host threads until the container's pids cgroup stops it, and the whole sandbox dies:
    # the worker is told as soon as the plugin is at its limit, so that such a death is blamed on it.
    process_limit = int(job.get("process_watch") or 0)
    next_process_count = started
    while streams or status is None:
        now = time.monotonic()
        if now >= deadline:
            timed_out = status is None
            break
        if drain_until is not None and now >= drain_until:
            break
        wait = deadline - now
        if drain_until is not None:
            wait = min(wait, drain_until - now)
        if status is None:
            # Wake up now and then to reap orphans (their zombies count against the pids limit).
            wait = min(wait, REAP_INTERVAL_SECONDS if pidfd >= 0 else 0.01)
            update_wait = updates.wait_limit(now, progress)
            if update_wait is not None:
                wait = min(wait, update_wait)
        for fd, _event in poller.poll(max(wait, 0) * 1000):
            if fd == pidfd:
                continue
            if fd == progress.fd:
                _read_progress(progress, poller)
                continue
            _drain(fd, streams, poller)
        if status is None:
            status = _reap_children(pid)
            if status is not None:
                drain_until = time.monotonic() + DRAIN_GRACE_SECONDS
                if pidfd >= 0:
                    poller.unregister(pidfd)
                    os.close(pidfd)
                    pidfd = -1
            else:
                now = time.monotonic()
                if process_limit and now >= next_process_count:
                    next_process_count = now + REAP_INTERVAL_SECONDS
                    if _count_processes() >= process_limit:
                        updates.send(now, progress, at_process_limit=True)
                        process_limit = 0  # said once
                updates.maybe_send(now, progress)
    run_seconds = time.monotonic() - started

    kill_started = time.monotonic()
    reaped = _kill_everything(pid)
    if status is None:
        status = reaped
    # Every writer is dead now: whatever is still in the pipes is the rest of the output.
    for fd in list(streams):
        _drain(fd, streams, poller, until_eof=True)
    _read_progress(progress, poller, until_eof=True)
    if pidfd >= 0:
        os.close(pidfd)
    kill_seconds = time.monotonic() - kill_started

    oom_after = _oom_kill_count()
    exit_code, term_signal = _decode_status(status)
    oom_killed = oom_before is not None and oom_after is not None and oom_after > oom_before
    return {
        "exit_code": exit_code,
        "signal": term_signal,
        "timed_out": timed_out,
        "oom_killed": oom_killed,
        "stdout": stdout,
        "stderr": stderr,
        "progress": progress.latest,
        "run_seconds": run_seconds,
        "start_seconds": start_seconds,
        "kill_seconds": kill_seconds,
    }


def _read_progress(progress: _Progress, poller: select.poll, until_eof: bool = False) -> None:
    """Read what the progress pipe holds; close it at its end."""
    while progress.fd >= 0:
        try:
            chunk = os.read(progress.fd, CHUNK)
        except BlockingIOError:
            if not until_eof:
                return
            chunk = b""  # no writer can exist any more; never spin
        if not chunk:
            poller.unregister(progress.fd)
            os.close(progress.fd)
            progress.fd = -1
            return
        progress.feed(chunk)


def _decode_status(status: int | None) -> tuple[int | None, int | None]:
    if status is None:  # not reaped within the kill deadline: it can only be dying from SIGKILL
        return None, int(signal.SIGKILL)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    return None, None


def _drain(fd: int, streams: dict, poller: select.poll, until_eof: bool = False) -> None:
    capture = streams.get(fd)
    if capture is None:
        return
    while True:
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            if until_eof:
                # No writer can exist any more, but be defensive: never spin forever.
                chunk = b""
            else:
                return
        if not chunk:
            poller.unregister(fd)
            os.close(fd)
            del streams[fd]
            return
        capture.feed(chunk)


def _open_regular(name: str, dir_fd: int | None, expected: os.stat_result | None = None) -> tuple[int, int]:
    """Open a regular file without following symlinks; returns (fd, size)."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (
        expected is not None and (st.st_ino, st.st_dev) != (expected.st_ino, expected.st_dev)
    ):
        os.close(fd)
        raise OSError("not a regular file")
    return fd, st.st_size


def collect_output(max_bytes: int) -> tuple[dict, bytes | None]:
    info: dict = {"present": False, "size": 0, "truncated": False, "error": None}
    try:
        st = os.lstat(OUTPUT_PATH)
    except FileNotFoundError:
        return info, None
    except OSError as exc:
        info["error"] = f"output.json could not be inspected: {exc.strerror}"
        return info, None
    info["present"] = True
    info["size"] = st.st_size
    if stat.S_ISLNK(st.st_mode):
        info["error"] = "output.json is a symlink; refused"
        return info, None
    if not stat.S_ISREG(st.st_mode):
        info["error"] = "output.json is not a regular file; refused"
        return info, None
    if st.st_size > max_bytes:
        info["truncated"] = True
        info["error"] = f"output.json is {st.st_size} bytes, over the {max_bytes}-byte limit; refused"
        return info, None
    try:
        fd, _size = _open_regular(OUTPUT_PATH, None, st)
    except OSError as exc:
        info["error"] = f"output.json could not be opened: {exc.strerror or exc}"
        return info, None
    try:
        data = _read_up_to(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        info["truncated"] = True
        info["error"] = f"output.json is over the {max_bytes}-byte limit; refused"
        return info, None
    return info, data


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def artifact_segment_problem(segment: str) -> str | None:
    """Why ``segment`` (one component of an artifact's path) is refused, or None when it is acceptable."""
    if not segment or len(segment) > ARTIFACT_SEGMENT_MAX:
        return f"each part of a name must be 1-{ARTIFACT_SEGMENT_MAX} characters long"
    if segment[0] in ".-":
        return "a name part must not start with '.' or '-'"
    for char in segment:
        if char not in ARTIFACT_NAME_CHARS:
            return "names may only use A-Z a-z 0-9 and . _ - + = , @"
    return None


def artifact_name_problem(name: str) -> str | None:
    """Why the artifact path ``name`` ("dir/file.csv") is refused, or None: the same rule the worker
    applies to every name in a result frame."""
    if len(name) > ARTIFACT_NAME_MAX:
        return f"the whole name must be at most {ARTIFACT_NAME_MAX} characters"
    segments = name.split("/")
    if len(segments) > ARTIFACT_MAX_DEPTH + 1:
        return f"nested deeper than {ARTIFACT_MAX_DEPTH} directories"
    for segment in segments:
        problem = artifact_segment_problem(segment)
        if problem is not None:
            return problem
    return None


def display_name(name: str) -> str:
    """A refused name as it may be shown: quoted, escapes spelled out (no terminal control reaches a
    reader), cut to a readable length."""
    shown = ascii(name[:120])
    return shown + "..." if len(name) > 120 else shown


def collect_artifacts(max_count: int, max_bytes: int) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Regular files under /argus/artifacts as (name, open fd, size); symlinks, special files and names
    outside the artifact name rules are refused, each with its reason."""
    found: list[tuple[str, int, int]] = []
    errors: list[str] = []
    budget = [max_bytes]
    try:
        root = os.open(ARTIFACTS_DIR, _DIR_FLAGS)
    except OSError:
        return found, errors
    try:
        _walk_artifacts(root, "", 0, max_count, budget, found, errors, set())
    finally:
        os.close(root)
    if len(errors) > ARTIFACT_MAX_ERRORS:
        errors = [*errors[:ARTIFACT_MAX_ERRORS], f"... and {len(errors) - ARTIFACT_MAX_ERRORS} more"]
    return found, errors


def _walk_artifacts(
    dir_fd: int,
    prefix: str,
    depth: int,
    max_count: int,
    budget: list[int],
    found: list[tuple[str, int, int]],
    errors: list[str],
    seen: set[str],
) -> None:
    try:
        names = sorted(os.listdir(dir_fd))
    except OSError as exc:
        errors.append(f"{display_name(prefix) if prefix else '.'}: cannot list directory: {exc.strerror}")
        return
    for name in names:
        rel = prefix + name
        problem = artifact_segment_problem(name)
        if problem is None and len(rel) > ARTIFACT_NAME_MAX:
            problem = f"the whole name must be at most {ARTIFACT_NAME_MAX} characters"
        if problem is None and rel.casefold() in seen:
            problem = "another artifact has the same name but for case"
        if problem is not None:
            errors.append(f"{display_name(rel)}: {problem}; refused")
            continue
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as exc:
            errors.append(f"{rel}: cannot stat: {exc.strerror}")
            continue
        if stat.S_ISLNK(st.st_mode):
            errors.append(f"{rel}: is a symlink; refused")
        elif stat.S_ISDIR(st.st_mode):
            if depth >= ARTIFACT_MAX_DEPTH:
                errors.append(f"{rel}: nested deeper than {ARTIFACT_MAX_DEPTH} directories; refused")
                continue
            seen.add(rel.casefold())
            try:
                sub = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError as exc:
                errors.append(f"{rel}: cannot open directory: {exc.strerror}")
                continue
            try:
                _walk_artifacts(sub, rel + "/", depth + 1, max_count, budget, found, errors, seen)
            finally:
                os.close(sub)
        elif not stat.S_ISREG(st.st_mode):
            errors.append(f"{rel}: is not a regular file; refused")
        elif len(found) >= max_count:
            errors.append(f"{rel}: over the limit of {max_count} artifacts; skipped")
        elif st.st_size > budget[0]:
            errors.append(f"{rel}: {st.st_size} bytes would exceed the artifact size budget; skipped")
        else:
            try:
                fd, size = _open_regular(name, dir_fd, st)
            except OSError as exc:
                errors.append(f"{rel}: cannot open: {exc.strerror or exc}")
                continue
            seen.add(rel.casefold())
            budget[0] -= size
            found.append((rel, fd, size))


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_frame(header: dict, blobs: list[bytes | bytearray | tuple[int, int]], out_fd: int = 1) -> None:
    """Frame = magic, u32 header length, JSON header, blobs in header order, end marker.

    A blob is bytes, or (fd, size) streamed from an open file so artifacts never sit in our
    (memory-limited) address space all at once.
    """
    body = json_dumps(header).encode()
    _write_all(out_fd, RESULT_MAGIC + LENGTH.pack(len(body)) + body)
    for blob in blobs:
        if isinstance(blob, tuple):
            fd, size = blob
            remaining = size
            while remaining:
                chunk = os.read(fd, min(CHUNK, remaining))
                if not chunk:
                    # The file shrank: impossible with every writer dead; poison the frame so the
                    # worker reports a malformed result instead of mis-attributing bytes.
                    raise OSError("artifact changed while being sent")
                _write_all(out_fd, chunk)
                remaining -= len(chunk)
        else:
            _write_all(out_fd, blob)
    _write_all(out_fd, RESULT_END)


def execute(
    job: dict, prestarted: Prestarted | None = None
) -> tuple[dict, list[bytes | bytearray | tuple[int, int]]]:
    ran = _run_plugin(job, prestarted)
    if "spawn_error" in ran:
        header = _header(ran, {"present": False, "size": 0, "truncated": False, "error": None}, [], [])
        return header, [b"", b""]
    collect_started = time.monotonic()
    output_info, output = collect_output(int(job["output_max"]))
    artifacts: list[tuple[str, int, int]] = []
    artifact_errors: list[str] = []
    if job.get("artifacts"):
        artifacts, artifact_errors = collect_artifacts(
            int(job["artifacts_max_count"]), int(job["artifacts_max_bytes"])
        )
    blobs: list[bytes | bytearray | tuple[int, int]] = [ran["stdout"].data, ran["stderr"].data]
    blob_index = [
        {"kind": "stdout", "size": len(ran["stdout"].data)},
        {"kind": "stderr", "size": len(ran["stderr"].data)},
    ]
    if output is not None:
        blobs.append(output)
        blob_index.append({"kind": "output", "size": len(output)})
    for name, fd, size in artifacts:
        blobs.append((fd, size))
        blob_index.append({"kind": "artifact", "name": name, "size": size})
    header = _header(ran, output_info, artifact_errors, blob_index)
    header["timings"]["collect"] = time.monotonic() - collect_started
    return header, blobs


def _header(ran: dict, output_info: dict, artifact_errors: list[str], blob_index: list[dict]) -> dict:
    if not blob_index:
        blob_index = [{"kind": "stdout", "size": 0}, {"kind": "stderr", "size": 0}]
    return {
        "v": PROTOCOL_VERSION,
        "spawn_error": ran.get("spawn_error"),
        "exit_code": ran["exit_code"],
        "signal": ran["signal"],
        "timed_out": ran["timed_out"],
        "oom_killed": ran["oom_killed"],
        "stdout_total": ran["stdout"].total,
        "stderr_total": ran["stderr"].total,
        "output": output_info,
        "artifact_errors": artifact_errors,
        "blobs": blob_index,
        "progress": ran.get("progress"),
        "timings": {
            "plugin_start": ran.get("start_seconds", 0.0),
            "plugin_run": ran["run_seconds"],
            "kill": ran["kill_seconds"],
            "collect": 0.0,
        },
    }


def main() -> int:
    if os.getpid() != 1:
        # Only a namespace's init is immune to signals from the plugin (see the module docstring).
        sys.stderr.write("argus-launcher: must run as PID 1 (container started with an init?)\n")
        return 2
    try:
        _drop_privileges()
    except OSError as exc:
        sys.stderr.write(f"argus-launcher: {exc}\n")
        return 2
    _harden_self()
    try:
        idle = float(os.environ.get("ARGUS_IDLE_TIMEOUT", "0")) or None
    except ValueError:
        idle = None
    # The plugin's process is started while the container waits in the pool: its fork and its interpreter's
    # start-up are then no part of the run. Failing that, it is started when the job comes.
    try:
        prestarted: Prestarted | None = prestart((PLUGIN_UID, PLUGIN_GID))
    except OSError:
        prestarted = None
    try:
        job = read_job(0, idle)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"argus-launcher: bad job: {exc}\n")
        return 2
    if job is None:
        return 0  # stdin closed or idle too long: the worker is gone, nothing to do
    _write_all(1, ACK_MAGIC)
    header, blobs = execute(job, prestarted)
    write_frame(header, blobs)
    # Nothing of the plugin is left (every other process was killed): stay until the worker detaches.
    # The container's end, which costs the engine more CPU than removing it, then comes when the worker
    # removes it, at a pause in its runs, not while its next run starts (pool.RemovalDeferral).
    _wait_for_detach(0, idle)
    return 0


def _wait_for_detach(fd: int, idle_timeout: float | None) -> None:
    """Block until stdin ends (the worker detached or went away), or ``idle_timeout`` passes."""
    try:
        while select.select([fd], [], [], idle_timeout)[0] and os.read(fd, 65536):
            pass
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
