"""Submit-to-running latency and jobs dispatched per second through the Slurm executor, with plain
``sbatch`` of the same jobs in the same run as the peer.

Each job is one trivial command that writes its own start time (``date +%s.%N``) to a file, so
"running" means the command really started (Slurm's own start_time has 1 s resolution). Rows:

  executor     SlurmExecutor.submit: the idempotency lookup (GET jobs) + POST job/submit
  rest-post    the same POST body alone, without the idempotency lookup (attributes the cost)
  sbatch       the CLI (``sbatch --parsable``) with the same account, partition, limits and command

Latency = command start - the moment its submission began; submit rate = jobs / time spent in
the submission calls; end-to-end rate = jobs / (last start - first submission). Run against the
cluster of scripts/engines/up.sh (root, token from scontrol). For the 24.11 chroot pass
``--scontrol 'chroot /var/tmp/slurm-trixie scontrol' --sbatch 'chroot /var/tmp/slurm-trixie sbatch'
--root /var/tmp/slurm-trixie``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from pnyx.executors.slurm import SlurmConfig, SlurmExecutor, build_request
from pnyx.inventory.model import SafetyLevel
from pnyx.jobs.model import Grant, JobSpec


@dataclass(frozen=True)
class Result:
    method: str
    jobs: int
    submit_s: list[float]
    latency_s: list[float]
    span_s: float


def spec_for(i: int, run: str, stamp_dir: str) -> JobSpec:
    job_id = f"bench-{run}-{i:04d}"
    return JobSpec(
        job_id=job_id,
        idempotency_key=f"{job_id}-a1",
        name="bench",
        project="public",
        user="root",
        accelerator_type="H100",
        accelerators=0,
        nodes=1,
        accelerators_per_node=0,
        safety_level=SafetyLevel.L1,
        time_limit_s=60,
        command=("bash", "-c", f'date +%s.%N > {stamp_dir}/"$PNYX_JOB_ID".start'),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def wait_for_starts(local_dir: Path, job_ids: list[str], timeout_s: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    starts: dict[str, float] = {}
    while len(starts) < len(job_ids):
        for job_id in job_ids:
            path = local_dir / f"{job_id}.start"
            if job_id not in starts and path.exists():
                text = path.read_text().strip()
                if text:
                    starts[job_id] = float(text)
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(starts)}/{len(job_ids)} jobs started within {timeout_s} s")
        time.sleep(0.05)
    return starts


def measure(
    method: str, specs: list[JobSpec], submit: Callable[[JobSpec], None], local_dir: Path, timeout_s: float
) -> Result:
    began: dict[str, float] = {}
    durations: list[float] = []
    for spec in specs:
        began[spec.job_id] = time.time()
        t0 = time.perf_counter()
        submit(spec)
        durations.append(time.perf_counter() - t0)
    starts = wait_for_starts(local_dir, [s.job_id for s in specs], timeout_s)
    latency = [starts[j] - began[j] for j in began]
    span = max(starts.values()) - min(began.values())
    return Result(method, len(specs), durations, latency, span)


def drain(executor: SlurmExecutor, prefix: str, timeout_s: float = 120) -> None:
    """Wait until no job of this run is pending or running, so the next method starts on idle nodes."""
    deadline = time.monotonic() + timeout_s
    while any(
        j.name.startswith(prefix) and j.state in {"PENDING", "RUNNING", "COMPLETING", "CONFIGURING"}
        for j in executor.controller_jobs()
    ):
        if time.monotonic() > deadline:
            raise SystemExit("the queue did not drain")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--url", default="http://127.0.0.1:6820")
    parser.add_argument("--scontrol", default="scontrol")
    parser.add_argument("--sbatch", default="sbatch")
    parser.add_argument("--root", default="", help="where the cluster's / lies on this machine (a chroot)")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()

    token = subprocess.run(
        [*shlex.split(args.scontrol), "token", "username=root", "lifespan=3600"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    run = uuid.uuid4().hex[:6]
    cluster_dir = f"/tmp/pnyx-bench-{run}"
    local_dir = Path(args.root.rstrip("/") + cluster_dir)
    local_dir.mkdir(parents=True)
    local_dir.chmod(0o1777)
    config = SlurmConfig(
        base_url=args.url,
        user="root",
        token=token.removeprefix("SLURM_JWT="),
        working_directory=cluster_dir,
        log_directory=cluster_dir,
        log_mount=str(local_dir),
    )
    executor = SlurmExecutor(config)
    dialect = executor.dialect()
    grant = Grant(node_ids=("n1",), counts=(0,))
    headers = {"X-SLURM-USER-NAME": config.user, "X-SLURM-USER-TOKEN": config.token}
    http = httpx.Client(base_url=args.url, headers=headers, timeout=30)

    def via_executor(spec: JobSpec) -> None:
        executor.submit(spec, grant)

    def via_rest_post(spec: JobSpec) -> None:
        body = dialect.submit_body(build_request(spec, grant, config))
        response = http.post(f"/slurm/{dialect.version}/job/submit", json=body)
        response.raise_for_status()

    def via_sbatch(spec: JobSpec) -> None:
        request = build_request(spec, grant, config)
        subprocess.run(
            [
                *shlex.split(args.sbatch),
                "--parsable",
                f"--job-name={request.name}",
                f"--account={request.account}",
                f"--partition={request.partition}",
                "--nodes=1",
                "--ntasks-per-node=1",
                f"--time={request.time_limit_min}",
                f"--chdir={cluster_dir}",
                f"--output={cluster_dir}/%j.out",
                "--no-requeue",
                f"--export=ALL,PNYX_JOB_ID={spec.job_id}",
            ],
            input=request.script,
            capture_output=True,
            text=True,
            check=True,
        )

    methods: list[tuple[str, Callable[[JobSpec], None]]] = [
        ("executor", via_executor),
        ("rest-post", via_rest_post),
        ("sbatch", via_sbatch),
    ]
    results = []
    for name, submit in methods:
        specs = [spec_for(i, f"{run}-{name}", cluster_dir) for i in range(args.jobs)]
        results.append(measure(name, specs, submit, local_dir, args.timeout))
        drain(executor, f"pnyx-bench-{run}")

    print(f"Slurm {dialect.version} at {args.url}; {args.jobs} jobs per method, one after the other")
    header = (
        f"{'method':<10} {'jobs':>5} {'submit p50 ms':>14} {'submit p99 ms':>14} "
        f"{'to-running p50 s':>17} {'to-running p99 s':>17} {'submit jobs/s':>14} {'end-to-end jobs/s':>18}"
    )
    print(header)
    for r in results:
        print(
            f"{r.method:<10} {r.jobs:>5} {statistics.median(r.submit_s) * 1000:>14.1f} "
            f"{percentile(r.submit_s, 0.99) * 1000:>14.1f} {statistics.median(r.latency_s):>17.3f} "
            f"{percentile(r.latency_s, 0.99):>17.3f} {r.jobs / sum(r.submit_s):>14.1f} "
            f"{r.jobs / r.span_s:>18.1f}"
        )
    executor.close()
    http.close()
    shutil.rmtree(local_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
