"""The local sandbox as pure data: the bubblewrap argv, the job's environment and its limits.

Nothing here touches the machine. ``HostFacts`` (what the machine looks like: where bwrap is, which
of /bin, /lib... are symlinks, an interpreter prefix outside /usr, its memory and CPUs) is probed
once by the executor; everything else is a function of the job's spec, its grant and the
installation's ``SandboxConfig`` (from ``LocalSettings``, the PNYX_LOCAL_* settings). The supervisor
(``local_runner``) waits for one of ``max_jobs`` slots, applies ``Limits`` with setrlimit after it
has dropped to the job's uid, and execs bwrap with the ``seccomp_filter`` program
(``local_seccomp``). A job's runtime and inputs beyond its work directory are ``extra_binds``, which
the supervisor stages where a job uid can reach them (``local_mounts``). See
docs/adr/0007-local-sandbox.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pnyx.core.errors import InvalidInput
from pnyx.executors.local_mounts import staged
from pnyx.executors.local_outputs import OutputCaps
from pnyx.executors.local_seccomp import seccomp_filter
from pnyx.jobs.model import Grant, JobSpec
from pnyx.safety.model import SafetyLevel

GIB = 1 << 30
JOB_DIR = "/job"  # the job's work directory, as the job sees it (its cwd and HOME)
INPUTS_DIR = "/inputs"  # the job's dataset versions, read-only: /inputs/<version>
SEALED_INPUTS = f"{INPUTS_DIR}/.sealed"  # an SME workspace job's ciphertexts: /inputs/.sealed/<object id>
STAGE_DIR = "stage"  # under the job root: where the supervisor stages binds in the job's own mounts
JOB_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own tmpfs, not the host's
SANDBOX_SHM = "/dev/shm"  # noqa: S108 - likewise
HOSTNAME = "pnyx-job"
HOSTS = f"127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n"  # the sandbox's own /etc/hosts
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
class Runtime:
    """What a job may run beyond the system (PNYX_LOCAL_RUNTIME, ``local_runtime``): directories
    bound read-only at their own paths (a Python environment, the directory holding ``pnyx``) and
    the directories put first on its PATH. Empty: the system's and the base Python's only."""

    binds: tuple[str, ...] = ()
    path: tuple[str, ...] = ()


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
    runtime: Runtime = field(default_factory=Runtime)  # PNYX_LOCAL_RUNTIME


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSettings:
    """What the operator says this machine lends to local jobs (``from_env``; docs/executors.md)."""

    max_jobs: int | None = None  # PNYX_LOCAL_MAX_JOBS: running at once; None: one per CPU
    job_memory: int | None = None  # PNYX_LOCAL_JOB_MEMORY: each job's share; None: memory / max_jobs
    processes: int = JOB_PROCESSES  # PNYX_LOCAL_JOB_PROCESSES: RLIMIT_NPROC
    retention_s: int = RETENTION_S  # PNYX_JOB_RETENTION_S: an ended attempt's directories are kept this long
    outputs: OutputCaps = field(default_factory=OutputCaps)  # PNYX_LOCAL_OUTPUT_{FILE_BYTES,...}
    runtime: Runtime = field(default_factory=Runtime)  # PNYX_LOCAL_RUNTIME, resolved by ``local_runtime``

    @classmethod
    def from_env(cls, env: Mapping[str, str], runtime: Runtime | None = None) -> LocalSettings:
        caps = OutputCaps()
        return cls(
            runtime=runtime or Runtime(),
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
            runtime=self.runtime,
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


def job_path(host: HostFacts, runtime: Runtime | None = None) -> tuple[str, ...]:
    """The directories of a sandboxed job's PATH, in order (the same paths inside and outside)."""
    prefix_bin = (f"{host.interpreter_prefix}/bin",) if host.interpreter_prefix else ()
    return (*(runtime.path if runtime else ()), *prefix_bin, *JOB_PATH.split(":"))


def job_env(
    spec: JobSpec,
    grant: Grant,
    *,
    home: str,
    host: HostFacts,
    runtime: Runtime | None = None,
    inputs: str = INPUTS_DIR,
) -> dict[str, str]:
    """The job's whole environment: an allow-list, never the server's. The job's own ``spec.env``
    comes first, so the platform's names always win. ``runtime``'s directories lead its PATH;
    ``inputs`` holds its dataset versions (``PNYX_INPUTS``, /inputs in the sandbox)."""
    fixed = {
        "PATH": ":".join(job_path(host, runtime)),
        "HOME": home,
        "TMPDIR": SANDBOX_TMP,
        "LANG": "C.UTF-8",
        "PNYX_INPUTS": inputs,
    }
    return {**spec.env, **fixed, **accelerator_env(spec, grant)}


def extra_binds(spec: JobSpec, config: SandboxConfig) -> tuple[tuple[str, str], ...]:
    """(host path, where the job sees it), read-only: the runtime at its own paths, each dataset
    version at /inputs/<version>, each sealed object's ciphertext at /inputs/.sealed/<object id>."""
    inputs = tuple((i.path, f"{INPUTS_DIR}/{i.version}") for i in spec.inputs)
    sealed = (
        tuple((i.path, f"{SEALED_INPUTS}/{i.object_id}") for i in spec.sealed.inputs) if spec.sealed else ()
    )
    return (*((d, d) for d in config.runtime.binds), *inputs, *sealed)


def input_links(spec: JobSpec, *, sandboxed: bool) -> list[list[str]]:
    """(target, name in the work directory): ``inputs/<version>`` finds each input from the job's
    working directory on every engine (Slurm and Ray link them there too, ``job_dirs``)."""
    if not spec.inputs:
        return []
    if sandboxed:
        return [[INPUTS_DIR, "inputs"]]
    return [[i.path, f"inputs/{i.version}"] for i in spec.inputs]


def bwrap_argv(
    host: HostFacts,
    config: SandboxConfig,
    *,
    work_dir: str,
    command: Sequence[str],
    devices: Sequence[int],
    tmpfs: int | None = None,
    binds: Sequence[tuple[str, str]] = (),
    work: Sequence[str] = (),
) -> tuple[str, ...]:
    """bwrap, run by the supervisor after it dropped to the job's uid (unprivileged user namespace).
    ``tmpfs``: each of /tmp and /dev/shm (``Limits.tmpfs``; None: ``config.tmpfs_bytes``). ``binds``:
    (source, destination) bound read-only (``extra_binds``, as ``staged``). ``work``: what /job is
    (empty: ``work_dir`` bound; a sealed job's tmpfs, ``local_sealed``). The supervisor adds
    ``--seccomp FD`` (a pipe holding ``seccomp_filter``) after ``argv[0]``."""
    assert host.bwrap is not None
    tmpfs = config.tmpfs_bytes if tmpfs is None else tmpfs
    return (
        host.bwrap,
        *_namespaces(),
        *_system(host),
        *_devices(devices, tmpfs),
        *("--size", str(tmpfs), "--tmpfs", SANDBOX_TMP),
        *(work or ("--bind", work_dir, JOB_DIR)),
        *("--chdir", JOB_DIR, "--dir", INPUTS_DIR),
        *(arg for src, dst in binds for arg in ("--ro-bind", src, dst)),
        *("--remount-ro", "/dev", "--remount-ro", "/"),
        "--",
        *command,
    )


def launch_record(
    spec: JobSpec,
    grant: Grant,
    config: SandboxConfig,
    host: HostFacts,
    *,
    work_dir: str,
    locks: str,
    work: Sequence[str] = (),
) -> dict[str, object]:
    """Everything the supervisor needs, as data it can read with the standard library alone.
    ``locks``: the job root, which holds ``uids/UID.lock`` and ``slots/N.lock``; ``work``: /job."""
    sandboxed = config.enabled
    limits = limits_for(spec, config, host)
    command = spec.command
    stage_root = f"{locks}/{STAGE_DIR}"
    binds, stage = staged(extra_binds(spec, config), stage_root if host.is_root else None, INPUTS_DIR)
    if sandboxed:
        command = bwrap_argv(
            host,
            config,
            work_dir=work_dir,
            command=command,
            devices=slots(spec, grant),
            tmpfs=limits.tmpfs,
            binds=binds,
            work=work,
        )
    home, inputs = (JOB_DIR, INPUTS_DIR) if sandboxed else (work_dir, f"{work_dir}/inputs")
    return {
        "argv": list(command),
        "env": job_env(spec, grant, home=home, host=host, runtime=config.runtime, inputs=inputs),
        "work_dir": work_dir,
        "stage_root": stage_root,
        "stage": [list(triple) for triple in stage] if sandboxed else [],
        "links": input_links(spec, sandboxed=sandboxed),
        "sandboxed": sandboxed,
        "uids": [config.uid_first, config.uid_count] if sandboxed and host.is_root else None,
        "uid_locks": f"{locks}/uids",
        "slot_locks": f"{locks}/slots",
        "slots": max_jobs(config, host),
        "seccomp": seccomp_filter(host.arch) if sandboxed and config.seccomp else None,
        "hosts": HOSTS.encode() if sandboxed else b"",
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
        HOSTNAME,
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
