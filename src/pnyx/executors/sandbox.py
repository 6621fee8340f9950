"""The local sandbox as pure data: the bubblewrap argv, the job's environment and its limits.

Nothing here touches the machine. ``HostFacts`` (what the machine looks like: where bwrap is, which
of /bin, /lib... are symlinks, an interpreter prefix outside /usr, its memory and CPUs) is probed
once by the executor; everything else is a function of the job's spec, its grant and the
installation's ``SandboxConfig`` (from ``LocalSettings``, the PNYX_LOCAL_* settings). The supervisor
(``local_runner``) waits for one of ``max_jobs`` slots, applies ``Limits`` with setrlimit after it
has dropped to the job's uid, and execs bwrap with the ``seccomp_filter`` program. See
docs/adr/0007-local-sandbox.md.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pnyx.core.errors import InvalidInput
from pnyx.executors.local_outputs import OutputCaps
from pnyx.jobs.model import Grant, JobSpec
from pnyx.safety.model import SafetyLevel

GIB = 1 << 30
JOB_DIR = "/job"  # the job's work directory, as the job sees it (its cwd and HOME)
JOB_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, not the host's
SANDBOX_SHM = "/dev/shm"  # noqa: S108 - likewise
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (  # a minimal /etc: no passwd, no shadow, no host names, no server configuration
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/ssl/certs",
)
SHARED_DEVICES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
JOB_PROCESSES = 256
RETENTION_S = 7 * 86_400  # at least the dispatcher's output recovery window (dispatch/loop.py)
SIZE_UNITS = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
MISSING_BWRAP = (
    "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`; "
    "or PNYX_SANDBOX=off for development, L1 only"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConfig:
    """How local jobs are confined. ``enabled=False`` is the development switch (PNYX_SANDBOX=off)."""

    enabled: bool = True
    bwrap: str = "bwrap"  # a path or a name looked up on PATH
    uid_first: int = 1_500_000_000  # job attempts run as distinct uids from this range (when root)
    uid_count: int = 65_536
    max_jobs: int | None = None  # jobs running at once (the rest wait in the executor); None: one per CPU
    job_memory: int | None = None  # each job's memory share; None: the machine's memory / max_jobs
    processes: int = JOB_PROCESSES  # RLIMIT_NPROC: per uid, so per job attempt
    file_size: int = 256 * GIB  # RLIMIT_FSIZE
    open_files: int = 65_536  # RLIMIT_NOFILE (clamped to the supervisor's hard limit)
    tmpfs_bytes: int = 1 * GIB  # each of /tmp and /dev/shm, at most a quarter of the job's memory share
    log_bytes: int = 64 << 20  # output.log and output.log.1 hold at most about this much: the newest
    grace_s: float = 10.0  # SIGTERM, then SIGKILL after this long
    seccomp: bool = True  # deny the syscalls in ``seccomp.DENIED`` (bwrap --seccomp)


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSettings:
    """What the operator says this machine lends to local jobs (``from_env``; docs/executors.md)."""

    max_jobs: int | None = None  # PNYX_LOCAL_MAX_JOBS: running at once; None: one per CPU
    job_memory: int | None = None  # PNYX_LOCAL_JOB_MEMORY: each job's share; None: memory / max_jobs
    processes: int = JOB_PROCESSES  # PNYX_LOCAL_JOB_PROCESSES: RLIMIT_NPROC
    retention_s: int = RETENTION_S  # PNYX_JOB_RETENTION_S: an ended attempt's directories are kept this long
    outputs: OutputCaps = field(default_factory=OutputCaps)  # PNYX_LOCAL_OUTPUT_{FILE_BYTES,...}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocalSettings:
        caps = OutputCaps()
        return cls(
            max_jobs=_optional(env, "PNYX_LOCAL_MAX_JOBS", positive_count),
            job_memory=_optional(env, "PNYX_LOCAL_JOB_MEMORY", _bytes),
            processes=_setting(env, "PNYX_LOCAL_JOB_PROCESSES", positive_count, JOB_PROCESSES),
            retention_s=_setting(env, "PNYX_JOB_RETENTION_S", positive_count, RETENTION_S),
            outputs=OutputCaps(
                entries=_setting(env, "PNYX_LOCAL_OUTPUT_FILES", positive_count, caps.entries),
                file_bytes=_setting(env, "PNYX_LOCAL_OUTPUT_FILE_BYTES", _bytes, caps.file_bytes),
                total_bytes=_setting(env, "PNYX_LOCAL_OUTPUT_TOTAL_BYTES", _bytes, caps.total_bytes),
                seconds=_setting(env, "PNYX_LOCAL_OUTPUT_SECONDS", positive_count, int(caps.seconds)),
            ),
        )

    def sandbox(self, *, enabled: bool, uid_first: int, uid_count: int) -> SandboxConfig:
        """The sandbox these settings describe, with the switch and the uid range."""
        return SandboxConfig(
            enabled=enabled,
            uid_first=uid_first,
            uid_count=uid_count,
            max_jobs=self.max_jobs,
            job_memory=self.job_memory,
            processes=self.processes,
        )


def _optional(env: Mapping[str, str], name: str, parse: Callable[[str, str], int]) -> int | None:
    text = env.get(name, "")
    return parse(text, name) if text else None


def _setting(env: Mapping[str, str], name: str, parse: Callable[[str, str], int], default: int) -> int:
    found = _optional(env, name, parse)
    return default if found is None else found


def positive_count(text: str, name: str) -> int:
    """A setting that counts something: a positive whole number (PNYX_*; the error names it)."""
    if not text.isdigit() or int(text) == 0:
        raise InvalidInput(f"{name} must be a positive whole number, got {text!r}", field=name)
    return int(text)


def _bytes(text: str, name: str) -> int:
    """A size in bytes, or with a binary suffix: 512M, 16G, 1T."""
    number, unit = (text[:-1], text[-1].upper()) if text[-1:].isalpha() else (text, "")
    if unit not in SIZE_UNITS or not number.isdigit() or int(number) == 0:
        raise InvalidInput(f"{name} must be a size such as 16G, 512M or 1048576, got {text!r}", field=name)
    return int(number) << SIZE_UNITS[unit]


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFacts:
    """What the executor found on this machine (probed once)."""

    bwrap: str | None  # the absolute path of bwrap, None when it is not installed
    is_root: bool
    symlinks: Mapping[str, str] = field(default_factory=dict)  # /bin -> usr/bin on merged-/usr systems
    system_dirs: tuple[str, ...] = ("/usr",)  # bound read-only
    interpreter_prefix: str | None = None  # the Python base prefix when outside /usr and reachable
    memory: int = 8 * GIB  # physical memory
    cpus: int = 1  # CPUs this process may run on
    arch: str = "x86_64"  # platform.machine(): picks the seccomp filter's syscall numbers


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    memory: int  # RLIMIT_DATA: the job's share less its two tmpfs
    tmpfs: int  # each of /tmp and /dev/shm
    processes: int
    file_size: int
    open_files: int
    time_s: int

    def as_rlimits(self) -> dict[str, int]:
        """Names the supervisor maps to ``resource.RLIMIT_*`` (stdlib only over there)."""
        return {
            "RLIMIT_DATA": self.memory,
            "RLIMIT_NPROC": self.processes,
            "RLIMIT_FSIZE": self.file_size,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }


def max_jobs(config: SandboxConfig, host: HostFacts) -> int:
    """How many local jobs run at once: the setting, or one per CPU."""
    return config.max_jobs or max(1, host.cpus)


def limits_for(spec: JobSpec, config: SandboxConfig, host: HostFacts | None = None) -> Limits:
    """The job's share of this machine: its memory (the setting, or memory / max_jobs) holds its two
    tmpfs (a quarter each at most) and, in what remains, RLIMIT_DATA. The time limit is the request's.
    ``host`` None: a machine of ``HostFacts``' defaults (for callers that probed none)."""
    host = host or HostFacts(bwrap=None, is_root=False)
    share = config.job_memory or host.memory // max_jobs(config, host)
    tmpfs = max(1 << 20, min(config.tmpfs_bytes, share // 4))
    return Limits(
        memory=max(1 << 20, share - 2 * tmpfs),
        tmpfs=tmpfs,
        processes=config.processes,
        file_size=config.file_size,
        open_files=config.open_files,
        time_s=spec.time_limit_s,
    )


def refusal(spec: JobSpec, config: SandboxConfig, host: HostFacts) -> str | None:
    """Why this job may not start here, or None."""
    if not config.enabled:
        if spec.safety_level > SafetyLevel.L1:
            return f"PNYX_SANDBOX=off runs L1 jobs only; this job is L{int(spec.safety_level)}"
        return None
    if host.bwrap is None:
        return MISSING_BWRAP
    return None


def slots(spec: JobSpec, grant: Grant) -> tuple[int, ...]:
    """The granted accelerator slots on this machine (slots 0..n-1)."""
    return tuple(range(grant.counts[0] if grant.counts else spec.accelerators))


def accelerator_env(spec: JobSpec, grant: Grant) -> dict[str, str]:
    """The granted slots as the variables frameworks read, and the job's own PNYX_* variables."""
    visible = ",".join(str(i) for i in slots(spec, grant))
    return {
        "PNYX_JOB_ID": spec.job_id,
        "PNYX_IDEMPOTENCY_KEY": spec.idempotency_key,
        "PNYX_ACCELERATOR_TYPE": spec.accelerator_type,
        "PNYX_ACCELERATORS": str(spec.accelerators),
        "PNYX_NODES": ",".join(grant.node_ids),
        "PNYX_GRANT_NODES": ",".join(grant.node_ids),
        "PNYX_GRANT_COUNTS": ",".join(str(c) for c in grant.counts),
        "PNYX_OUTPUT_DIR": "outputs",  # relative to the job's working directory; hashed when it ends
        "PNYX_VISIBLE_ACCELERATORS": visible,
        "CUDA_VISIBLE_DEVICES": visible,
        "HIP_VISIBLE_DEVICES": visible,
    }


def job_env(spec: JobSpec, grant: Grant, *, home: str, host: HostFacts) -> dict[str, str]:
    """The job's whole environment: an allow-list, never the server's. The job's own ``spec.env``
    comes first, so the platform's names always win."""
    prefix_bin = [f"{host.interpreter_prefix}/bin"] if host.interpreter_prefix else []
    fixed = {
        "PATH": ":".join([*prefix_bin, JOB_PATH]),
        "HOME": home,
        "TMPDIR": SANDBOX_TMP,
        "LANG": "C.UTF-8",
    }
    return {**spec.env, **fixed, **accelerator_env(spec, grant)}


def bwrap_argv(
    host: HostFacts,
    config: SandboxConfig,
    *,
    work_dir: str,
    command: Sequence[str],
    devices: Sequence[int],
    tmpfs: int | None = None,
) -> tuple[str, ...]:
    """bwrap, run by the supervisor after it dropped to the job's uid (unprivileged user namespace).
    ``tmpfs``: each of /tmp and /dev/shm (``Limits.tmpfs``; None: ``config.tmpfs_bytes``). The
    supervisor adds ``--seccomp FD`` (a pipe holding ``seccomp_filter``) after ``argv[0]``."""
    assert host.bwrap is not None
    tmpfs = config.tmpfs_bytes if tmpfs is None else tmpfs
    return (
        host.bwrap,
        *_namespaces(),
        *_system(host),
        *_devices(devices, tmpfs),
        *("--size", str(tmpfs), "--tmpfs", SANDBOX_TMP),
        *("--bind", work_dir, JOB_DIR, "--chdir", JOB_DIR),
        *("--remount-ro", "/dev", "--remount-ro", "/"),
        "--",
        *command,
    )


def launch_record(
    spec: JobSpec, grant: Grant, config: SandboxConfig, host: HostFacts, *, work_dir: str, locks: str
) -> dict[str, object]:
    """Everything the supervisor needs, as data it can read with the standard library alone.
    ``locks``: the job root, which holds ``uids/UID.lock`` and ``slots/N.lock``."""
    sandboxed = config.enabled
    limits = limits_for(spec, config, host)
    command = spec.command
    if sandboxed:
        devices = slots(spec, grant)
        command = bwrap_argv(
            host, config, work_dir=work_dir, command=command, devices=devices, tmpfs=limits.tmpfs
        )
    return {
        "argv": list(command),
        "env": job_env(spec, grant, home=JOB_DIR if sandboxed else work_dir, host=host),
        "work_dir": work_dir,
        "sandboxed": sandboxed,
        "uids": [config.uid_first, config.uid_count] if sandboxed and host.is_root else None,
        "uid_locks": f"{locks}/uids",
        "slot_locks": f"{locks}/slots",
        "slots": max_jobs(config, host),
        "seccomp": seccomp_filter(host.arch) if sandboxed and config.seccomp else None,
        "rlimits": limits.as_rlimits(),
        "time_limit_s": spec.time_limit_s,
        "log_bytes": config.log_bytes,
        "grace_s": config.grace_s,
    }


def _namespaces() -> tuple[str, ...]:
    # --unshare-all: user, ipc, pid, net (loopback only, nothing reachable), uts, cgroup.
    return (
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",  # no nested user namespaces inside the job
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "pnyx-job",
    )


def _system(host: HostFacts) -> tuple[str, ...]:
    binds = [("--ro-bind", d, d) for d in host.system_dirs]
    links = [("--symlink", target, path) for path, target in sorted(host.symlinks.items())]
    etc = [("--ro-bind-try", f, f) for f in ETC_FILES]
    prefix = host.interpreter_prefix
    extra = [("--ro-bind", prefix, prefix)] if prefix else []
    return tuple(arg for triple in (*binds, *links, *etc, *extra) for arg in triple)


def _devices(devices: Sequence[int], shm_bytes: int) -> tuple[str, ...]:
    paths = [*SHARED_DEVICES, *(f"/dev/nvidia{i}" for i in devices)]
    binds = tuple(arg for p in paths for arg in ("--dev-bind-try", p, p))
    return ("--proc", "/proc", "--dev", "/dev", *binds, "--size", str(shm_bytes), "--tmpfs", SANDBOX_SHM)


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
