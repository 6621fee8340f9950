"""The sandbox as data: the bwrap argv, the environment allow-list, the limits, the refusals."""

from __future__ import annotations

import dataclasses

from pnyx.executors.sandbox import (
    JOB_DIR,
    MISSING_BWRAP,
    HostFacts,
    SandboxConfig,
    bwrap_argv,
    job_env,
    launch_record,
    limits_for,
    refusal,
)
from pnyx.inventory.model import SafetyLevel
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
        HOST, SandboxConfig(), work_dir="/var/tmp/j/work/k1", command=JOB.command, devices=(0, 1)
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
    argv = bwrap_argv(host, SandboxConfig(), work_dir="/w", command=("python3",), devices=())
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


def test_limits_follow_the_request() -> None:
    limits = limits_for(spec("k3", "true", limit=90), SandboxConfig(memory_per_accelerator=1 << 30))
    assert (limits.memory, limits.time_s) == (4 << 30, 90)  # four accelerators on the node
    assert limits.as_rlimits()["RLIMIT_CORE"] == 0


def test_refusals() -> None:
    assert refusal(JOB, SandboxConfig(), HOST) is None
    assert refusal(JOB, SandboxConfig(), HostFacts(bwrap=None, is_root=True)) == MISSING_BWRAP
    off = SandboxConfig(enabled=False)
    assert refusal(JOB, off, HostFacts(bwrap=None, is_root=True)) is None
    l3 = spec("k4", "true", level=SafetyLevel.L3)
    assert refusal(l3, off, HOST) == "PNYX_SANDBOX=off runs L1 jobs only; this job is L3"


def test_launch_record() -> None:
    record = launch_record(JOB, GRANT, SandboxConfig(), HOST, work_dir="/w", uid_locks="/u")
    assert record["uids"] == [1_500_000_000, 65_536]
    assert record["sandboxed"] is True
    off = launch_record(JOB, GRANT, SandboxConfig(enabled=False), HOST, work_dir="/w", uid_locks="/u")
    assert (off["argv"], off["uids"], off["sandboxed"]) == (["python3", "-c", "print(1)"], None, False)
    as_user = launch_record(
        JOB, GRANT, SandboxConfig(), HostFacts(bwrap="/b", is_root=False), work_dir="/w", uid_locks="/u"
    )
    assert as_user["uids"] is None  # not root: the job keeps the server's uid, in its own namespaces
