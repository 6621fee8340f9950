"""Pnyx on Slurm through the whole product path, against plain ``sbatch`` of the same batch, same run.

pnyx    HTTP ``POST /api/v1/jobs`` (the real app, served by uvicorn in this process) -> the dispatch
        loop (its own thread, ``--interval``) -> SlurmExecutor -> slurmrestd -> the job runs on the
        node Pnyx placed it on -> Slurm reports it ended -> Pnyx marks it completed.
sbatch  ``sbatch`` of the same commands (same partition, account, GPUs, time limit), one after the
        other; Slurm queues and places them itself. Completion: when a 0.25 s poll of the
        controller no longer shows any of them pending or running.

Each size runs N one-GPU jobs plus ``--gangs`` two-node gangs (8 GPUs on each node). Every job writes
its own start time (``date +%s.%N``), so "running" means the command started. Reported per method:
jobs/s end to end (first submission to the last completion seen) and submit-to-running p50/p99 (the
job's own start minus the moment its submission began). Pnyx's inventory is the cluster's: the nodes
of ``--partition`` as slurmrestd lists them (gres ``gpu:h100`` -> ``H100-SXM``; ``slurm_cluster``).
Run against the cluster of scripts/engines/up.sh, as root (token from scontrol). ``--timeline DIR``:
each job's submission, hand-over, start and end per method and size, as CSV, and a summary of each
gang and the longest gaps between starts (``slurm_timeline``).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import socket
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from benchmarks.common import OneProject, classified, fresh_platform
from benchmarks.slurm_cluster import GRES_TYPE, PNYX_TYPE, cluster_topology, scontrol_token
from benchmarks.slurm_timeline import Line, TimedSlurm, pnyx_lines, report, sbatch_lines
from pnyx.core.clock import SystemClock
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.plan import QueueAhead
from pnyx.dispatch.report import BUSY_INTERVAL_S
from pnyx.dispatch.runner import dispatcher_on
from pnyx.executors.slurm import SlurmConfig, SlurmExecutor
from pnyx.executors.slurm_settings import QUEUE_DEPTH
from pnyx.jobs.model import JobStatus
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService
from pnyx.jobs.store import JobRepository
from pnyx.scheduler.admission import check_fits
from pnyx.scheduler.topology import Topology
from pnyx.server import create_app
from pnyx.wiring import Platform

PROJECT, ACCOUNT = "bench", "public"
DONE = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.REJECTED}
SBATCH_PREFIX = "sb-"


@dataclass(frozen=True)
class Job:
    name: str  # unique in the run; the job writes <name>.start
    gpus_per_node: int
    nodes: int

    def command(self, stamps: str) -> str:
        return f"date +%s.%N > {stamps}/{self.name}.start"


@dataclass(frozen=True)
class Dirs:
    """Where the jobs write their start times: as the cluster sees it, and as this machine does."""

    cluster: str
    local: Path


@dataclass(frozen=True)
class Result:
    method: str
    jobs: int
    latency_s: list[float]
    span_s: float
    failed: int
    lines: tuple[Line, ...] = ()  # the per-job timeline


# --- pnyx: the API, the dispatcher, Slurm ---------------------------------------------------------


@contextmanager
def served(platform: Platform) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(platform, run_appender=False, run_dispatcher=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def dispatching(dispatcher: Dispatcher, interval_s: float, busy_s: float) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop, interval_s, busy_s), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def through_pnyx(
    platform: Platform, executor: TimedSlurm, topology: Topology, jobs: list[Job], args: Any, dirs: Dirs
) -> Result:
    service = JobService(
        UnitOfWork(engine=platform.engine, clock=SystemClock()),
        projects=OneProject(),
        fits=lambda record: check_fits(to_scheduler_job(record), topology),
        executors={"slurm": executor},
        default_engine="slurm",
    )
    classified(platform, PROJECT)
    dispatcher = dispatcher_on(  # the server's dispatcher: usage metered, decisions logged, outputs taken in
        platform,
        jobs=service,
        topology=lambda: topology,
        executors={"slurm": executor},
        shares=lambda _at: {"DE": Decimal(1)},
        leadership=FileLeadership(dirs.local / "lock"),
        queue_ahead=QueueAhead(
            engines=frozenset({"slurm"} if args.queue_ahead else ()), depth=args.queue_depth
        ),
    )
    platform.identity.register_user(name="bench", roles=["researcher"])
    token = platform.identity.issue_token("bench").secret
    with (
        served(dataclasses.replace(platform, jobs=service)) as url,
        dispatching(dispatcher, args.interval, args.busy_interval),
    ):
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        began = {job.name: submit_to_api(client, job, dirs.cluster) for job in jobs}
        ended, failed = wait_for_pnyx(service, len(jobs), args.timeout)
        client.close()
    with platform.uow.read() as conn:
        records = JobRepository(conn).with_status(DONE)
    lines = pnyx_lines(began, _gangs(jobs), _starts(jobs, dirs.local), records, executor)
    return _result("pnyx", jobs, began, ended, failed, dirs.local, lines)


def submit_to_api(client: httpx.Client, job: Job, stamps: str) -> float:
    began = time.time()
    body = {
        "name": job.name,
        "project": PROJECT,
        "accelerators": job.gpus_per_node * job.nodes,
        "accelerator_type": PNYX_TYPE,
        "estimate_s": 60,
        "command": ["bash", "-c", job.command(stamps)],
        "engine": "slurm",
    }
    response = client.post("/api/v1/jobs", json=body)
    response.raise_for_status()
    return began


def wait_for_pnyx(service: JobService, count: int, timeout_s: float) -> tuple[float, int]:
    """When Pnyx has seen every job end (the time), and how many did not complete."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = service.counts()
        if sum(counts.get(s, 0) for s in DONE) >= count:
            return time.time(), count - counts.get(JobStatus.COMPLETED, 0)
        if time.monotonic() > deadline:
            raise SystemExit(f"pnyx: only {counts} after {timeout_s} s")
        time.sleep(0.1)


# --- sbatch ---------------------------------------------------------------------------------------


def through_sbatch(executor: SlurmExecutor, jobs: list[Job], args: Any, dirs: Dirs, prefix: str) -> Result:
    began, handed = {}, {}
    for job in jobs:
        began[job.name] = sbatch(job, args, dirs.cluster, prefix)
        handed[job.name] = time.time()
    ended = wait_for_slurm(executor, (prefix,), args.timeout)
    controller = executor.controller_jobs()
    lines = sbatch_lines(began, handed, _gangs(jobs), _starts(jobs, dirs.local), controller, prefix)
    return _result("sbatch", jobs, began, ended, 0, dirs.local, lines)


def sbatch(job: Job, args: Any, stamps: str, prefix: str) -> float:
    began = time.time()
    command = shlex.quote(job.command(stamps))
    script = f"#!/bin/bash\nexec srun --nodes={job.nodes} --ntasks-per-node=1 -- bash -c {command}\n"
    if job.nodes == 1:
        script = f"#!/bin/bash\nexec bash -c {command}\n"
    options = (
        f"--parsable --job-name={prefix}{job.name} --account={ACCOUNT} --partition={args.partition} "
        f"--nodes={job.nodes} --ntasks-per-node=1 --gpus-per-node={GRES_TYPE}:{job.gpus_per_node} "
        f"--time=1 --chdir={stamps} --output={stamps}/%j.out --no-requeue"
    )
    command_line = [*shlex.split(args.sbatch), *shlex.split(options)]
    subprocess.run(command_line, input=script, capture_output=True, text=True, check=True)
    return began


def wait_for_slurm(executor: SlurmExecutor, prefixes: tuple[str, ...], timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    live = {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING"}
    while any(j.name.startswith(prefixes) and j.state in live for j in executor.controller_jobs()):
        if time.monotonic() > deadline:
            raise SystemExit(f"sbatch: jobs still running after {timeout_s} s")
        time.sleep(0.25)
    return time.time()


def _result(
    method: str,
    jobs: Sequence[Job],
    began: dict[str, float],
    ended: float,
    failed: int,
    stamps: Path,
    lines: Sequence[Line],
) -> Result:
    starts = _starts(jobs, stamps)
    latency = [start - began[name] for name, start in starts.items() if start is not None]
    unstarted = len(jobs) - len(latency)
    span = ended - min(began.values())
    return Result(method, len(jobs), latency, span, max(failed, unstarted), tuple(lines))


def _starts(jobs: Sequence[Job], stamps: Path) -> dict[str, float | None]:
    """Each job's start as it wrote it (None: it never started)."""
    paths = {job.name: stamps / f"{job.name}.start" for job in jobs}
    texts = {name: path.read_text().strip() if path.exists() else "" for name, path in paths.items()}
    return {name: float(text) if text else None for name, text in texts.items()}


def _gangs(jobs: Sequence[Job]) -> set[str]:
    return {job.name for job in jobs if job.nodes > 1}


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def row(r: Result) -> str:
    return (
        f"{r.method:<8} {r.jobs:>6} {r.jobs / r.span_s:>18.2f} {statistics.median(r.latency_s):>17.2f} "
        f"{percentile(r.latency_s, 0.99):>17.2f} {r.span_s:>9.1f} {r.failed:>7}"
    )


def batch(size: int, gangs: int, gpus_per_node: int, tag: str) -> list[Job]:
    jobs = [Job(name=f"{tag}-{i:05d}", gpus_per_node=1, nodes=1) for i in range(size)]
    for g in range(gangs):  # spread through the batch
        gang = Job(name=f"{tag}-gang{g}", gpus_per_node=gpus_per_node, nodes=2)
        jobs.insert((g + 1) * len(jobs) // (gangs + 1), gang)
    return jobs


def drain(executor: SlurmExecutor, timeout_s: float = 300) -> None:
    """Wait until no Pnyx or benchmark job is pending or running: each method starts on idle nodes."""
    wait_for_slurm(executor, ("pnyx-", SBATCH_PREFIX), timeout_s)


def directory(root: Path, cluster_dir: str, name: str) -> Dirs:
    local = root / name
    local.mkdir()
    local.chmod(0o1777)  # the jobs write here as the submitting user
    return Dirs(cluster=f"{cluster_dir}/{name}", local=local)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="50,200", help="comma-separated batch sizes")
    parser.add_argument("--gangs", type=int, default=3, help="two-node gangs added to each batch")
    parser.add_argument("--interval", type=float, default=2.0, help="the dispatch loop's interval, seconds")
    parser.add_argument(
        "--queue-ahead",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="hand Slurm layers of jobs pinned to busy nodes (off: the same as [slurm] queue_depth = 1)",
    )
    parser.add_argument(
        "--queue-depth", type=int, default=QUEUE_DEPTH, help="layers: the hardware and the queue ahead"
    )
    parser.add_argument("--busy-interval", type=float, default=BUSY_INTERVAL_S, help="while jobs move")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--url", default="http://127.0.0.1:6820")
    parser.add_argument("--partition", default="open")
    parser.add_argument("--scontrol", default="scontrol")
    parser.add_argument("--sbatch", default="sbatch")
    parser.add_argument("--root", default="", help="where the cluster's / lies on this machine (a chroot)")
    parser.add_argument("--timeout", type=float, default=540)
    parser.add_argument("--timeline", default="", help="a directory: per-job timelines (CSV) and a summary")
    run(parser.parse_args())


def run(args: Any) -> None:
    token = scontrol_token(args.scontrol)
    tag = uuid.uuid4().hex[:6]
    cluster_dir = f"/tmp/pnyx-bench-{tag}"
    root = Path(args.root.rstrip("/") + cluster_dir)
    root.mkdir(parents=True)
    root.chmod(0o1777)
    config = SlurmConfig(
        base_url=args.url,
        user="root",
        token=token,
        accounts={PROJECT: ACCOUNT},
        gres_types={PNYX_TYPE: GRES_TYPE},
        working_directory=cluster_dir,
        log_directory=cluster_dir,
        log_mount=str(root),
    )
    watcher = SlurmExecutor(config)
    try:
        topology = cluster_topology(watcher, args.partition)
        print(heading(watcher, topology, args))
        for size in (int(s) for s in args.sizes.split(",")):
            compare(size, args, config, watcher, topology, root, cluster_dir, tag)
    finally:
        watcher.close()
        shutil.rmtree(root, ignore_errors=True)


def compare(
    size: int,
    args: Any,
    config: SlurmConfig,
    watcher: SlurmExecutor,
    topology: Topology,
    root: Path,
    cluster_dir: str,
    tag: str,
) -> None:
    gpus = max(topology.node_cap)
    drain(watcher)
    with fresh_platform(args.backend) as platform:
        executor = TimedSlurm(config)
        jobs = batch(size, args.gangs, gpus, f"p{tag}")
        pnyx = through_pnyx(
            platform, executor, topology, jobs, args, directory(root, cluster_dir, f"p{size}")
        )
        executor.close()
    drain(watcher)
    jobs = batch(size, args.gangs, gpus, f"s{tag}")
    prefix = f"{SBATCH_PREFIX}{tag}-"
    plain = through_sbatch(watcher, jobs, args, directory(root, cluster_dir, f"s{size}"), prefix)
    ratio = (pnyx.jobs / pnyx.span_s) / (plain.jobs / plain.span_s)
    print(f"{row(pnyx)}\n{row(plain)}\n{'':<8} pnyx / sbatch, end to end: {ratio:.2f}x", flush=True)
    if args.timeline:
        for r in (pnyx, plain):
            print(
                f"{r.method} at {size}:",
                *report(r.lines, Path(args.timeline) / f"{r.method}-{size}.csv"),
                sep="\n",
            )


def heading(watcher: SlurmExecutor, topology: Topology, args: Any) -> str:
    nodes, gpus = len(topology.node_ids), max(topology.node_cap)
    return (
        f"Slurm {watcher.dialect().version} at {args.url}: partition {args.partition}, {nodes} nodes x {gpus}"
        f" GPUs; dispatch every {args.interval} s ({args.busy_interval} s busy); {args.backend}; "
        f"queue-ahead {f'{args.queue_depth} layers' if args.queue_ahead else 'off'}; "
        f"+{args.gangs} two-node gangs a batch\n{'method':<8} {'jobs':>6} {'end-to-end jobs/s':>18} "
        f"{'to-running p50 s':>17} {'to-running p99 s':>17} {'span s':>9} {'failed':>7}"
    )


if __name__ == "__main__":
    main()
