"""The seccomp program, run through an interpreter of classic BPF with the kernel's semantics."""

from __future__ import annotations

import errno

import pytest

from trainer.seccomp import (
    DENIED_SYSCALLS, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, TABLES, build_filter, host_table, instruction_count,
    run_filter,
)

X86 = TABLES["x86_64"]
ARM = TABLES["aarch64"]
EPERM = RET_ERRNO | errno.EPERM
CLONE_NEWUSER = 0x10000000
CLONE_THREAD_FLAGS = 0x003D0F00  # what glibc's pthread_create passes: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|...


@pytest.mark.parametrize("table", [X86, ARM], ids=["x86_64", "aarch64"])
def test_every_denied_call_gets_eperm(table) -> None:
    program = build_filter(table)
    for name in DENIED_SYSCALLS:
        if name in table.numbers:
            assert run_filter(program, arch=table.audit_arch, nr=table.numbers[name]) == EPERM, name


@pytest.mark.parametrize("table", [X86, ARM], ids=["x86_64", "aarch64"])
def test_the_brief_list_is_covered(table) -> None:
    required = {"io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace", "bpf", "mount", "umount2",
                "pivot_root", "unshare", "setns", "keyctl", "add_key", "request_key", "perf_event_open", "kexec_load",
                "init_module", "finit_module", "delete_module", "process_vm_readv", "process_vm_writev",
                "userfaultfd", "open_by_handle_at", "swapon", "swapoff", "reboot", "acct", "settimeofday"}
    assert required <= set(DENIED_SYSCALLS)
    assert required <= set(table.numbers)


@pytest.mark.parametrize("table", [X86, ARM], ids=["x86_64", "aarch64"])
def test_ordinary_calls_are_allowed(table) -> None:
    program = build_filter(table)
    denied = {table.numbers[n] for n in DENIED_SYSCALLS if n in table.numbers}
    special = {table.numbers["clone"], table.numbers["clone3"]}
    for nr in range(0, 460):
        if nr not in denied and nr not in special:
            assert run_filter(program, arch=table.audit_arch, nr=nr) == RET_ALLOW, nr


@pytest.mark.parametrize("table", [X86, ARM], ids=["x86_64", "aarch64"])
def test_clone_with_namespace_flags_is_denied_plain_clone_allowed(table) -> None:
    program = build_filter(table)
    clone = table.numbers["clone"]
    assert run_filter(program, arch=table.audit_arch, nr=clone, arg0=CLONE_NEWUSER) == EPERM
    assert run_filter(program, arch=table.audit_arch, nr=clone, arg0=0x40000000 | 17) == EPERM  # NEWNET
    assert run_filter(program, arch=table.audit_arch, nr=clone, arg0=17) == RET_ALLOW  # fork(): SIGCHLD
    assert run_filter(program, arch=table.audit_arch, nr=clone, arg0=CLONE_THREAD_FLAGS) == RET_ALLOW
    assert run_filter(program, arch=table.audit_arch, nr=table.numbers["clone3"]) == RET_ERRNO | errno.ENOSYS


def test_foreign_architecture_is_killed() -> None:
    program = build_filter(X86)
    i386 = 0x40000003
    assert run_filter(program, arch=i386, nr=1) == RET_KILL_PROCESS
    assert run_filter(program, arch=ARM.audit_arch, nr=1) == RET_KILL_PROCESS
    assert run_filter(build_filter(ARM), arch=X86.audit_arch, nr=1) == RET_KILL_PROCESS


def test_x32_abi_is_denied_on_x86_64() -> None:
    program = build_filter(X86)
    assert run_filter(program, arch=X86.audit_arch, nr=0x40000000 | 1) == EPERM
    assert run_filter(program, arch=X86.audit_arch, nr=0x40000000 | 425) == EPERM


def test_program_is_well_formed() -> None:
    program = build_filter(X86)
    assert len(program) % 8 == 0
    assert 0 < instruction_count(program) < 4096  # BPF_MAXINSNS
    assert build_filter(X86) == program  # deterministic
    assert host_table() is not None  # this project's CI runs on x86_64 or aarch64
