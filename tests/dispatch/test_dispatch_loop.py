"""The dispatch loop with the real local executor, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from typing import cast

import pytest

from pnyx.core.errors import Forbidden, InvalidInput, NotFound
from pnyx.dispatch.loop import Dispatcher
from pnyx.jobs.model import JobStatus
from pnyx.jobs.service import JobService, Submission
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import JobDoesNotFit, PriorityClass
from pnyx.wiring import Platform
from tests.dispatch.conftest import ADA, FakeProjects
from tests.executors.job_root import JOB_PYTHON

OPEN_LLM = frozenset({"project:open-llm"})


def _run_until(
    dispatcher: Dispatcher, jobs: JobService, job_id: str, status: JobStatus, timeout: float = 20
) -> None:
    deadline = time.monotonic() + timeout
    while jobs.get(ADA, job_id).status is not status:
        assert time.monotonic() < deadline, jobs.get(ADA, job_id)
        dispatcher.cycle()
        time.sleep(0.05)


def test_a_job_runs_to_completion(dispatcher: Dispatcher, jobs: JobService) -> None:
    job = jobs.submit(
        ADA,
        Submission(
            name="hello",
            project="open-llm",
            accelerators=8,
            estimate_s=60,
            command=(JOB_PYTHON, "-c", "print('hello from', __import__('os').environ['PNYX_JOB_ID'])"),
        ),
    )
    assert job.status is JobStatus.PENDING
    report = dispatcher.cycle()
    assert (report.leader, report.started, report.submitted) == (True, 1, 1)
    running = jobs.get(ADA, job.id)
    assert running.status in {JobStatus.QUEUED, JobStatus.RUNNING}  # running once its engine says so
    assert sum(running.counts) == 8
    _run_until(dispatcher, jobs, job.id, JobStatus.COMPLETED)
    done = jobs.get(ADA, job.id)
    assert done.exit_code == 0
    assert done.started_at is not None
    assert done.ended_at is not None
    assert f"hello from {job.id}" in dispatcher.executors["local"].logs(
        __import__("pnyx.jobs.model", fromlist=["EngineRef"]).EngineRef(
            engine="local", engine_job_id=done.engine_job_id
        )
    )


def test_failure_and_cancel(dispatcher: Dispatcher, jobs: JobService) -> None:
    failing = jobs.submit(
        ADA,
        Submission(
            name="f",
            project="open-llm",
            accelerators=1,
            estimate_s=60,
            command=(JOB_PYTHON, "-c", "raise SystemExit(4)"),
        ),
    )
    sleeper = jobs.submit(
        ADA,
        Submission(name="s", project="open-llm", accelerators=1, estimate_s=600, command=("sleep", "120")),
    )
    queued = jobs.submit(
        ADA, Submission(name="q", project="open-llm", accelerators=1, estimate_s=600, command=("true",))
    )
    assert jobs.cancel(ADA, queued.id).status is JobStatus.CANCELLED  # pending: at once
    dispatcher.cycle()
    assert jobs.cancel(ADA, sleeper.id).cancel_requested
    _run_until(dispatcher, jobs, failing.id, JobStatus.FAILED)
    assert jobs.get(ADA, failing.id).exit_code == 4
    _run_until(dispatcher, jobs, sleeper.id, JobStatus.CANCELLED)
    with pytest.raises(InvalidInput, match="already ended"):
        jobs.cancel(ADA, sleeper.id)


def test_bad_submissions_are_refused(jobs: JobService) -> None:
    with pytest.raises(NotFound, match="unknown project"):
        jobs.submit(
            ADA, Submission(name="x", project="nope", accelerators=1, estimate_s=10, command=("true",))
        )
    with pytest.raises(InvalidInput, match="not configured"):
        jobs.submit(
            ADA,
            Submission(
                name="x", project="open-llm", accelerators=1, estimate_s=10, command=("true",), engine="slurm"
            ),
        )
    with pytest.raises(JobDoesNotFit, match="largest gang"):
        jobs.submit(
            ADA,
            Submission(name="x", project="open-llm", accelerators=100_000, estimate_s=10, command=("true",)),
        )
    with pytest.raises(JobDoesNotFit, match="does not have"):
        jobs.submit(
            ADA,
            Submission(
                name="x",
                project="open-llm",
                accelerators=8,
                estimate_s=10,
                command=("true",),
                accelerator_type="TPU-v5",
            ),
        )
    with pytest.raises(InvalidInput, match="command or a container image"):
        jobs.submit(ADA, Submission(name="x", project="open-llm", accelerators=8, estimate_s=10))
    with pytest.raises(Forbidden, match="not a member"):
        jobs.submit(
            ADA, Submission(name="x", project="closed", accelerators=1, estimate_s=10, command=("true",))
        )
    with pytest.raises(Forbidden, match="urgent"):
        jobs.submit(
            ADA,
            Submission(
                name="x",
                project="open-llm",
                accelerators=1,
                estimate_s=10,
                command=("true",),
                priority_class=PriorityClass.URGENT,
            ),
        )
    assert jobs.search(ADA) == []


def test_over_budget_project_runs_opportunistically_and_says_so(jobs: JobService) -> None:
    job = jobs.submit(
        ADA, Submission(name="x", project="spent", accelerators=1, estimate_s=10, command=("true",))
    )
    assert job.priority_class == "preemptible"
    assert "opportunistically" in job.reason


def test_outputs_are_recorded_by_hash_with_the_jobs_label(
    dispatcher: Dispatcher, jobs: JobService, system_platform: Platform
) -> None:
    code = (
        "import os, pathlib; d = pathlib.Path(os.environ['PNYX_OUTPUT_DIR']); (d / 'ckpt').mkdir(); "
        "(d / 'ckpt' / 'step-100.safetensors').write_bytes(b'weights'); (d / 'eval.json').write_text('{}')"
    )
    job = jobs.submit(
        ADA,
        Submission(
            name="out",
            project="open-llm",
            accelerators=8,
            estimate_s=60,
            label=SafetyLevel.L2,
            command=(JOB_PYTHON, "-c", code),
        ),
    )
    _run_until(dispatcher, jobs, job.id, JobStatus.COMPLETED)
    assert dispatcher.outputs.wait(timeout=20)  # outputs are hashed off the dispatch thread
    projects = cast(FakeProjects, jobs.projects)
    with pytest.raises(Forbidden, match="L2"):  # open-llm is L1: its members are not cleared for L2
        jobs.artifacts(ADA, job.id)
    projects.known["open-llm"] = dataclasses.replace(
        projects.known["open-llm"], label=Label(level=SafetyLevel.L2)
    )
    artifacts = {a.path: a for a in jobs.artifacts(ADA, job.id)}
    assert set(artifacts) == {"ckpt/step-100.safetensors", "eval.json"}
    weights = artifacts["ckpt/step-100.safetensors"]
    assert weights.sha256 == hashlib.sha256(b"weights").hexdigest()
    assert (weights.size, weights.label) == (7, Label(level=SafetyLevel.L2, categories=OPEN_LLM))
    assert jobs.record_artifacts(job.id, []) == []  # once per attempt
    system_platform.log.drain()
    recorded = [
        e
        for e in system_platform.log.entries(0, system_platform.log.size())
        if e.event_type == "jobs.outputs.recorded"
    ]
    assert len(recorded) == 1  # one entry per attempt, naming no file
    summary = json.loads(recorded[0].data)["data"]
    assert (summary["files"], summary["bytes"]) == (2, 7 + 2)
    assert "eval.json" not in recorded[0].data.decode()
