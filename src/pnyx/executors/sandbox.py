"""The local sandbox as pure data: the bubblewrap argv, the job's environment and its limits.

Nothing here touches the machine. ``HostFacts`` (what the machine looks like: where bwrap is, which
of /bin, /lib... are symlinks, an interpreter prefix outside /usr) is probed once by the executor;
everything else is a function of the job's spec, its grant and the installation's ``SandboxConfig``.
The supervisor (``local_runner``) applies ``Limits`` with setrlimit after it has dropped to the
job's uid and before it execs bwrap. See docs/adr/0007-local-sandbox.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pnyx.inventory.model import SafetyLevel
from pnyx.jobs.model import Grant, JobSpec

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
    memory_per_accelerator: int = 64 * GIB  # RLIMIT_DATA per process: accelerators on the node x this
    processes: int = 1024  # RLIMIT_NPROC: per uid, so per job attempt
    file_size: int = 256 * GIB  # RLIMIT_FSIZE
    open_files: int = 65_536  # RLIMIT_NOFILE (clamped to the supervisor's hard limit)
    tmpfs_bytes: int = 4 * GIB  # each of /tmp and /dev/shm inside the sandbox
    log_bytes: int = 64 << 20  # output.log and output.log.1 hold at most about this much: the newest
    grace_s: float = 10.0  # SIGTERM, then SIGKILL after this long


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFacts:
    """What the executor found on this machine (probed once)."""

    bwrap: str | None  # the absolute path of bwrap, None when it is not installed
    is_root: bool
    symlinks: Mapping[str, str] = field(default_factory=dict)  # /bin -> usr/bin on merged-/usr systems
    system_dirs: tuple[str, ...] = ("/usr",)  # bound read-only
    interpreter_prefix: str | None = None  # the Python base prefix when outside /usr and reachable


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    memory: int
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


def limits_for(spec: JobSpec, config: SandboxConfig) -> Limits:
    per_node = max(1, spec.accelerators_per_node)
    return Limits(
        memory=config.memory_per_accelerator * per_node,
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
    host: HostFacts, config: SandboxConfig, *, work_dir: str, command: Sequence[str], devices: Sequence[int]
) -> tuple[str, ...]:
    """bwrap, run by the supervisor after it dropped to the job's uid (unprivileged user namespace)."""
    assert host.bwrap is not None
    return (
        host.bwrap,
        *_namespaces(),
        *_system(host),
        *_devices(devices, config.tmpfs_bytes),
        "--size",
        str(config.tmpfs_bytes),
        "--tmpfs",
        SANDBOX_TMP,
        *("--bind", work_dir, JOB_DIR, "--chdir", JOB_DIR),
        *("--remount-ro", "/dev", "--remount-ro", "/"),
        "--",
        *command,
    )


def launch_record(
    spec: JobSpec, grant: Grant, config: SandboxConfig, host: HostFacts, *, work_dir: str, uid_locks: str
) -> dict[str, object]:
    """Everything the supervisor needs, as JSON it can read with the standard library alone."""
    sandboxed = config.enabled
    devices = slots(spec, grant)
    argv = (
        bwrap_argv(host, config, work_dir=work_dir, command=spec.command, devices=devices)
        if sandboxed
        else spec.command
    )
    return {
        "argv": list(argv),
        "env": job_env(spec, grant, home=JOB_DIR if sandboxed else work_dir, host=host),
        "work_dir": work_dir,
        "sandboxed": sandboxed,
        "uids": [config.uid_first, config.uid_count] if sandboxed and host.is_root else None,
        "uid_locks": uid_locks,
        "rlimits": limits_for(spec, config).as_rlimits(),
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
