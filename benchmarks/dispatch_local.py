"""Submit-to-running latency and jobs dispatched per second through the whole local path:
JobService.submit (database) -> Dispatcher.cycle (scheduler + commit + submit) -> LocalExecutor
(a detached supervisor per job) -> the command starts. The peer, measured in the same run, is a
plain ``subprocess.Popen`` of the same command: the floor any local launcher pays.

Each job's command writes its own start time, so "running" means the command really started.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.common import fresh_platform
from pnyx.core.clock import SystemClock
from pnyx.core.ids import UserId
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.local import LocalExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.policy import policy_named

USER = Principal(user_id=UserId("usr_bench"), name="bench", roles=frozenset({Role.RESEARCHER}))


class OneProject:
    def project(self, project_id: str) -> ProjectInfo | None:
        return ProjectInfo(id=project_id, member_state="DE", members=frozenset(), over_budget=False)


def stamp_command(stamps: Path, i: int) -> tuple[str, ...]:
    return (
        sys.executable,
        "-S",
        "-c",
        f"import time; open({str(stamps / str(i))!r}, 'w').write(repr(time.time()))",
    )


def wait_for(stamps: Path, count: int, timeout: float = 300) -> dict[int, float]:
    deadline = time.monotonic() + timeout
    while len(list(stamps.iterdir())) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(stamps.iterdir()))} of {count} jobs started")
        time.sleep(0.05)
    time.sleep(0.2)
    return {int(p.name): float(p.read_text()) for p in stamps.iterdir()}


def through_dispatcher(backend: str, n: int, work: Path) -> tuple[list[float], float]:
    stamps = work / "dispatch"
    stamps.mkdir()
    with fresh_platform(backend) as platform:
        platform.inventory.generate(4096, seed=1)
        uow = UnitOfWork(engine=platform.engine, clock=SystemClock())
        local = LocalExecutor(work / "jobs")
        jobs = JobService(
            uow,
            projects=OneProject(),
            executors={"local": local},
            default_engine="local",
            fits=lambda r: check_fits(to_scheduler_job(r), platform.inventory.topology()),
        )
        dispatcher = Dispatcher(
            jobs=jobs,
            topology=platform.inventory.topology,
            executors={"local": local},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=SystemClock(),
            policy=policy_named("full"),
            leadership=FileLeadership(work / "lock"),
        )
        platform.inventory.topology()  # built once, as in a running server
        submitted = {}
        first = time.time()
        for i in range(n):
            submitted[i] = time.time()
            jobs.submit(
                USER,
                Submission(
                    name=f"b{i}",
                    project="bench",
                    accelerators=1,
                    estimate_s=60,
                    command=stamp_command(stamps, i),
                ),
            )
        while dispatcher.cycle().started:
            pass
        started = wait_for(stamps, n)
        dispatcher.leadership.release()
    return [started[i] - submitted[i] for i in range(n)], max(started.values()) - first


def plain_popen(n: int, work: Path) -> tuple[list[float], float]:
    stamps = work / "popen"
    stamps.mkdir()
    submitted, children = {}, []
    first = time.time()
    for i in range(n):
        submitted[i] = time.time()
        children.append(subprocess.Popen(stamp_command(stamps, i)))
    started = wait_for(stamps, n)
    for child in children:
        child.wait()
    return [started[i] - submitted[i] for i in range(n)], max(started.values()) - first


def row(name: str, latencies: list[float], span: float) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{name:<34} p50 {statistics.median(ordered) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms  "
        f"{len(latencies) / span:7.1f} jobs/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"{args.jobs} one-accelerator jobs, submit-to-running latency and throughput")
        print(
            row(
                f"pnyx dispatcher, local ({args.backend})", *through_dispatcher(args.backend, args.jobs, work)
            )
        )
        print(row("peer: plain subprocess.Popen", *plain_popen(args.jobs, work)))


if __name__ == "__main__":
    main()
