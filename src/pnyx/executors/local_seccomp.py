"""The seccomp program of the local sandbox (pure data): bwrap's ``--seccomp FD`` loads it."""

from __future__ import annotations

import struct

# seccomp: EPERM for syscalls a job has no business with and that are the kernel's riskiest surface
# (tracing other processes, loading kernels and modules, mounting, the keyring, eBPF, perf events,
# userfaultfd, io_uring), and for every syscall made through another ABI (i386 int 0x80, x32), whose
# numbers the list below would not catch. Numbers: the kernel's unistd_64.h and asm-generic/unistd.h.
DENIED = {  # name: (x86_64, aarch64)
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "init_module": (175, 105),
    "finit_module": (313, 273), "delete_module": (176, 106), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "syslog": (103, 116),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "open_tree": (428, 428),
    "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432),
    "fspick": (433, 433), "mount_setattr": (442, 442), "quotactl": (179, 60), "quotactl_fd": (443, 443),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "fanotify_init": (300, 262),
    "lookup_dcookie": (212, 18), "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
}  # fmt: skip
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06  # classic BPF opcodes
RET_ALLOW, RET_EPERM = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM


def seccomp_filter(arch: str) -> bytes | None:
    """The classic-BPF program bwrap's ``--seccomp FD`` loads (``struct sock_filter[]``, native byte
    order); None on an architecture without syscall numbers here (the job then runs unfiltered)."""
    if arch not in AUDIT_ARCH:
        return None
    column = list(AUDIT_ARCH).index(arch)
    denied = sorted({numbers[column] for numbers in DENIED.values()})
    deny_at = 4 + len(denied) + 1  # after the checks and the ALLOW
    program = [
        (LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (JEQ_K, 0, deny_at - 2, AUDIT_ARCH[arch]),
        (LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (JGE_K, deny_at - 4, 0, X32_SYSCALL_BIT),
        *((JEQ_K, deny_at - 5 - i, 0, nr) for i, nr in enumerate(denied)),
        (RET_K, 0, 0, RET_ALLOW),
        (RET_K, 0, 0, RET_EPERM),
    ]
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)
