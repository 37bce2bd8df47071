"""Derive execution/sandbox/seccomp.json from Docker's default seccomp profile (moby's
profiles/seccomp/default.json of the installed engine's version, e.g. tag v20.10.24).

    python3 scripts/derive_seccomp_profile.py path/to/moby/default.json execution/sandbox/seccomp.json

Docker's rules are kept as they are (a rule under a capability applies to no sandbox: every capability is
dropped), minus the calls a plugin never needs; socket() and socketpair() are allowed for the families
a plugin needs only. What is refused, and why, is in the README ("Sandbox hardening").
"""

from __future__ import annotations

import json
import sys

#: Refused as ENOSYS under runc, as on a kernel built without them, so that libraries fall back cleanly.
REFUSED_AS_MISSING = [
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "perf_event_open",
    "bpf",
]
#: Refused with EPERM (the profile's default action): keyrings, tracing and reading other processes, the x86
#: LDT, the 32-bit socket multiplexer (it would hide socket()'s family from the filter), and rarely used
#: calls with a history of kernel bugs.
REFUSED = [
    "keyctl",
    "add_key",
    "request_key",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "process_madvise",
    "modify_ldt",
    "socketcall",
    "vmsplice",
    "remap_file_pages",
    "fanotify_mark",
    "lookup_dcookie",
    "name_to_handle_at",
    "open_by_handle_at",
]
#: AF_UNIX (socketpair, multiprocessing, asyncio), AF_INET and AF_INET6: with no network (only a loopback
#: device) these reach nothing outside the container, and libraries probe them. Every other family (AF_VSOCK,
#: AF_NETLINK, AF_PACKET, AF_ALG, AF_BLUETOOTH...) is refused.
SOCKET_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}
ENOSYS = 38


def _rule(names: list[str], action: str, comment: str, args: list | None = None, **extra: object) -> dict:
    return {
        "names": names,
        "action": action,
        **extra,
        "args": args or [],
        "comment": comment,
        "includes": {},
        "excludes": {},
    }


def derive(docker_default: dict) -> dict:
    dropped = {*REFUSED_AS_MISSING, *REFUSED, "socket", "socketpair"}
    rules = []
    for rule in docker_default["syscalls"]:
        names = [name for name in rule["names"] if name not in dropped]
        if names:
            rules.append({**rule, "names": names})
    for family, number in SOCKET_FAMILIES.items():
        rules.append(
            _rule(
                ["socket"],
                "SCMP_ACT_ALLOW",
                f"argus: socket() for {family}; every other family is refused",
                [{"index": 0, "value": number, "op": "SCMP_CMP_EQ"}],
            )
        )
    rules.append(
        _rule(
            ["socketpair"],
            "SCMP_ACT_ALLOW",
            "argus: socketpair() for AF_UNIX only",
            [{"index": 0, "value": SOCKET_FAMILIES["AF_UNIX"], "op": "SCMP_CMP_EQ"}],
        )
    )
    rules.append(
        _rule(
            ["pselect"],
            "SCMP_ACT_ALLOW",
            "argus: gVisor's name for pselect6 (runsc --oci-seccomp "
            "looks names up in its own table, runc ignores names it does not know); without it glibc's "
            "select() fails under gVisor",
        )
    )
    rules.append(
        _rule(
            REFUSED_AS_MISSING,
            "SCMP_ACT_ERRNO",
            "argus: refused as ENOSYS, as on a kernel without "
            "them (gVisor answers EPERM: it ignores errnoRet)",
            errnoRet=ENOSYS,
        )
    )
    return {
        "defaultAction": docker_default["defaultAction"],
        "archMap": docker_default["archMap"],
        "syscalls": rules,
    }


if __name__ == "__main__":
    source, target = sys.argv[1:3]
    with open(source) as fh:
        profile = derive(json.load(fh))
    with open(target, "w") as fh:
        json.dump(profile, fh, indent=1)
        fh.write("\n")
