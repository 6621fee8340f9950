"""A hostile job against the local sandbox: real processes, real bwrap, real attacks.

Each attack is run for real and the test reads what the job itself saw (its output) as well as what
the machine looks like from outside afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pnyx.executors.local import LocalExecutor, wait_until_final
from pnyx.executors.local_state import proc_start_ticks
from pnyx.executors.sandbox import SandboxConfig
from pnyx.jobs.model import EngineRef, EngineState
from tests.executors.conftest import GRANT, py, spec
from tests.executors.job_root import running, temporary_job_root, uids_of

SECRET_ENV = "PNYX_TEST_SERVER_SECRET"
PROBE = """
import os, sys
for path in sys.argv[1:]:
    try:
        print(path, 'READ', open(path, 'rb').read()[:40])
    except OSError as exc:
        print(path, 'DENIED', type(exc).__name__)
print('ENV', sorted(os.environ))
print('SECRET' if any('hunter2' in v for v in os.environ.values()) else 'NO-SECRET')
try:
    print('INIT-ENV', open('/proc/1/environ', 'rb').read().count(b'hunter2'))
except OSError as exc:
    print('INIT-ENV DENIED', type(exc).__name__)
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A server data directory left world-readable on purpose: only the sandbox protects it."""
    with temporary_job_root() as base:
        base.mkdir(mode=0o755)
        (base / "log-signing.key").write_text("PRIVATE+KEY+test+0000")
        (base / "pnyx.db").write_bytes(b"SQLite format 3\0secret rows")
        for path in (base, base / "log-signing.key", base / "pnyx.db"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield base


def _run(ex: LocalExecutor, key: str, *command: str, timeout_s: float = 30) -> tuple[EngineState, str]:
    status = wait_until_final(ex, ex.submit(spec(key, *command), GRANT), timeout_s=timeout_s)
    return status.state, ex.logs(EngineRef(engine="local", engine_job_id=key))


def test_a_job_sees_no_key_no_database_no_other_job_no_server_env(
    job_root: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "hunter2")
    ex = LocalExecutor(job_root)
    _run(ex, "victim", *py("open('outputs/mine.txt', 'w').write('other job secret')"))
    other = job_root / "work" / "victim" / "outputs" / "mine.txt"
    assert other.read_text() == "other job secret"
    targets = [str(data_dir / "log-signing.key"), str(data_dir / "pnyx.db"), str(other)]
    repo_file = str(Path(__file__).resolve())
    state, out = _run(ex, "thief", "python3", "-c", PROBE, *targets, repo_file, "/etc/shadow", "/etc/passwd")
    assert state is EngineState.SUCCEEDED, out
    for target in [*targets, repo_file, "/etc/shadow", "/etc/passwd"]:
        assert f"{target} DENIED" in out
    assert "READ" not in out
    assert "NO-SECRET" in out
    assert "INIT-ENV 0" in out
    assert SECRET_ENV not in out
    assert "PNYX_JOB_ID" in out


def test_files_a_job_forges_in_its_cwd_change_nothing(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    forged = json.dumps({"exit_code": 0, "reason": "exited", "started": 1.0, "ended": 2.0})
    pid = json.dumps({"pid": 1, "start_ticks": 1, "started": 1.0})
    code = (
        f"import time; open('exit.json', 'w').write({forged!r}); open('pid.json', 'w').write({pid!r}); "
        "open('pid', 'w').write('1'); open('claim', 'w'); open('outputs/exit.json', 'w').write('x'); "
        "time.sleep(1.5); raise SystemExit(7)"
    )
    ref = ex.submit(spec("forger", *py(code)), GRANT)
    time.sleep(0.8)
    assert ex.status([ref])[0].state is EngineState.RUNNING
    final = wait_until_final(ex, ref)
    assert (final.state, final.exit_code) == (EngineState.FAILED, 7)


def test_a_job_cannot_signal_processes_outside_it(job_root: Path) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        ex = LocalExecutor(job_root)
        code = (
            f"import os, signal\nfor pid in ({victim.pid}, {os.getpid()}, -1):\n"
            "    try:\n        os.kill(pid, signal.SIGKILL); print(pid, 'sent')\n"
            "    except OSError as exc:\n        print(pid, type(exc).__name__)\n"
        )
        _state, out = _run(ex, "killer", *py(code))
        assert f"{victim.pid} ProcessLookupError" in out
        assert f"{os.getpid()} ProcessLookupError" in out
        time.sleep(0.2)
        assert victim.poll() is None  # still alive: the job's kill(-1) reached its own namespace only
    finally:
        victim.kill()
        victim.wait()


def test_children_die_with_the_job(job_root: Path) -> None:
    ex = LocalExecutor(job_root)
    state, out = _run(ex, "forker", "sh", "-c", "sleep 1003 & setsid sleep 1004 & echo started")
    assert (state, out) == (EngineState.SUCCEEDED, "started")
    time.sleep(0.2)
    assert running("sleep 1003") == []
    assert running("sleep 1004") == []


def test_the_job_runs_as_an_unprivileged_uid_of_its_own(job_root: Path) -> None:
    config = SandboxConfig(max_jobs=2)  # both at once, whatever the machine's CPUs
    ex = LocalExecutor(job_root, config)
    if not ex.host.is_root:
        pytest.skip("uids are switched only by a root supervisor")
    refs = [ex.submit(spec(f"uid{i}", "sleep", f"7.2{i}"), GRANT) for i in range(2)]
    deadline = time.monotonic() + 10
    while len(running("sleep 7.20") + running("sleep 7.21")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    seen = [uids_of(pid) for pid in running("sleep 7.20") + running("sleep 7.21")]
    for uids in seen:
        assert len(set(uids)) == 1  # real, effective, saved and fs uid all the same
        assert config.uid_first <= uids[0] < config.uid_first + config.uid_count
    assert seen[0][0] != seen[1][0]  # one uid per running job
    for ref in refs:
        ex.cancel(ref)
        assert wait_until_final(ex, ref).state is EngineState.CANCELLED


def test_memory_processes_and_file_size_are_limited(job_root: Path) -> None:
    ex = LocalExecutor(job_root, SandboxConfig(job_memory=128 << 20, processes=16, file_size=1 << 20))
    _state, out = _run(ex, "mem", *py("b = bytearray(1 << 30); print('allocated')"))
    assert "MemoryError" in out
    assert "allocated" not in out
    _state, out = _run(ex, "tmpfs", *py(FILL))  # each tmpfs: a quarter of the job's 128 MiB share
    assert out.splitlines() == ["/dev/shm 32 No space left on device", "/tmp 32 No space left on device"]
    forks = (
        "import os, time\nn = 0\ntry:\n    for _ in range(64):\n        if os.fork() == 0:\n"
        "            time.sleep(2); os._exit(0)\n        n += 1\nexcept OSError as exc:\n"
        "    print('refused after', n, type(exc).__name__)\n"
    )
    _state, out = _run(ex, "nproc", *py(forks))
    assert "refused after" in out
    assert int(out.split("refused after")[1].split()[0]) < 16
    _state, out = _run(ex, "fsize", *py("open('big', 'wb').write(b'x' * (2 << 20))"))
    assert "File too large" in out


FILL = """
for d in ('/dev/shm', '/tmp'):
    try:
        for i in range(80):
            open(f'{d}/f{i}', 'wb').write(b'x' * (512 << 10))
        print(d, 'FILLED')
    except OSError as exc:
        print(d, i // 2, exc.strerror)
"""
SYSCALLS = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(open('/proc/self/status').read().split('Seccomp:')[1].split()[0])
for name, nr, args in (('ptrace', 101, (0, 0, 0, 0)), ('keyctl', 250, (0, -3, 0)),
                       ('bpf', 321, (0, 0, 0)), ('userfaultfd', 323, (0,)), ('io_uring_setup', 425, (1, 0)),
                       ('mount', 165, (0, 0, 0, 0, 0)), ('perf_event_open', 298, (0, 0, -1, -1, 0)),
                       ('getpid', 39, ())):
    ctypes.set_errno(0)
    print(name, libc.syscall(nr, *args), ctypes.get_errno())
"""


def test_seccomp_denies_the_kernel_surface_a_job_does_not_need(job_root: Path) -> None:
    state, out = _run(LocalExecutor(job_root), "seccomp", *py(SYSCALLS))
    assert state is EngineState.SUCCEEDED, out
    lines = out.splitlines()
    assert lines[0] == "2"  # a filter is loaded
    for name in ("ptrace", "keyctl", "bpf", "userfaultfd", "io_uring_setup", "mount", "perf_event_open"):
        assert f"{name} -1 1" in lines  # EPERM
    assert any(line.startswith("getpid 2 ") or line.startswith("getpid 1 ") for line in lines)


def test_no_network_at_all(job_root: Path) -> None:
    with socket.create_connection(("127.0.0.1", 5432), timeout=2):  # reachable from the test process
        pass
    ex = LocalExecutor(job_root)
    code = (
        "import socket\nfor host in ('127.0.0.1', '10.0.0.1'):\n    try:\n"
        "        socket.create_connection((host, 5432), timeout=2); print(host, 'CONNECTED')\n"
        "    except OSError as exc:\n        print(host, 'refused', type(exc).__name__)\n"
    )
    _state, out = _run(ex, "net", *py(code))
    assert "CONNECTED" not in out
    assert "127.0.0.1 refused" in out


def test_garbage_in_a_state_dir_fails_that_job_only(job_root: Path) -> None:
    ex = LocalExecutor(job_root, SandboxConfig(max_jobs=6))  # all started: none rewrites its pid.json
    good = ex.submit(spec("good", "true"), GRANT)
    done = ex.submit(spec("junk-exit", "true"), GRANT)
    long = [ex.submit(spec(f"junk-pid{i}", "sleep", "4"), GRANT) for i in range(4)]
    wait_until_final(ex, good)
    wait_until_final(ex, done)
    time.sleep(0.5)
    state = job_root / "state"
    (state / "junk-exit" / "exit.json").write_text('{"exit_code": "zero", "reason": 3')
    (state / "junk-pid0" / "pid.json").write_text("abc")
    (state / "junk-pid1" / "pid.json").write_text(json.dumps({"pid": 10**40, "start_ticks": 1, "started": 1}))
    (state / "junk-pid2" / "pid.json").write_text("[" * 50_000 + "]" * 50_000)
    (state / "junk-pid3" / "pid.json").unlink()
    (state / "junk-pid3" / "pid.json").symlink_to("/etc/passwd")
    statuses = ex.status([good, done, *long])
    assert statuses[0].state is EngineState.SUCCEEDED
    for status in statuses[1:]:
        assert status.state is EngineState.FAILED
        assert "unreadable" in status.message
    for ref in [done, *long]:
        ex.cancel(ref)  # never raises, signals nothing it cannot vouch for
    big = state / "good" / "exit.json"
    big.write_bytes(b" " * (1 << 20))
    assert "larger than" in ex.status([good])[0].message


def test_cancel_never_signals_a_process_the_record_does_not_vouch_for(job_root: Path) -> None:
    victim = subprocess.Popen(["sleep", "60"])
    try:
        ex = LocalExecutor(job_root)
        ref = ex.submit(spec("reused", "sleep", "30"), GRANT)
        time.sleep(0.5)
        ticks = proc_start_ticks(victim.pid)
        assert ticks is not None
        pid_file = job_root / "state" / "reused" / "pid.json"
        real = json.loads(pid_file.read_text())
        pid_file.write_text(json.dumps({"pid": victim.pid, "start_ticks": ticks + 1, "started": 1.0}))
        ex.cancel(ref)  # a pid reused by another process: left alone
        time.sleep(0.2)
        assert victim.poll() is None
        pid_file.write_text(json.dumps(real))
        ex.cancel(ref)
        assert wait_until_final(ex, ref).state is EngineState.CANCELLED
    finally:
        victim.kill()
        victim.wait()
