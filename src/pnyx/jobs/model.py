"""Job records shared by the jobs service, the dispatch loop and every executor.

An executor receives a ``JobSpec`` (what to run) and a ``Grant`` (where: the scheduler's
placement) and answers with an ``EngineRef``; it reports ``EngineStatus`` back. The database
stays authoritative: an engine's word only moves a job through the transition table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pnyx.core.errors import InvalidInput, Unavailable
from pnyx.inventory.model import SafetyLevel


class EngineState(StrEnum):
    QUEUED = "queued"  # accepted by the engine, not yet running
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the engine no longer knows the job (purged, or never submitted)


FINAL_ENGINE_STATES = frozenset({EngineState.SUCCEEDED, EngineState.FAILED, EngineState.CANCELLED})


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """What to run. ``idempotency_key`` is unique per job attempt: submitting twice runs it once."""

    job_id: str
    idempotency_key: str
    name: str
    project: str  # maps to the engine's account
    user: str
    accelerator_type: str
    accelerators: int  # the whole gang
    nodes: int  # how many nodes the gang spans
    accelerators_per_node: int
    safety_level: SafetyLevel  # maps to the engine's partition
    time_limit_s: int
    command: tuple[str, ...] = ()  # argv; empty when an image's entrypoint runs
    image: str | None = None  # container image reference (Kubernetes, or a Slurm container)
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """Where the scheduler placed the gang: node ids and accelerators on each (same order)."""

    node_ids: tuple[str, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineRef:
    engine: str  # "local", "slurm", "ray", "kubernetes"
    engine_job_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStatus:
    ref: EngineRef
    state: EngineState
    exit_code: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    message: str = ""


class EngineUnavailable(Unavailable):
    """The engine could not be reached or answered with an error: try again later."""

    code = "engine_unavailable"


class EngineRejected(InvalidInput):
    """The engine refused the job for good (for example a partition's account rules)."""

    code = "engine_rejected"
