"""What an SME workspace costs a training job: the reference recipe on plaintext against the same
recipe on the same data encrypted in a workspace, same run, same config, interleaved (A B A B).

    python -m benchmarks.sme_overhead          # 2 ranks, d_model 128, 2 layers, seq 128, 40 steps, 2 rounds
    python -m benchmarks.sme_overhead --quick  # the tiny test model, 10 steps, 1 round

Both are platform jobs on the real local executor (bubblewrap sandbox, job uids, the server's Python
by PNYX_LOCAL_RUNTIME=server), placed by the dispatcher, running
``torchrun --nproc-per-node R -m pnyx.training.run --data DIR --out outputs --config cfg.json``:

- A, plaintext: ``DIR`` is ``inputs/<version>``, a dataset version (the registry's demo samples made
  into a version by its own importer) bound read-only from the data directory.
- B, sealed: the version's files were encrypted on the SME's side (a data key each, wrapped to the
  workspace's X25519 key, as ``pnyx sme upload`` does) and stored by the workspace service; the job
  awaits keys, the SME authorises it (as ``pnyx sme authorize`` does: keys unwrapped and sealed to
  the dispatcher's delivery key), the in-sandbox runner decrypts them into ``/inputs/workspace``
  (a tmpfs) and ``DIR`` is ``inputs/workspace``; every output is sealed on the way out and taken in
  as workspace objects.

Figures, for each:
(a) training tokens/s: the recipe's own progress lines (``step i/N ... tokens/s X ... (S s)``), every
    position processed, over the steps after ``--warmup``; for B read from its sealed
    ``pnyx-job.log`` after decrypting it with the SME's key. Decryption, sealing and start-up are
    not in it: this is the training loop's own speed.
(b) end to end: wall time from submission to its outputs taken in (recorded for A; sealed objects
    stored in the workspace for B), with the dispatcher cycling every ``--interval`` s. B includes
    the SME's authorisation (done at once here), decrypting the inputs and sealing the outputs.
The goal (issue 13): B no more than 5% slower than A.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from benchmarks.train_cpu import registry_dataset
from pnyx.core.clock import SystemClock
from pnyx.core.ids import UserId
from pnyx.db.engine import create_engine
from pnyx.db.migrate import upgrade
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.outputs import JobIntakes
from pnyx.dispatch.sealed import KeyGate
from pnyx.executors.local import LocalExecutor
from pnyx.executors.local_runtime import runtime_setting
from pnyx.executors.sandbox import SandboxConfig
from pnyx.identity.model import Principal, Role
from pnyx.inventory.service import InventoryService
from pnyx.jobs.inputs import ResolvedDataset
from pnyx.jobs.model import EngineRef, JobRecord, JobStatus
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import TopologyCache, fit_check
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.policy import policy_named
from pnyx.training.config import TrainConfig
from pnyx.workspaces import envelope
from pnyx.workspaces.authorisation import JobAuthorisations, ProjectWorkspaces, seal_authorisation
from pnyx.workspaces.intake import SealedIntake
from pnyx.workspaces.model import ObjectOrigin
from pnyx.workspaces.service import WorkspaceService
from pnyx.workspaces.store import WorkspaceBlobs

SME = Principal(user_id=UserId("usr_sme"), name="sme", roles=frozenset({Role.RESEARCHER}))
PROJECT = "sme-co"  # has the workspace: its every job is sealed
PLAIN = "open-co"  # has none: its jobs are ordinary ones
STEP = re.compile(r"^step (\d+)/\d+ loss \S+ tokens/s ([\d,]+) .*\(([\d.]+) s\)$")
FINAL = {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}
MAX_OBJECT = 1 << 30


class Projects:
    """Two projects whose named team is the SME: one with the workspace, one without."""

    def project(self, project_id: str) -> ProjectInfo | None:
        if project_id not in (PROJECT, PLAIN):
            return None
        return ProjectInfo(
            id=project_id, member_state="DE", members=frozenset({str(SME.user_id)}), over_budget=False
        )


@dataclass
class OneVersion:
    version: str
    path: Path

    def resolve(self, principal: Principal, version: str, job: Label) -> ResolvedDataset | None:
        found = ResolvedDataset(path=self.path, label=Label(level=SafetyLevel.L1))
        return found if version == self.version else None


@dataclass
class Bench:
    jobs: JobService
    dispatcher: Dispatcher
    executor: LocalExecutor
    workspaces: WorkspaceService
    auth: JobAuthorisations
    key: envelope.KeyPair
    workspace: str
    objects: list[str]
    version: OneVersion
    interval_s: float


@dataclass(frozen=True)
class Result:
    tokens_per_s: float
    wall_s: float
    steps: int


@contextmanager
def bench(root: Path, samples: int, interval_s: float) -> Iterator[Bench]:
    data_dir, job_base = root / "data", Path(tempfile.mkdtemp(prefix="pnyx-bench-jobs-", dir="/var/tmp"))
    job_base.chmod(0o711)
    try:
        version = registry_dataset(data_dir, samples, shards=4)
        for d in (data_dir, data_dir / "registry", version.parent, version):
            d.chmod(0o700)
        url = f"sqlite:///{root / 'bench.db'}"
        engine = create_engine(url)
        upgrade(engine)
        uow = UnitOfWork(engine=engine, clock=SystemClock())
        inventory = InventoryService(uow)
        inventory.generate(64, seed=1)
        topology = TopologyCache(inventory)
        runtime = runtime_setting(
            "server", hidden={"the data directory": data_dir, "the job root": job_base / "jobs"}
        )
        executor = LocalExecutor(job_base / "jobs", SandboxConfig(runtime=runtime))
        yield _built(uow, topology, executor, data_dir, OneVersion(version.name, version), interval_s, root)
        executor.close()
        engine.dispose()
    finally:
        shutil.rmtree(job_base, ignore_errors=True)


def _built(
    uow: UnitOfWork,
    topology: TopologyCache,
    executor: LocalExecutor,
    data_dir: Path,
    version: OneVersion,
    interval_s: float,
    root: Path,
) -> Bench:
    projects, blobs = Projects(), WorkspaceBlobs(data_dir / "workspaces")
    jobs = JobService(
        uow,
        projects=projects,
        fits=fit_check(topology),
        executors={"local": executor},
        default_engine="local",
        datasets=version,
        workspaces=ProjectWorkspaces(uow),
    )
    auth = JobAuthorisations(uow, projects=projects, blobs=blobs)
    intake = SealedIntake(uow, readers={"local": executor}, blobs=blobs, max_object_bytes=MAX_OBJECT)
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=topology.topology,
        executors={"local": executor},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=SystemClock(),
        policy=policy_named("full"),
        leadership=FileLeadership(root / "dispatch.lock"),
        intake=JobIntakes(None, intake),
        keys=KeyGate(auth),
    )
    workspaces = WorkspaceService(
        uow, projects=projects, blobs=blobs, open_jobs=lambda _p: [], max_object_bytes=MAX_OBJECT
    )
    key = envelope.generate_keypair()
    workspace = workspaces.create(SME, PROJECT, key.public_key).id
    objects = [upload(workspaces, workspace, key.public_key, f) for f in sorted(version.path.iterdir())]
    return Bench(jobs, dispatcher, executor, workspaces, auth, key, workspace, objects, version, interval_s)


def upload(workspaces: WorkspaceService, workspace: str, public_key: str, path: Path) -> str:
    """One file encrypted on the SME's side, as ``pnyx sme upload`` encrypts it; stored."""
    ciphertext = io.BytesIO()
    with path.open("rb") as src:
        sealed = envelope.seal_object(
            src,
            ciphertext,
            object_id=envelope.new_object_id(),
            name=path.name,
            public_key=public_key,
            workspace_id=workspace,
        )
    ciphertext.seek(0)
    workspaces.store_object(
        SME,
        workspace,
        object_id=sealed.object_id,
        wrapped_key=sealed.wrapped_key,
        sealed_meta=sealed.sealed_meta,
        commitment=sealed.commitment,
        ciphertext=ciphertext,
    )
    return sealed.object_id


def command(data: str, config: TrainConfig, ranks: int) -> tuple[str, ...]:
    """The recipe with its config written in the job's own directory first (the same for both)."""
    recipe = "-m pnyx.training.run --out outputs --config cfg.json"
    run = f"torchrun --nproc-per-node {ranks} {recipe} --data {data}"
    return ("sh", "-c", f"echo '{json.dumps(asdict(config))}' > cfg.json && exec {run}")


def plaintext(b: Bench, config: TrainConfig, ranks: int, warmup: int) -> Result:
    started = time.perf_counter()
    job = b.jobs.submit(SME, _submission(f"inputs/{b.version.version}", config, ranks, ()))
    done, wall = _until_taken_in(b, job.id, started)
    ref = EngineRef(engine="local", engine_job_id=done.engine_job_id or "")
    return _result(b.executor.logs(ref, tail_lines=config.steps + 500), warmup, wall)


def sealed(b: Bench, config: TrainConfig, ranks: int, warmup: int) -> Result:
    started = time.perf_counter()
    job = b.jobs.submit(SME, _submission("inputs/workspace", config, ranks, tuple(b.objects)))
    request = b.auth.request(SME, job.id)  # what `pnyx sme authorize` fetches, unwraps and seals
    private = envelope.load_private_key(b.key.private_pem)
    b.auth.authorise(SME, job.id, request.delivery_key_id, seal_authorisation(request, private))
    _done, wall = _until_taken_in(b, job.id, started)
    return _result(sealed_log(b, job.id), warmup, wall)


def _submission(data: str, config: TrainConfig, ranks: int, objects: tuple[str, ...]) -> Submission:
    return Submission(
        name="bench",
        project=PROJECT if objects else PLAIN,
        accelerators=8,
        estimate_s=3600,
        command=command(data, config, ranks),
        datasets=() if objects else (data.removeprefix("inputs/"),),
        workspace_objects=objects,
    )


def _until_taken_in(b: Bench, job_id: str, started: float) -> tuple[JobRecord, float]:
    while (job := b.jobs.get(SME, job_id)).status not in FINAL:
        b.dispatcher.cycle()
        time.sleep(b.interval_s)
    if job.status is not JobStatus.COMPLETED:
        ref = EngineRef(engine="local", engine_job_id=job.engine_job_id or "")
        raise SystemExit(f"job {job_id} {job.status}: {job.reason}\n{b.executor.logs(ref)[-3000:]}")
    while not b.dispatcher.outputs.wait(0.05):
        b.dispatcher.cycle()
    return job, time.perf_counter() - started


def sealed_log(b: Bench, job_id: str) -> str:
    """The job's sealed ``pnyx-job.log``, decrypted with the SME's key as ``pnyx sme decrypt`` does."""
    for obj in b.workspaces.objects(SME, b.workspace):
        if obj.origin is not ObjectOrigin.JOB or obj.job_id != job_id or obj.wrapped_key is None:
            continue
        context = envelope.context_of(b.workspace, obj.id)
        data_key = envelope.unwrap_key(obj.wrapped_key, b.key.private_pem, context)
        if envelope.open_meta(obj.sealed_meta or b"", data_key, context).name == "pnyx-job.log":
            _obj, handle = b.workspaces.open_ciphertext(SME, b.workspace, obj.id)
            plain = io.BytesIO()
            with handle:
                envelope.decrypt_stream(handle, plain, data_key, context)
            return plain.getvalue().decode()
    raise SystemExit(f"job {job_id}: no sealed pnyx-job.log was taken in")


def _result(log: str, warmup: int, wall: float) -> Result:
    steps = [m for line in log.splitlines() if (m := STEP.match(line.strip()))]
    kept = [(float(m.group(2).replace(",", "")), float(m.group(3))) for m in steps[warmup:]]
    if not kept:
        raise SystemExit(f"no progress lines after the warm-up in the job's log:\n{log[-3000:]}")
    tokens = sum(rate * seconds for rate, seconds in kept)
    return Result(tokens_per_s=tokens / sum(s for _, s in kept), wall_s=wall, steps=len(steps))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="the tiny test model, 10 steps, 1 round")
    parser.add_argument("--rounds", type=int, default=2, help="A B pairs, interleaved")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of tokens/s")
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between dispatcher cycles")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps, args.warmup, args.d_model, args.seq_len = 1, 10, 2, 64, 64
    config = TrainConfig(
        d_model=args.d_model,
        layers=args.layers,
        heads=4,
        d_ff=2 * args.d_model,
        seq_len=args.seq_len,
        steps=args.steps,
        checkpoint_every=args.steps,
    )
    with tempfile.TemporaryDirectory() as tmp, bench(Path(tmp), args.samples, args.interval) as b:
        rows: dict[str, list[Result]] = {"A": [], "B": []}
        for _ in range(args.rounds):
            rows["A"].append(plaintext(b, config, args.ranks, args.warmup))
            rows["B"].append(sealed(b, config, args.ranks, args.warmup))
        b.dispatcher.close()
        report(args, config, b, rows)


def report(args: argparse.Namespace, config: TrainConfig, b: Bench, rows: dict[str, list[Result]]) -> None:
    files = sorted(b.version.path.iterdir())
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; dataset: {len(files)} files, "
        f"{sum(f.stat().st_size for f in files):,} bytes (the registry's demo samples)"
    )
    print(
        f"model: d_model {config.d_model}, {config.layers} layers, seq {config.seq_len}; {args.ranks} "
        f"ranks x {config.batch_size} samples; {config.steps} steps ({args.warmup} warm-up); "
        f"{args.rounds} A/B rounds"
    )
    names = {"A": "A plaintext (dataset version)", "B": "B sealed (encrypted workspace)"}
    print(f"{'job':<32} {'training tokens/s (each)':<30} {'end to end s (each)':<26}")
    for key, results in rows.items():
        rates = " / ".join(f"{r.tokens_per_s:,.0f}" for r in results)
        walls = " / ".join(f"{r.wall_s:.1f}" for r in results)
        print(f"{names[key]:<32} {rates:<30} {walls:<26}")
    rate = statistics.median(r.tokens_per_s for r in rows["B"]) / statistics.median(
        r.tokens_per_s for r in rows["A"]
    )
    wall = statistics.median(r.wall_s for r in rows["B"]) / statistics.median(r.wall_s for r in rows["A"])
    print(f"B / A training tokens/s (medians): {rate:.3f}x ({_than(1 / rate)} than A)")
    print(f"B / A end-to-end wall time (medians): {wall:.3f}x ({_than(wall)} than A)")
    print(
        f"goal (B at most 5% slower): training {'met' if rate >= 0.95 else 'NOT met'}, "
        f"end to end {'met' if wall <= 1.05 else 'NOT met'}"
    )


def _than(slowdown: float) -> str:
    """How much slower (time ratio over 1) or faster, in words."""
    return f"{abs(slowdown - 1) * 100:.1f}% {'slower' if slowdown > 1 else 'faster'}"


if __name__ == "__main__":
    main()
