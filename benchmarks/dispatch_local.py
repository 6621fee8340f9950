"""Submit-to-running latency and jobs started per second for local jobs, sandbox on, in one run:

(a) pnyx: JobService.submit (database) -> Dispatcher.cycle (scheduler + commit + submit) ->
    LocalExecutor (a supervisor per job, forked by the warm spawner, which takes a uid, drops to it,
    sets rlimits and execs bwrap) -> the command starts in its sandbox; once with every job
    submitted before the first cycle, once with the dispatch loop running alongside (as a server);
(a') the LocalExecutor alone (``submit`` in a loop, no database, no dispatch loop);
(b) bare bwrap: ``subprocess.Popen`` of the same bwrap argv (``sandbox.bwrap_argv``, same flags,
    same environment, same uid switch and rlimits), straight from this process;
(c) plain ``subprocess.Popen`` of the same command, no sandbox: the floor any launcher pays.

Each job's command writes its own start time into its working directory, so "running" means the
command really started, inside its sandbox.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import fresh_platform, single_engine
from pnyx.core.ids import UserId
from pnyx.executors.local import LocalExecutor
from pnyx.executors.local_host import probe_host
from pnyx.executors.sandbox import HostFacts, SandboxConfig, bwrap_argv, job_env, limits_for
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import Grant, JobSpec
from pnyx.jobs.service import Submission
from pnyx.safety.model import SafetyLevel

USER = Principal(user_id=UserId("usr_bench"), name="bench", roles=frozenset({Role.RESEARCHER}))
GRANT = Grant(node_ids=("local-n0",), counts=(1,))


def stamp_command(i: int) -> tuple[str, ...]:
    """Writes "<i> <start time>" into the job's working directory."""
    code = f"import time; open('started', 'w').write('{i} ' + repr(time.time()))"
    return ("python3", "-S", "-c", code)


def wait_for(stamps: Callable[[], list[Path]], count: int, timeout: float = 300) -> dict[int, float]:
    deadline = time.monotonic() + timeout
    while len(found := stamps()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(found)} of {count} jobs started")
        time.sleep(0.02)
    time.sleep(0.2)
    started = {}
    for path in stamps():
        i, at = path.read_text().split()
        started[int(i)] = float(at)
    return started


@contextmanager
def job_root() -> Iterator[Path]:
    """Under /var/tmp: job uids must be able to reach their work directories."""
    base = Path(tempfile.mkdtemp(prefix="pnyx-bench-", dir="/var/tmp"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def through_pnyx(backend: str, n: int, root: Path, *, alongside: bool) -> tuple[list[float], float]:
    """Submit n jobs, then cycle until all started (``alongside=False``); or with the dispatch loop
    running in a thread every 50 ms while they are submitted, as in a server (``alongside=True``)."""
    where = root / ("pnyx-loop" if alongside else "pnyx")
    with fresh_platform(backend) as platform:
        platform.inventory.generate(4096, seed=1)
        local = LocalExecutor(where, _config(n))
        jobs, dispatcher = single_engine(platform, "local", local, where / "lock")
        stop = threading.Event()
        loop = threading.Thread(target=dispatcher.run, args=(stop, 0.05)) if alongside else None
        if loop:
            loop.start()
        submitted = {}
        first = time.time()
        for i in range(n):
            submitted[i] = time.time()
            submission = Submission(
                name=f"b{i}", project="bench", accelerators=1, estimate_s=60, command=stamp_command(i)
            )
            jobs.submit(USER, submission)
        while not loop and dispatcher.cycle().started:
            pass
        started = wait_for(lambda: list((where / "work").glob("*/started")), n)
        wait_until_ended(lambda: len(list((where / "state").glob("*/exit.json"))) >= n)
        stop.set()
        if loop:
            loop.join()
        else:
            dispatcher.close()
    return [started[i] - submitted[i] for i in range(n)], max(started.values()) - first


def executor_only(n: int, root: Path) -> tuple[list[float], float]:
    """LocalExecutor.submit alone (no database, no dispatch loop): the executor's own share."""
    local = LocalExecutor(root / "executor", _config(n))
    submitted = {}
    first = time.time()
    for i in range(n):
        submitted[i] = time.time()
        local.submit(_spec(i), GRANT)
    started = wait_for(lambda: list((root / "executor" / "work").glob("*/started")), n)
    wait_until_ended(lambda: len(list((root / "executor" / "state").glob("*/exit.json"))) >= n)
    local.status([])  # reaps the launchers
    return [started[i] - submitted[i] for i in range(n)], max(started.values()) - first


def _config(n: int) -> SandboxConfig:
    """As many slots as jobs, like the bare-bwrap peer that starts them all at once; the same limits."""
    return SandboxConfig(max_jobs=n)


def bare_bwrap(n: int, root: Path) -> tuple[list[float], float]:
    config = _config(n)
    host = probe_host(config)
    children, submitted = [], {}
    first = time.time()
    for i in range(n):
        submitted[i] = time.time()
        children.append(_bwrap(i, root / "bare" / str(i), config, host))
    started = wait_for(lambda: list((root / "bare").glob("*/started")), n)
    for child in children:
        child.wait()
    return [started[i] - submitted[i] for i in range(n)], max(started.values()) - first


def _bwrap(i: int, work: Path, config: SandboxConfig, host: HostFacts) -> subprocess.Popen[bytes]:
    """What the supervisor does for a job, minus the supervisor: same argv, env, uid, rlimits."""
    work.mkdir(parents=True)
    spec = _spec(i)
    uid = config.uid_first + i if host.is_root else None
    if uid is not None:
        os.chown(work, uid, uid)
    rlimits = limits_for(spec, config).as_rlimits()
    return subprocess.Popen(
        bwrap_argv(host, config, work_dir=str(work), command=spec.command, devices=(0,)),
        env=job_env(spec, GRANT, home="/job", host=host),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        user=uid,
        group=uid,
        extra_groups=[] if uid is not None else None,
        preexec_fn=lambda: _limits(rlimits),  # noqa: PLW1509 - as the supervisor does
    )


def _limits(rlimits: dict[str, int]) -> None:
    for name, value in rlimits.items():
        kind = getattr(resource, name)
        hard = resource.getrlimit(kind)[1]
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (cap, cap))


def _spec(i: int) -> JobSpec:
    return JobSpec(
        job_id=f"bare-{i}",
        idempotency_key=f"bare-{i}",
        name="b",
        project="bench",
        user="bench",
        accelerator_type="H100-SXM",
        accelerators=1,
        nodes=1,
        accelerators_per_node=1,
        safety_level=SafetyLevel.L1,
        time_limit_s=60,
        command=stamp_command(i),
    )


def plain_popen(n: int, root: Path) -> tuple[list[float], float]:
    host = probe_host(SandboxConfig())
    submitted, children = {}, []
    first = time.time()
    for i in range(n):
        work = root / "popen" / str(i)
        work.mkdir(parents=True)
        submitted[i] = time.time()
        env = job_env(_spec(i), GRANT, home=str(work), host=host)  # the same python3 (PATH)
        children.append(subprocess.Popen(stamp_command(i), cwd=work, env=env))
    started = wait_for(lambda: list((root / "popen").glob("*/started")), n)
    for child in children:
        child.wait()
    return [started[i] - submitted[i] for i in range(n)], max(started.values()) - first


def wait_until_ended(done: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def row(name: str, latencies: list[float], span: float) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{name:<46} p50 {statistics.median(ordered) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms  "
        f"{len(latencies) / span:7.1f} jobs/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if probe_host(SandboxConfig()).bwrap is None:
        raise SystemExit("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    with job_root() as root:
        print(f"{args.jobs} one-accelerator jobs, sandbox on: submit-to-running latency and throughput")
        batch = through_pnyx(args.backend, args.jobs, root, alongside=False)
        print(row(f"pnyx, submit all then cycle ({args.backend})", *batch))
        alongside = through_pnyx(args.backend, args.jobs, root, alongside=True)
        print(row(f"pnyx, dispatch loop alongside ({args.backend})", *alongside))
        print(row("pnyx: LocalExecutor.submit only", *executor_only(args.jobs, root)))
        print(row("bare bwrap (same argv, uid, rlimits)", *bare_bwrap(args.jobs, root)))
        print(row("plain subprocess.Popen (no sandbox)", *plain_popen(args.jobs, root)))


if __name__ == "__main__":
    main()
