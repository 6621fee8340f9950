"""The sandbox as data: the bwrap argv, the environment allow-list, the limits, the refusals."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.executors.local_seccomp import seccomp_filter
from pnyx.executors.sandbox import (
    JOB_DIR,
    MISSING_BWRAP,
    HostFacts,
    LocalSettings,
    SandboxConfig,
    bwrap_argv,
    job_env,
    launch_record,
    limits_for,
    max_jobs,
    refusal,
)
from pnyx.safety.model import SafetyLevel
from tests.executors.conftest import GRANT, spec

HOST = HostFacts(
    bwrap="/usr/bin/bwrap",
    is_root=True,
    symlinks={"/bin": "usr/bin", "/lib": "usr/lib"},
    system_dirs=("/usr",),
)
JOB = spec("k1", "python3", "-c", "print(1)")


def _pairs(argv: tuple[str, ...], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_the_argv_confines_the_job() -> None:
    argv = bwrap_argv(
        HOST,
        SandboxConfig(),
        work_dir="/var/tmp/j/work/k1",
        command=JOB.command,
        devices=(0, 1),
        tmpfs=1 << 30,
    )
    assert argv[0] == "/usr/bin/bwrap"
    for flag in ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert "--share-net" not in argv
    assert _pairs(argv, "--ro-bind") == [("/usr", "/usr")]
    assert _pairs(argv, "--bind") == [("/var/tmp/j/work/k1", JOB_DIR)]  # the only writable host path
    assert ("usr/bin", "/bin") in _pairs(argv, "--symlink")
    assert all(src.startswith(("/etc/", "/dev/")) for src, _dst in _pairs(argv, "--ro-bind-try"))
    assert ("/dev/nvidia1", "/dev/nvidia1") in _pairs(argv, "--dev-bind-try")
    assert ("/dev/nvidia2", "/dev/nvidia2") not in _pairs(argv, "--dev-bind-try")  # not granted
    assert argv[argv.index("--chdir") + 1] == JOB_DIR
    tail = argv[argv.index("--") :]
    assert tail == ("--", "python3", "-c", "print(1)")
    assert argv[argv.index("--") - 2 :][:2] == ("--remount-ro", "/")  # the root is read-only last


def test_an_interpreter_outside_usr_is_bound_read_only_and_on_path() -> None:
    host = HostFacts(bwrap="/usr/bin/bwrap", is_root=False, interpreter_prefix="/opt/py")
    argv = bwrap_argv(host, SandboxConfig(), work_dir="/w", command=("python3",), devices=(), tmpfs=1 << 30)
    assert ("/opt/py", "/opt/py") in _pairs(argv, "--ro-bind")
    assert job_env(JOB, GRANT, home=JOB_DIR, host=host)["PATH"].startswith("/opt/py/bin:")


def test_the_environment_is_an_allow_list_the_job_cannot_override() -> None:
    job = dataclasses.replace(spec("k2", "true"), env={"PATH": "/evil", "X": "1"})
    env = job_env(job, GRANT, home=JOB_DIR, host=HOST)
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["X"] == "1"  # the job's own variables
    assert env["HOME"] == JOB_DIR
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    assert set(env) - {"X"} <= {
        "PATH", "HOME", "TMPDIR", "LANG", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
        *(k for k in env if k.startswith("PNYX_")),
    }  # fmt: skip


def test_limits_are_a_share_of_the_machine() -> None:
    host = dataclasses.replace(HOST, memory=24 << 30, cpus=2)
    limits = limits_for(spec("k3", "true", limit=90), SandboxConfig(), host)
    assert max_jobs(SandboxConfig(), host) == 2  # one job per CPU
    assert limits.time_s == 90  # the request's own limit
    assert limits.tmpfs == 1 << 30  # each of /tmp and /dev/shm
    assert limits.memory + 2 * limits.tmpfs == 12 << 30  # half the machine each: tmpfs inside the share
    assert (limits.processes, limits.as_rlimits()["RLIMIT_CORE"]) == (256, 0)
    small = limits_for(JOB, SandboxConfig(max_jobs=8, job_memory=1 << 30), host)
    assert (small.tmpfs, small.memory) == (256 << 20, 512 << 20)  # a quarter each at most
    argv = launch_record(JOB, GRANT, SandboxConfig(job_memory=1 << 30), host, work_dir="/w", locks="/r")[
        "argv"
    ]
    assert isinstance(argv, list)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--size"] == [str(256 << 20)] * 2


def test_refusals() -> None:
    assert refusal(JOB, SandboxConfig(), HOST) is None
    assert refusal(JOB, SandboxConfig(), HostFacts(bwrap=None, is_root=True)) == MISSING_BWRAP
    off = SandboxConfig(enabled=False)
    assert refusal(JOB, off, HostFacts(bwrap=None, is_root=True)) is None
    l3 = spec("k4", "true", level=SafetyLevel.L3)
    assert refusal(l3, off, HOST) == "PNYX_SANDBOX=off runs L1 jobs only; this job is L3"


def test_launch_record() -> None:
    record = launch_record(JOB, GRANT, SandboxConfig(max_jobs=3), HOST, work_dir="/w", locks="/r")
    assert record["uids"] == [1_500_000_000, 65_536]
    assert record["sandboxed"] is True
    assert (record["uid_locks"], record["slot_locks"], record["slots"]) == ("/r/uids", "/r/slots", 3)
    assert record["seccomp"] == seccomp_filter("x86_64")
    off = launch_record(JOB, GRANT, SandboxConfig(enabled=False), HOST, work_dir="/w", locks="/r")
    assert (off["argv"], off["uids"], off["sandboxed"]) == (["python3", "-c", "print(1)"], None, False)
    assert off["seccomp"] is None
    as_user = launch_record(
        JOB, GRANT, SandboxConfig(), HostFacts(bwrap="/b", is_root=False), work_dir="/w", locks="/r"
    )
    assert as_user["uids"] is None  # not root: the job keeps the server's uid, in its own namespaces


def test_the_seccomp_filter_denies_the_listed_syscalls_and_other_abis() -> None:
    program = seccomp_filter("x86_64")
    assert program is not None
    insns = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    assert insns[0] == (0x20, 0, 0, 4)  # load the architecture
    assert (insns[1][3], insns[1][2]) == (0xC000003E, len(insns) - 3)  # not x86_64: to the EPERM
    assert insns[3] == (0x35, len(insns) - 5, 0, 0x40000000)  # x32 syscalls: to the EPERM
    denied = {k for code, _jt, _jf, k in insns[4:-2] if code == 0x15}
    assert {
        101,
        165,
        250,
        321,
        298,
        323,
        246,
        425,
    } <= denied  # ptrace mount keyctl bpf perf uffd kexec io_uring
    checks = list(enumerate(insns))[4:-2]
    assert all(code == 0x15 and i + 1 + jt == len(insns) - 1 for i, (code, jt, _jf, _k) in checks)
    assert insns[-2:] == [(0x06, 0, 0, 0x7FFF0000), (0x06, 0, 0, 0x00050001)]  # allow; else EPERM
    assert seccomp_filter("riscv64") is None


def test_local_settings_from_the_environment() -> None:
    env = {"PNYX_LOCAL_MAX_JOBS": "3", "PNYX_LOCAL_JOB_MEMORY": "2G", "PNYX_JOB_RETENTION_S": "60",
           "PNYX_LOCAL_OUTPUT_TOTAL_BYTES": "512M", "PNYX_LOCAL_OUTPUT_SECONDS": "5"}  # fmt: skip
    local = LocalSettings.from_env(env)
    assert (local.max_jobs, local.job_memory, local.processes, local.retention_s) == (3, 2 << 30, 256, 60)
    assert (local.outputs.total_bytes, local.outputs.seconds, local.outputs.file_bytes) == (
        512 << 20,
        5,
        4 << 30,
    )
    config = local.sandbox(enabled=True, uid_first=10, uid_count=5)
    assert (config.max_jobs, config.job_memory, config.uid_first) == (3, 2 << 30, 10)
    assert LocalSettings.from_env({}) == LocalSettings()
    for name, bad in (
        ("PNYX_LOCAL_MAX_JOBS", "0"),
        ("PNYX_LOCAL_JOB_MEMORY", "2X"),
        ("PNYX_JOB_RETENTION_S", "-1"),
    ):
        with pytest.raises(InvalidInput, match=name):
            LocalSettings.from_env({name: bad})
