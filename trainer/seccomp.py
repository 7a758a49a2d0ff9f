"""The seccomp deny list of the training sandbox, compiled to a classic-BPF program for ``bwrap --seccomp FD``.

The program (what the kernel runs on every system call of the sandboxed process tree):

1. load ``seccomp_data.arch``; any architecture other than the one whose table we built is killed outright (this also
   stops 32-bit compat calls on x86_64, whose numbers mean different calls);
2. load ``seccomp_data.nr``; on x86_64 deny the x32 ABI (``nr >= 0x40000000``);
3. a denied call returns ``EPERM``; ``clone`` with any ``CLONE_NEW*`` flag returns ``EPERM``; ``clone3`` returns
   ``ENOSYS`` (its flags sit behind a pointer that seccomp cannot read, and glibc then falls back to ``clone``);
4. everything else is allowed.

Pure Python, no libseccomp: :func:`build_filter` returns the bytes of ``struct sock_filter[]``.
"""

from __future__ import annotations

import errno
import logging
import platform
import struct
from dataclasses import dataclass
from typing import Mapping

__all__ = [
    "DENIED_SYSCALLS", "SyscallTable", "TABLES", "build_filter", "host_table", "instruction_count", "run_filter",
]

log = logging.getLogger(__name__)

# classic BPF opcodes (linux/bpf_common.h)
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K

# seccomp return values (linux/seccomp.h)
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

# offsets in struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16  # little-endian: the low 32 bits of args[0]

_X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
_CLONE_NEW_MASK = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

DENIED_SYSCALLS: tuple[str, ...] = (
    # async I/O that bypasses seccomp for the operations it carries
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # looking into or steering other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    # kernel attack surface
    "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    # namespaces and mounts (the sandbox is built before the filter is loaded)
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at",
    # the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "iopl", "ioperm", "lookup_dcookie", "uselib",
)


@dataclass(frozen=True)
class SyscallTable:
    """The numbers of the calls we filter on one architecture."""

    name: str  # platform.machine() spelling
    audit_arch: int  # AUDIT_ARCH_* (linux/audit.h)
    numbers: Mapping[str, int]
    has_x32: bool


_X86_64 = SyscallTable(
    name="x86_64",
    audit_arch=0xC000003E,
    has_x32=True,
    numbers={
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438, "kcmp": 312,
        "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249,
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
        "mount_setattr": 442, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
        "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163, "quotactl": 179, "syslog": 103, "vhangup": 153,
        "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
        "sethostname": 170, "setdomainname": 171,
        "iopl": 172, "ioperm": 173, "lookup_dcookie": 212, "uselib": 134,
        "clone": 56, "clone3": 435,
    },
)

_AARCH64 = SyscallTable(
    name="aarch64",
    audit_arch=0xC00000B7,
    has_x32=False,
    numbers={
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438, "kcmp": 272,
        "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "keyctl": 219, "add_key": 217, "request_key": 218,
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
        "mount_setattr": 442, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89, "quotactl": 60, "syslog": 116, "vhangup": 58,
        "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "sethostname": 161, "setdomainname": 162, "lookup_dcookie": 18,
        # iopl, ioperm, uselib do not exist on arm64
        "clone": 220, "clone3": 435,
    },
)

TABLES: Mapping[str, SyscallTable] = {"x86_64": _X86_64, "amd64": _X86_64, "aarch64": _AARCH64, "arm64": _AARCH64}


def host_table() -> SyscallTable | None:
    """The table for the machine we run on, or None where we have none (the sandbox then refuses to start)."""
    return TABLES.get(platform.machine().lower())


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def build_filter(table: SyscallTable | None = None) -> bytes:
    """Compile the deny list for ``table`` (default: this machine) into ``struct sock_filter[]`` bytes."""
    table = table or host_table()
    if table is None:
        raise ValueError(f"no syscall table for {platform.machine()!r}")
    denied = [table.numbers[name] for name in DENIED_SYSCALLS if name in table.numbers]
    # Instructions are built with symbolic jump targets, then resolved: ("jeq", k, label) jumps to label when equal.
    prog: list[tuple[str, int, str]] = []
    prog.append(("ld", _OFF_ARCH, ""))
    prog.append(("jne", table.audit_arch, "kill"))
    prog.append(("ld", _OFF_NR, ""))
    if table.has_x32:
        prog.append(("jge", _X32_SYSCALL_BIT, "eperm"))
    for nr in denied:
        prog.append(("jeq", nr, "eperm"))
    prog.append(("jeq", table.numbers["clone3"], "enosys"))
    prog.append(("jeq", table.numbers["clone"], "clone"))
    prog.append(("ret", RET_ALLOW, ""))
    labels: dict[str, int] = {}
    for label, ret in (("clone", None), ("eperm", RET_ERRNO | errno.EPERM), ("enosys", RET_ERRNO | errno.ENOSYS),
                       ("kill", RET_KILL_PROCESS)):
        labels[label] = len(prog)
        if ret is None:  # clone: deny any namespace flag in args[0]
            prog.append(("ld", _OFF_ARG0_LOW, ""))
            prog.append(("jset", _CLONE_NEW_MASK, "eperm"))
            prog.append(("ret", RET_ALLOW, ""))
        else:
            prog.append(("ret", ret, ""))
    out = bytearray()
    for index, (op, k, target) in enumerate(prog):
        if op == "ld":
            code, jt, jf = _LD_W_ABS, 0, 0
        elif op == "ret":
            code, jt, jf = _RET_K, 0, 0
        else:
            offset = labels[target] - index - 1
            if not 0 <= offset <= 255:
                raise ValueError(f"jump too far in seccomp program ({offset})")
            code = {"jeq": _JEQ_K, "jne": _JEQ_K, "jge": _JGE_K, "jset": _JSET_K}[op]
            jt, jf = (0, offset) if op == "jne" else (offset, 0)
        out += struct.pack("=HBBI", code, jt, jf, k)
    return bytes(out)


def instruction_count(program: bytes) -> int:
    """How many ``sock_filter`` entries a compiled program holds (8 bytes each)."""
    return len(program) // 8


def run_filter(program: bytes, *, arch: int, nr: int, arg0: int = 0) -> int:
    """Interpret ``program`` on one system call (the kernel's semantics, for tests): the seccomp return value."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    insns: list[tuple[int, int, int, int]] = [struct.unpack_from("=HBBI", program, i)
                                              for i in range(0, len(program), 8)]
    acc = 0
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == _LD_W_ABS:
            acc = int(struct.unpack_from("=I", data, k)[0])
            pc += 1
        elif code == _RET_K:
            return k
        else:
            if code == _JEQ_K:
                taken = acc == k
            elif code == _JGE_K:
                taken = acc >= k
            elif code == _JSET_K:
                taken = bool(acc & k)
            else:
                raise ValueError(f"unknown opcode {code:#x} at {pc}")
            pc += 1 + (jt if taken else jf)
