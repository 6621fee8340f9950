"""Job bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from pnyx.core.errors import InvalidInput
from pnyx.jobs.model import JobArtifact, JobRecord, JobStatus
from pnyx.jobs.rules import (
    MAX_ACCELERATORS,
    MAX_ARG_BYTES,
    MAX_COMMAND_ARGS,
    MAX_COMMAND_BYTES,
    MAX_ESTIMATE_S,
    check_command,
    check_text,
)
from pnyx.scheduler.model import PriorityClass


def _storable(text: str) -> str:
    """The jobs rules' text check as a validation error (422 naming the field), not a 400."""
    try:
        check_text(text, "")
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return text


def _bounded(command: list[str]) -> list[str]:
    try:
        check_command(tuple(command))
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    return command


Text = Annotated[str, AfterValidator(_storable)]
Argument = Annotated[str, Field(max_length=MAX_ARG_BYTES), AfterValidator(_storable)]


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(default="job", min_length=1, max_length=200)
    project: Text = Field(min_length=1, max_length=80)
    accelerators: int = Field(gt=0, le=MAX_ACCELERATORS)
    accelerator_type: Text | None = Field(default=None, max_length=40, description="None: any type")
    estimate_s: int = Field(
        gt=0, le=MAX_ESTIMATE_S, description="Runtime estimate in seconds (at most 14 days); the time limit"
    )
    checkpoint_s: int = Field(
        default=0, ge=0, le=MAX_ESTIMATE_S, description="Checkpoint interval; 0 if the job never checkpoints"
    )
    command: Annotated[list[Argument], AfterValidator(_bounded)] = Field(
        default_factory=list,
        max_length=MAX_COMMAND_ARGS,
        description=f"argv: at most {MAX_COMMAND_ARGS} arguments, {MAX_ARG_BYTES} bytes each "
        f"and {MAX_COMMAND_BYTES} bytes in all (UTF-8)",
    )
    image: Text | None = Field(default=None, max_length=500)
    label: int = Field(default=1, ge=1, le=4, description="Safety level L1..L4")
    priority_class: PriorityClass = Field(
        default=PriorityClass.ENTITLED, description="urgent is for operators (the director's reserve)"
    )
    engine: Text | None = Field(default=None, max_length=20)
    allow_cross_site: bool = False


class JobOut(BaseModel):
    id: str
    name: str
    project: str
    user: str
    engine: str
    status: JobStatus = Field(
        description="pending (waiting for the scheduler), dispatching (placed; being handed to its engine), "
        "queued (its engine has it and queues it), running (its engine runs it), completed, failed, "
        "cancelled, rejected"
    )
    accelerators: int
    accelerator_type: str | None
    placed_type: str | None
    estimate_s: int
    checkpoint_s: int
    priority_class: PriorityClass
    label: int
    attempt: int
    cancel_requested: bool
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    node_ids: list[str]
    reason: str

    @classmethod
    def of(cls, j: JobRecord) -> JobOut:
        return cls(
            id=j.id,
            name=j.name,
            project=j.project,
            user=j.user,
            engine=j.engine,
            status=j.status,
            accelerators=j.accelerators,
            accelerator_type=j.accelerator_type,
            placed_type=j.placed_type,
            estimate_s=j.estimate_s,
            checkpoint_s=j.checkpoint_s,
            priority_class=j.priority_class,
            label=int(j.label),
            attempt=j.attempt,
            cancel_requested=j.cancel_requested,
            submitted_at=j.submitted_at,
            started_at=j.started_at,
            ended_at=j.ended_at,
            exit_code=j.exit_code,
            node_ids=list(j.node_ids),
            reason=j.reason,
        )


class ArtifactOut(BaseModel):
    job_id: str
    attempt: int
    path: str
    sha256: str
    size: int
    label: int
    recorded_at: datetime

    @classmethod
    def of(cls, a: JobArtifact) -> ArtifactOut:
        return cls(
            job_id=a.job_id,
            attempt=a.attempt,
            path=a.path,
            sha256=a.sha256,
            size=a.size,
            label=int(a.label),
            recorded_at=a.recorded_at,
        )
