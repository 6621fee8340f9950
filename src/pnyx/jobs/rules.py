"""Pure job rules: the one transition function, and what a submission must satisfy."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import InvalidInput
from pnyx.jobs.model import (
    JOB_TRANSITIONS,
    Artifact,
    EngineState,
    InvalidJobTransition,
    JobAction,
    JobArtifact,
    JobRecord,
    JobStatus,
    OutputsRecorded,
)
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import Job, Placement
from pnyx.scheduler.topology import Topology

MAX_ESTIMATE_S = 14 * 24 * 3600  # two weeks: longer work must checkpoint and resubmit
MAX_ACCELERATORS = 1_000_000  # more than any facility holds, and far from an integer overflow
# A command line is argv, not a file: bounded per argument and in all (UTF-8 bytes).
MAX_COMMAND_ARGS = 256
MAX_ARG_BYTES = 4 * 1024
MAX_COMMAND_BYTES = 64 * 1024
# An environment (NAME=value pairs) is bounded the same way.
MAX_ENV_VARS = 128
MAX_ENV_BYTES = 64 * 1024


def transition(status: JobStatus, action: JobAction) -> JobStatus:
    """The one place a job's status changes."""
    try:
        return JOB_TRANSITIONS[status, action]
    except KeyError:
        raise InvalidJobTransition(f"a {status} job cannot {action}", field="status") from None


# How an engine's final word closes a job.
FINISH_ACTIONS = {
    EngineState.SUCCEEDED: JobAction.SUCCEED,
    EngineState.FAILED: JobAction.FAIL,
    EngineState.CANCELLED: JobAction.CANCEL,
}


def engine_action(status: JobStatus, state: EngineState) -> JobAction | None:
    """What an engine's report does to a job it holds: close it, start it (a job queued in the
    engine that the engine now runs), or nothing (still queued or running; UNKNOWN is the caller's)."""
    if state in FINISH_ACTIONS:
        return FINISH_ACTIONS[state]
    if state is EngineState.RUNNING and status is JobStatus.QUEUED:
        return JobAction.START
    return None


def validate_submission(
    *,
    accelerators: int,
    estimate_s: int,
    checkpoint_s: int,
    command: tuple[str, ...],
    image: str | None,
    env: Mapping[str, str] | None = None,
    texts: Mapping[str, str | None] | None = None,
) -> None:
    """What any submission must satisfy, whichever edge it came through. ``texts``: other named strings."""
    check_sizes(accelerators=accelerators, estimate_s=estimate_s, checkpoint_s=checkpoint_s)
    if not command and not image:
        raise InvalidInput("a job needs a command or a container image", field="command")
    check_command(command)
    check_env(env or {})
    for field, text in (texts or {}).items():
        check_text(text, field)


def check_sizes(*, accelerators: int, estimate_s: int, checkpoint_s: int) -> None:
    if not 0 < accelerators <= MAX_ACCELERATORS:
        raise InvalidInput(f"a job needs 1 to {MAX_ACCELERATORS} accelerators", field="accelerators")
    if not 0 < estimate_s <= MAX_ESTIMATE_S:
        raise InvalidInput(
            f"the runtime estimate must be 1 s to {MAX_ESTIMATE_S} s (14 days)", field="estimate_s"
        )
    if not 0 <= checkpoint_s <= MAX_ESTIMATE_S:
        raise InvalidInput(
            f"the checkpoint interval must be 0 s to {MAX_ESTIMATE_S} s (14 days)", field="checkpoint_s"
        )


def check_command(command: tuple[str, ...]) -> None:
    """At most 256 arguments, 4 KiB each and 64 KiB in all, no NUL byte."""
    if len(command) > MAX_COMMAND_ARGS:
        raise InvalidInput(f"the command has more than {MAX_COMMAND_ARGS} arguments", field="command")
    sizes = [len(check_text(a, "command")) for a in command]
    if any(n > MAX_ARG_BYTES for n in sizes):
        raise InvalidInput(f"a command argument is longer than {MAX_ARG_BYTES} bytes", field="command")
    if sum(sizes) > MAX_COMMAND_BYTES:
        raise InvalidInput(f"the command is longer than {MAX_COMMAND_BYTES} bytes in all", field="command")


def check_env(env: Mapping[str, str]) -> None:
    """At most 128 variables, 4 KiB and 64 KiB in all as NAME=value, names of letters, digits and _."""
    if len(env) > MAX_ENV_VARS:
        raise InvalidInput(f"the environment has more than {MAX_ENV_VARS} variables", field="env")
    if not all(name.isidentifier() and name.isascii() for name in env):
        raise InvalidInput("environment names are letters, digits and _", field="env")
    sizes = [len(check_text(f"{name}={value}", "env")) for name, value in env.items()]
    if any(n > MAX_ARG_BYTES for n in sizes) or sum(sizes) > MAX_ENV_BYTES:
        raise InvalidInput(
            f"environment variables are at most {MAX_ARG_BYTES} bytes each, {MAX_ENV_BYTES} in all",
            field="env",
        )


def check_text(text: str | None, field: str) -> bytes:
    """Text both databases store as given: UTF-8 without NUL bytes. Returns its encoding."""
    if text is None:
        return b""
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("the text is not valid Unicode", field=field) from None
    if b"\0" in encoded:
        raise InvalidInput("the text holds a NUL byte", field=field)
    return encoded


def to_scheduler_job(record: JobRecord) -> Job:
    """The scheduler's view of a stored job (time as epoch seconds)."""
    return Job(
        id=record.id,
        accelerators=record.accelerators,
        estimate_s=float(record.estimate_s),
        accelerator_type=record.accelerator_type,
        member=record.member_state or "-",
        project=record.project,
        user=record.user,
        priority_class=record.priority_class,
        label=record.level,
        checkpoint_s=float(record.checkpoint_s),
        allow_cross_site=record.allow_cross_site,
        submit_s=record.submitted_at.timestamp(),
    )


def placement_of(record: JobRecord, topology: Topology) -> Placement:
    """The stored placement of a dispatched or running job, as the scheduler's ``Placement``."""
    nodes = tuple(topology.index_of[n] for n in record.node_ids)
    return Placement(
        job_id=record.id,
        accelerator_type=record.placed_type or record.accelerator_type or "",
        node_ids=record.node_ids,
        counts=record.counts,
        nodes=nodes,
        pool=topology.node_pool[nodes[0]],
        exclusive=record.level >= SafetyLevel.L2,  # as scheduler.model.Job.exclusive
    )


def placed_at(job: JobRecord) -> datetime:
    """When the job was handed towards its engine (or submitted, if it never was)."""
    return job.dispatched_at or job.submitted_at


def clamp_engine_times(
    job: JobRecord, started_at: datetime | None, ended_at: datetime | None, *, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """An engine's report of when a job started and ended, bounded before it is stored.

    A job (or an engine) may claim any time: the start is kept within [when the job was placed, now],
    the end within [its start, now]. The start is set once, when the attempt is first seen to start:
    an attempt that already has one keeps it (the start returned is ``None``), whatever the engine
    says later, at a cancel or at the end. A time without a zone is read as UTC. ``None`` stays
    ``None``: the caller keeps what it has."""
    placed = min(_utc(placed_at(job)), now)
    start = None if job.started_at is not None else _within(started_at, placed, now)
    end = _within(ended_at, job.started_at or start or placed, now)
    return start, end


def _within(value: datetime | None, low: datetime, high: datetime) -> datetime | None:
    return None if value is None else min(max(_utc(value), _utc(low)), high)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def outputs_manifest(artifacts: Sequence[Artifact]) -> bytes:
    """The canonical manifest of an attempt's outputs (sorted by path): its SHA-256 goes to the public
    log, so anyone holding a file and the manifest can check both against the log."""
    rows = sorted(({"path": a.path, "sha256": a.sha256, "size": a.size} for a in artifacts), key=_path)
    return canonical_json(rows)


def _path(row: Mapping[str, object]) -> str:
    return str(row["path"])


def recorded_artifacts(
    job: JobRecord, artifacts: Sequence[Artifact], label: Label, at: datetime
) -> list[JobArtifact]:
    """A finished attempt's outputs as stored, each under the outputs' ``label``."""
    return [
        JobArtifact(
            job_id=job.id,
            attempt=job.attempt,
            path=a.path,
            sha256=a.sha256,
            size=a.size,
            label=label,
            recorded_at=at,
        )
        for a in artifacts
    ]


def outputs_recorded(job: JobRecord, artifacts: Sequence[Artifact], label: Label) -> OutputsRecorded:
    """The attempt's public entry: counts and the manifest's digest; none of them for a job of an SME
    workspace (``sealed``: its files' sizes and digests stay off the log)."""
    sealed = job.workspace_id is not None
    return OutputsRecorded(
        job_id=job.id,
        attempt=job.attempt,
        files=None if sealed else len(artifacts),
        bytes=None if sealed else sum(a.size for a in artifacts),
        manifest_sha256=None if sealed else hashlib.sha256(outputs_manifest(artifacts)).hexdigest(),
        label=str(label),
        sealed=sealed,
    )
