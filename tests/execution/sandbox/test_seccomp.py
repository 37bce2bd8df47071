"""The sandbox's own seccomp profile (execution/sandbox/seccomp.json): what it refuses, tried from inside."""

from __future__ import annotations

import errno
import json

import docker
import pytest

from execution.sandbox import ContainerPool, Outcome, run_job
from execution.sandbox.container import SECCOMP_PROFILE_PATH, seccomp_security_opt

# x86_64 syscall numbers and harmless arguments: every call either fails at the filter or would fail on its
# arguments (which is still "allowed", and the test then sees that errno instead of EPERM/ENOSYS).
PROBE = """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CALLS = {
    "io_uring_setup": (425, [8, 0]),
    "io_uring_enter": (426, [0, 0, 0, 0, 0, 0]),
    "io_uring_register": (427, [0, 0, 0, 0]),
    "userfaultfd": (323, [0]),
    "perf_event_open": (298, [0, 0, -1, -1, 0]),
    "bpf": (321, [0, 0, 0]),
    "keyctl": (250, [0, 0, 0, 0, 0]),
    "add_key": (248, [0, 0, 0, 0, 0]),
    "request_key": (249, [0, 0, 0, 0]),
    "ptrace": (101, [16, 1, 0, 0]),
    "process_vm_readv": (310, [1, 0, 0, 0, 0, 0]),
    "modify_ldt": (154, [0, 0, 0]),
    "socket(AF_VSOCK)": (41, [40, 1, 0]),
    "socket(AF_NETLINK)": (41, [16, 3, 0]),
    "socket(AF_PACKET)": (41, [17, 3, 0]),
    "socket(AF_ALG)": (41, [38, 5, 0]),
    "socketpair(AF_INET)": (53, [2, 1, 0, 0]),
    "socket(AF_UNIX)": (41, [1, 1, 0]),
    "socket(AF_INET)": (41, [2, 1, 0]),
    "socket(AF_INET6)": (41, [10, 1, 0]),
    "clone3": (435, [0, 0]),
}
result = {}
for name, (number, args) in CALLS.items():
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args))
    result[name] = "ok" if rc >= 0 else ctypes.get_errno()
import socket, subprocess, threading
a, b = socket.socketpair()  # AF_UNIX: what multiprocessing and asyncio use
a.sendall(b"ping")
result["socketpair_works"] = b.recv(4) == b"ping"
server = socket.create_server(("127.0.0.1", 0))  # loopback TCP inside the sandbox still works
client = socket.create_connection(server.getsockname())
result["loopback_tcp_works"] = server.accept()[0] is not None
result["subprocess_works"] = subprocess.run(["true"]).returncode == 0
thread = threading.Thread(target=result.__setitem__, args=("thread_works", True))
thread.start()
thread.join()
print(json.dumps(result))
"""

REFUSED = [
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "perf_event_open",
    "bpf",
    "keyctl",
    "add_key",
    "request_key",
    "ptrace",
    "process_vm_readv",
    "modify_ldt",
    "socket(AF_VSOCK)",
    "socket(AF_NETLINK)",
    "socket(AF_PACKET)",
    "socket(AF_ALG)",
    "socketpair(AF_INET)",
]


@pytest.mark.docker
def test_every_refused_call_fails_at_the_filter_and_the_rest_works(
    make_job, docker_client: docker.DockerClient, sandbox_pool: ContainerPool
) -> None:
    result = run_job(docker_client, make_job(PROBE), pool=sandbox_pool)
    assert result.outcome == Outcome.COMPLETED and result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    refused = {name: report[name] for name in REFUSED}
    assert all(code in (errno.EPERM, errno.ENOSYS) for code in refused.values()), refused
    assert {name: report[name] for name in ("socket(AF_UNIX)", "socket(AF_INET)", "socket(AF_INET6)")} == {
        "socket(AF_UNIX)": "ok",
        "socket(AF_INET)": "ok",
        "socket(AF_INET6)": "ok",
    }
    assert report["socketpair_works"] and report["loopback_tcp_works"] and report["subprocess_works"]
    # ENOSYS exactly, under runc (the profile's errnoRet) and gVisor (its kernel has no clone3): glibc then
    # falls back to clone, and threads start (on EPERM they could not).
    assert report["clone3"] == errno.ENOSYS and report.get("thread_works") is True, report


def test_the_profile_allows_none_of_the_refused_calls_under_any_condition() -> None:
    profile = json.loads(SECCOMP_PROFILE_PATH.read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    never = {name for name in REFUSED if "(" not in name} | {"socketcall", "process_vm_writev", "kcmp"}
    allowed = [rule for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW"]
    assert not never & {name for rule in allowed for name in rule["names"]}
    # socket and socketpair only ever for the families that a plugin needs, matched on their first argument.
    families = {
        name: sorted(arg["value"] for rule in allowed if name in rule["names"] for arg in rule["args"])
        for name in ("socket", "socketpair")
    }
    assert families == {"socket": [1, 2, 10], "socketpair": [1]}
    for rule in allowed:
        if {"socket", "socketpair"} & set(rule["names"]):
            assert rule["names"] in (["socket"], ["socketpair"])
            assert [(arg["index"], arg["op"]) for arg in rule["args"]] == [(0, "SCMP_CMP_EQ")]
    assert seccomp_security_opt().startswith('seccomp={"defaultAction"')


def test_the_gvisor_variant_differs_only_in_letting_clone3_reach_gvisors_kernel() -> None:
    runc = json.loads(seccomp_security_opt(gvisor=False).removeprefix("seccomp="))
    gvisor = json.loads(seccomp_security_opt(gvisor=True).removeprefix("seccomp="))
    assert runc == json.loads(SECCOMP_PROFILE_PATH.read_text())
    changed = [(a, b) for a, b in zip(runc["syscalls"], gvisor["syscalls"], strict=True) if a != b]
    assert changed == [
        (
            {**changed[0][0], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
            {key: value for key, value in changed[0][0].items() if key != "errnoRet"} | {"action": "SCMP_ACT_ALLOW"},
        )
    ]
    assert changed[0][0]["names"] == ["clone3"]
    assert {key: value for key, value in runc.items() if key != "syscalls"} == {
        key: value for key, value in gvisor.items() if key != "syscalls"
    }
