"""Training jobs the real local executor is running (their work directory made, RUNNING in the
database), what they write, and their end (outputs recorded as the dispatcher's recorder records
them): what the registry registers checkpoints of while they run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from pnyx.executors.local import LocalExecutor
from pnyx.executors.local_outputs import OutputCaps, hash_outputs
from pnyx.jobs.model import JobInput, JobRecord, JobStatus
from pnyx.jobs.store import JobRepository
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass
from pnyx.wiring import Platform
from tests.unit.registry.lineage_outputs import write

P1 = Label(level=SafetyLevel.L1, categories=frozenset({"project:p1"}))
WHEN = datetime(2026, 11, 25, 9, tzinfo=UTC)


def running_job(
    platform: Platform, executor: LocalExecutor, job_id: str = "job_train01", inputs: tuple[str, ...] = ()
) -> JobRecord:
    key = f"{job_id}-a0"
    (executor.layout.work(key) / "outputs").mkdir(parents=True)
    job = JobRecord(
        id=job_id, name="train", project="p1", user="ada", engine="local", accelerator_type=None,
        accelerators=2, estimate_s=600, checkpoint_s=0, priority_class=PriorityClass.ENTITLED,
        label=P1, status=JobStatus.RUNNING, submitted_at=WHEN, command=("true",), engine_job_id=key,
        started_at=WHEN, inputs=tuple(JobInput(version=v, path="/x", label=P1) for v in inputs),
    )  # fmt: skip
    with platform.engine.begin() as conn:
        JobRepository(conn).add(job)
    return job


def write_outputs(executor: LocalExecutor, job: JobRecord, files: dict[str, bytes]) -> None:
    assert job.engine_job_id is not None
    write(executor.layout.work(job.engine_job_id) / "outputs", files)


def finish(platform: Platform, executor: LocalExecutor, job: JobRecord) -> JobRecord:
    """The job completed; its outputs recorded as the dispatcher's recorder records them."""
    assert job.engine_job_id is not None
    done = replace(job, status=JobStatus.COMPLETED, ended_at=WHEN)
    with platform.engine.begin() as conn:
        JobRepository(conn).save(done)
    platform.jobs.record_artifacts(
        job.id, hash_outputs(executor.layout.work(job.engine_job_id), OutputCaps()).artifacts
    )
    return done


def checkpoint_files(files: dict[str, bytes], step: int) -> dict[str, bytes]:
    """The files of one checkpoint among a run's outputs."""
    return {p: d for p, d in files.items() if p.startswith(f"checkpoints/step-{step:06d}/")}
