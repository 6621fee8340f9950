"""Job bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

from pnyx.core.errors import InvalidInput
from pnyx.jobs.inputs import MAX_DATASETS, MAX_MODELS
from pnyx.jobs.model import InputKind, JobArtifact, JobRecord, JobStatus
from pnyx.jobs.rules import (
    MAX_ACCELERATORS,
    MAX_ARG_BYTES,
    MAX_COMMAND_ARGS,
    MAX_COMMAND_BYTES,
    MAX_ESTIMATE_S,
    check_command,
    check_text,
)
from pnyx.jobs.submission import MAX_WORKSPACE_OBJECTS
from pnyx.safety.model import SafetyLevel
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


def _level(value: object) -> SafetyLevel:
    """1..4 or ``L1``..``L4``; never ``true`` (an int to Python), ``1.0`` or ``"2"``."""
    if isinstance(value, SafetyLevel):
        return value
    if type(value) is int and 1 <= value <= 4:
        return SafetyLevel(value)
    if isinstance(value, str) and value in LEVEL_NAMES:
        return SafetyLevel[value]
    raise ValueError("a safety level is the number 1, 2, 3 or 4, or the text L1, L2, L3 or L4")


LEVEL_NAMES = frozenset(level.name for level in SafetyLevel)
JobLevel = Annotated[
    SafetyLevel,
    PlainValidator(_level),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 4},
                {"type": "string", "enum": sorted(LEVEL_NAMES)},
            ]
        }
    ),
]
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
    label: JobLevel | None = Field(
        default=None,
        description="Safety level the job runs at: 1..4, or L1..L4 as the safety routes spell it (never a "
        "boolean, a fraction or a numeric string). Omitted: its project's level (its classification). "
        "A level below the project's is refused (400, field label); a higher one is allowed, and its "
        "outputs then carry that higher level.",
    )
    priority_class: PriorityClass = Field(
        default=PriorityClass.ENTITLED, description="urgent is for operators (the director's reserve)"
    )
    engine: Text | None = Field(default=None, max_length=20)
    allow_cross_site: bool = False
    datasets: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        max_length=MAX_DATASETS,
        description="Dataset versions the job reads, each bound read-only at /inputs/<version> "
        "($PNYX_INPUTS). One the caller may not read is unknown (404, field datasets), as is one that "
        "does not exist; one labelled above the job's level is refused (400, field datasets). The "
        "job's outputs carry the join of its label and its datasets' labels.",
    )
    models: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=list,
        max_length=MAX_MODELS,
        description="Model versions the job reads (an evaluation's model), each bound read-only at "
        "/inputs/<version> with its files (model.safetensors, pnyx-model.json, README.md, ...). As "
        "for datasets: unknown and unreadable alike are 404 (field models); the outputs carry the "
        "join of the job's label and the models' labels.",
    )
    workspace_objects: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list,
        max_length=MAX_WORKSPACE_OBJECTS,
        description="Objects of the project's SME workspace the job reads, decrypted inside its sandbox "
        "only. A job of a project with a workspace is a workspace job: it runs on the local engine, its "
        "outputs are sealed to the workspace's key, and one that reads objects waits in awaiting_keys "
        "until its SME authorises it (pnyx sme authorize). An object not in that workspace is refused "
        "(400, field workspace_objects), whether or not it exists elsewhere.",
    )


class JobOut(BaseModel):
    id: str
    name: str
    project: str
    user: str
    engine: str
    status: JobStatus = Field(
        description="held_for_safety (its project's safety level awaits an officer; it will be queued, "
        "or may be cancelled), awaiting_keys (an SME workspace job waiting for its SME to authorise it: "
        "pnyx sme authorize; a dispatcher restart sends it back here), pending (waiting for the "
        "scheduler), dispatching (placed; being handed to "
        "its engine), queued (its engine has it and queues it), running (its engine runs it), completed, "
        "failed, cancelled, rejected"
    )
    accelerators: int
    accelerator_type: str | None
    placed_type: str | None
    estimate_s: int
    checkpoint_s: int
    priority_class: PriorityClass
    label: int = Field(description="The safety level (1..4) it runs at: its project's or higher")
    categories: list[str] = Field(description="Its label's categories: project:<id>, and bio, cyber, ...")
    attempt: int
    cancel_requested: bool
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    node_ids: list[str]
    reason: str
    datasets: list[str] = Field(description="The dataset versions it reads")
    models: list[str] = Field(default_factory=list, description="The model versions it reads")
    workspace_id: str | None = Field(
        default=None, description="Its project's SME workspace: its outputs are sealed to that key"
    )
    sealed_inputs: int = Field(default=0, description="How many of that workspace's objects it reads")

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
            label=int(j.label.level),
            categories=sorted(j.label.categories),
            attempt=j.attempt,
            cancel_requested=j.cancel_requested,
            submitted_at=j.submitted_at,
            started_at=j.started_at,
            ended_at=j.ended_at,
            exit_code=j.exit_code,
            node_ids=list(j.node_ids),
            reason=j.reason,
            datasets=[i.version for i in j.inputs if i.kind is InputKind.DATASET],
            models=[i.version for i in j.inputs if i.kind is InputKind.MODEL],
            workspace_id=j.workspace_id,
            sealed_inputs=j.sealed_inputs,
        )


class ArtifactOut(BaseModel):
    job_id: str
    attempt: int
    path: str
    sha256: str
    size: int
    label: int = Field(
        description="Its label's level: the job's level joined with its inputs' (no write down)"
    )
    categories: list[str] = Field(description="Its label's categories; reading needs clearance for all")
    recorded_at: datetime
    release: str | None = Field(
        default=None,
        description="The release decision whose lower-labelled record this is (label and categories are "
        "the release's); null: the original output, under its own label",
    )

    @classmethod
    def of(cls, a: JobArtifact) -> ArtifactOut:
        return cls(
            job_id=a.job_id,
            attempt=a.attempt,
            path=a.path,
            sha256=a.sha256,
            size=a.size,
            label=int(a.label.level),
            categories=sorted(a.label.categories),
            recorded_at=a.recorded_at,
            release=a.release,
        )
