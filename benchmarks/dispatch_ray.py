"""Short jobs on the Ray head of ``scripts/engines/up.sh`` through Pnyx, and through Ray's own ways
in, in one run: jobs/s end to end and submit-to-running latency measured by the job itself.

  pnyx Ns    the product path: the inventory imported from Ray (``ray_nodes.read_inventory``: the
             head's 8 ``accelerator``) -> JobService.submit (database, fit check) while the
             dispatch loop runs alongside, as in the server (``Dispatcher.run``: the busy
             pace while jobs move, woken by submissions; scheduler, commit, RayExecutor: one
             read of Ray per cycle, a POST per start), idle interval N s (``--interval``; the
             server's: 2 s) -> completion seen by Pnyx (the job COMPLETED in its database)
  ray-cli    the peer as a user types it: ``ray job submit --no-wait`` (Ray's own venv), same
             entrypoint, resources and environment, one process per job (``--cli-max`` jobs)
  ray-rest   the same Jobs API body (``build_submission``: same entrypoint, resources,
             environment) POSTed straight to ``/api/jobs/``, all at once; Ray queues what it
             cannot place yet; completion seen by polling Ray's listing. Last: Ray is slow to
             recover from the flood (its job supervisors still being created after their jobs
             failed), so before each method the cluster must be idle: no job pending or running
             and no actor pending creation (``wait_idle``)

Each job is ``date +%s.%N`` into a file: latency = that start - the moment its submission began;
end to end = jobs / (last completion seen - first submission); succeeded/s counts only the jobs
that succeeded (a job Ray failed for waiting too long ends early). Every job asks for one
accelerator, so at most 8 run at once either way; Pnyx admits 8 and holds the rest, Ray's own queue holds them
in the peers (where ``RAY_JOB_START_TIMEOUT_SECONDS``, 60 s in ray_up.sh, fails those that wait
longer). The methods run one after the other on an idle cluster; completions are polled every
0.2 s for all, and each method prints its progress every minute (``--timeout`` ends a method that
does not finish: the line says how far it got). A 2-core machine: compare the rows of one run, not
runs; Ray starts about 0.3 to 0.5 jobs a second here whoever submits (each job's supervisor actor
and driver are new processes), so 200 jobs take 7 to 12 minutes a method.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.common import fresh_platform, single_engine
from pnyx.core.ids import UserId
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.report import CycleReport
from pnyx.executors import ray_nodes
from pnyx.executors.ray import build_submission
from pnyx.executors.ray_settings import RaySettings
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import Grant, JobSpec, JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.safety.model import SafetyLevel

USER = Principal(user_id=UserId("usr_bench"), name="bench", roles=frozenset({Role.RESEARCHER}))
FINAL_RAY = {"SUCCEEDED", "FAILED", "STOPPED"}
POLL_S = 0.2
PROGRESS_S = 60.0


@dataclass
class Result:
    method: str
    jobs: int
    submit_s: list[float]
    latency_s: list[float]
    span_s: float
    failed: int
    note: str = ""


@dataclass
class Run:
    url: str
    stamps: Path
    tag: str
    timeout_s: float
    began: dict[str, float] = field(default_factory=dict)

    def command(self, name: str) -> tuple[str, ...]:
        return ("sh", "-c", f"date +%s.%N > {self.stamps}/{name}.start")

    def starts(self, names: list[str]) -> dict[str, float]:
        found = {}
        for name in names:
            path = self.stamps / f"{name}.start"
            text = path.read_text().strip() if path.exists() else ""
            if text:
                found[name] = float(text)
        return found


def ray_settings(url: str) -> RaySettings:
    """What a deployer writes for this cluster (examples/engines/ray.toml)."""
    return RaySettings.from_section(
        {
            "url": url,
            "accelerator_resource": "accelerator",
            "safety_level": 1,
            "site": {"id": "ray-local", "name": "Local Ray cluster", "member_state": "DE"},
            "types": {"*": "H100-SXM"},
        }
    )


def through_pnyx(run: Run, n: int, interval_s: float) -> Result:
    settings = ray_settings(run.url)
    with fresh_platform("sqlite") as platform:
        imported = platform.inventory.import_from(ray_nodes.read_inventory(settings))
        ray = settings.executor()
        jobs, dispatcher = single_engine(platform, "ray", ray, run.stamps / f"lock-{run.tag}")
        with dispatching(dispatcher, interval_s) as reports:
            ids, durations, first = submit_all(jobs, run, n)
            done = wait_until(lambda: not jobs.active(), run.timeout_s, lambda: pnyx_progress(jobs))
        records = [jobs.get(USER, job_id) for job_id in ids.values()]
        failed = sum(r.status is not JobStatus.COMPLETED for r in records)
        ray.close()
    starts = run.starts(list(ids))
    note = (
        f"inventory imported from Ray: {imported.summary.accelerators} accelerators on "
        f"{imported.summary.nodes} node(s); {len(reports)} cycles read Ray with {ray.listings} listings "
        f"and {ray.gets} single-job GETs; "
        f"{sum(len(r.errors) for r in reports)} cycle errors"
    )
    latency = [starts[k] - run.began[k] for k in starts]
    return Result(f"pnyx {interval_s:g}s", n, durations, latency, done - first, failed, note)


def pnyx_progress(jobs: JobService) -> str:
    return ", ".join(f"{status.value} {n}" for status, n in sorted(jobs.counts().items()))


def submit_all(jobs: JobService, run: Run, n: int) -> tuple[dict[str, str], list[float], float]:
    """Each job through JobService.submit, as the API's handler does; name -> job id."""
    ids, durations = {}, []
    first = time.time()
    for i in range(n):
        name = f"pnyx-{run.tag}-{i:04d}"
        run.began[name] = time.time()
        t0 = time.perf_counter()
        submission = Submission(
            name=name,
            project="bench",
            accelerators=1,
            estimate_s=120,
            command=run.command(name),
            engine="ray",
        )
        ids[name] = jobs.submit(USER, submission).id
        durations.append(time.perf_counter() - t0)
    return ids, durations, first


@contextmanager
def dispatching(dispatcher: Dispatcher, interval_s: float) -> Iterator[list[CycleReport]]:
    """The dispatch loop (``Dispatcher.run``) in a thread beside the submitter, as ``pnyx serve`` runs
    it; each cycle's report kept."""
    reports: list[CycleReport] = []
    stop, cycle = threading.Event(), dispatcher.cycle

    def recorded() -> CycleReport:
        reports.append(cycle())
        return reports[-1]

    setattr(dispatcher, "cycle", recorded)  # noqa: B010 (the loop calls self.cycle)
    thread = threading.Thread(target=dispatcher.run, args=(stop, interval_s), name="dispatcher", daemon=True)
    thread.start()
    try:
        yield reports
    finally:
        stop.set()
        thread.join(timeout=60)
        dispatcher.close()


def peer_spec(name: str, run: Run) -> JobSpec:
    return JobSpec(
        job_id=name,
        idempotency_key=name,
        name=name,
        project="bench",
        user="bench",
        accelerator_type="H100-SXM",
        accelerators=1,
        nodes=1,
        accelerators_per_node=1,
        safety_level=SafetyLevel.L1,
        time_limit_s=120,
        command=run.command(name),
    )


def through_peer(run: Run, method: str, n: int, submit: Callable[[dict[str, object]], None]) -> Result:
    config = ray_settings(run.url).config
    names = [f"{method}-{run.tag}-{i:04d}" for i in range(n)]
    durations = []
    first = time.time()
    for name in names:
        body = build_submission(peer_spec(name, run), Grant(node_ids=("127.0.0.1",), counts=(1,)), config)
        run.began[name] = time.time()
        t0 = time.perf_counter()
        submit(body)
        durations.append(time.perf_counter() - t0)
    states: dict[str, str] = {}

    def all_final() -> bool:
        states.update(ray_states(run.url, set(names)))
        return len(states) == n and all(s in FINAL_RAY for s in states.values())

    done = wait_until(
        all_final, run.timeout_s, lambda: ", ".join(f"{s} {n}" for s, n in Counter(states.values()).items())
    )
    starts = run.starts(names)
    failed = sum(s != "SUCCEEDED" for s in states.values())
    latency = [starts[k] - run.began[k] for k in starts]
    return Result(method, n, durations, latency, done - first, failed)


def rest_submitter(url: str) -> tuple[Callable[[dict[str, object]], None], httpx.Client]:
    http = httpx.Client(base_url=url, timeout=30)

    def submit(body: dict[str, object]) -> None:
        http.post("/api/jobs/", json=body).raise_for_status()

    return submit, http


def cli_submitter(url: str, ray_cli: str) -> Callable[[dict[str, object]], None]:
    def submit(body: dict[str, object]) -> None:
        runtime_env = body["runtime_env"]
        subprocess.run(
            [
                ray_cli,
                "job",
                "submit",
                f"--address={url}",
                "--no-wait",
                f"--submission-id={body['submission_id']}",
                f"--entrypoint-num-cpus={body['entrypoint_num_cpus']}",
                f"--entrypoint-resources={json.dumps(body['entrypoint_resources'])}",
                f"--runtime-env-json={json.dumps(runtime_env)}",
                f"--metadata-json={json.dumps(body['metadata'])}",
                "--",
                *shlex.split(str(body["entrypoint"])),  # the CLI quotes each word again
            ],
            capture_output=True,
            check=True,
        )

    return submit


def ray_states(url: str, names: set[str]) -> dict[str, str]:
    listing = httpx.get(f"{url}/api/jobs/", timeout=30).json()
    return {j["submission_id"]: j["status"] for j in listing if j.get("submission_id") in names}


def wait_until(done: Callable[[], bool], timeout_s: float, progress: Callable[[], str]) -> float:
    """The moment ``done`` was first seen true (polled every POLL_S); ``progress`` every minute."""
    began = time.monotonic()
    told = began
    while not done():
        now = time.monotonic()
        if now - began > timeout_s:
            raise SystemExit(f"not done within {timeout_s} s: {progress()}")
        if now - told >= PROGRESS_S:
            print(f"  {now - began:.0f} s: {progress()} (load {os.getloadavg()[0]:.1f})", flush=True)
            told = now
        time.sleep(POLL_S)
    return time.time()


def wait_idle(url: str, timeout_s: float = 600) -> None:
    """No job of anyone's pending or running, no actor pending creation (a failed job's supervisor
    still being made): the next method starts on an idle cluster."""
    deadline = time.monotonic() + timeout_s
    while busy := ray_busy(url):
        if time.monotonic() > deadline:
            raise SystemExit(f"Ray did not become idle: {busy}")
        time.sleep(0.5)


def ray_busy(url: str) -> str:
    """What keeps Ray busy ("" when idle): jobs pending or running, actors pending creation."""
    jobs = Counter(j["status"] for j in httpx.get(f"{url}/api/jobs/", timeout=30).json())
    query: dict[str, str | int] = {
        "limit": 10_000,
        "filter_keys": "state",
        "filter_predicates": "=",
        "filter_values": "PENDING_CREATION",
    }
    answer = httpx.get(f"{url}/api/v0/actors", params=query, timeout=60).json()
    pending = len(answer["data"]["result"]["result"])
    live = jobs["PENDING"] + jobs["RUNNING"]
    return f"{live} jobs pending or running, {pending} actors pending creation" if live or pending else ""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def print_rows(results: list[Result]) -> None:
    print(
        f"{'method':<10} {'jobs':>5} {'failed':>6} {'submit p50 ms':>14} {'submit p99 ms':>14} "
        f"{'to-running p50 s':>17} {'to-running p99 s':>17} {'end-to-end jobs/s':>18} {'succeeded/s':>12}"
    )
    for r in results:
        print(
            f"{r.method:<10} {r.jobs:>5} {r.failed:>6} {statistics.median(r.submit_s) * 1000:>14.1f} "
            f"{percentile(r.submit_s, 0.99) * 1000:>14.1f} {percentile(r.latency_s, 0.5):>17.3f} "
            f"{percentile(r.latency_s, 0.99):>17.3f} {r.jobs / r.span_s:>18.2f} "
            f"{(r.jobs - r.failed) / r.span_s:>12.2f}"
        )
    for r in results:
        if r.note:
            print(f"  {r.method}: {r.note}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, action="append", help="batch sizes (default 50 and 200)")
    parser.add_argument("--url", default="http://127.0.0.1:8265")
    parser.add_argument("--ray-cli", default="/var/tmp/ray-venv/bin/ray")
    parser.add_argument("--cli-max", type=int, default=200, help="largest batch the CLI peer runs (0: none)")
    parser.add_argument(
        "--interval", type=float, action="append", help="dispatch cycle interval(s) (default 2, the server's)"
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a method may take")
    args = parser.parse_args()
    sizes = args.jobs or [50, 200]
    tag = uuid.uuid4().hex[:6]
    stamps = Path(f"/tmp/pnyx-bench-ray-{tag}")
    stamps.mkdir(parents=True)
    rest, http = rest_submitter(args.url)
    try:
        for n in sizes:
            run = Run(url=args.url, stamps=stamps, tag=f"{tag}-{n}", timeout_s=args.timeout)
            results = []
            for interval in args.interval or [2.0]:
                wait_idle(args.url)
                results.append(through_pnyx(run, n, interval))
            if shutil.which(args.ray_cli) and n <= args.cli_max:
                wait_idle(args.url)
                results.append(through_peer(run, "ray-cli", n, cli_submitter(args.url, args.ray_cli)))
            wait_idle(args.url)
            results.append(through_peer(run, "ray-rest", n, rest))
            print(f"\n{n} jobs, 1 accelerator each, on Ray at {args.url} (pnyx Ns: idle interval N s)")
            print_rows(results)
    finally:
        http.close()
        shutil.rmtree(stamps, ignore_errors=True)


if __name__ == "__main__":
    main()
