"""Scheduler records: jobs, placements and the decisions one cycle returns.

Time is a float of seconds on whatever clock the caller runs (wall clock in production, virtual
clock in the simulator); the scheduler never reads a clock itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pnyx.core.errors import FacilityError
from pnyx.safety.model import SafetyLevel


class PriorityClass(StrEnum):
    """A job's priority class, the one spelling from the API and CLI through jobs to the scheduler."""

    URGENT = "urgent"  # incident response, director's share: preempts opportunistic work
    ENTITLED = "entitled"  # normal work charged to an award: preempts opportunistic work
    PREEMPTIBLE = "preemptible"  # opportunistic: soaks up idle capacity, yields when asked


CLASS_RANK: dict[PriorityClass, int] = {
    PriorityClass.URGENT: 0,
    PriorityClass.ENTITLED: 1,
    PriorityClass.PREEMPTIBLE: 2,
}


class JobDoesNotFit(FacilityError):
    """Rejected at submit: the job could never run on this facility, whatever else happens.

    ``remedy``: the submission's field that, set, would let it fit (``allow_cross_site``), for each
    edge to name in its own words (a CLI flag, an API field); None when none would."""

    code = "job_does_not_fit"

    def __init__(
        self, message: str, *, field: str | None = None, code: str | None = None, remedy: str | None = None
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.remedy = remedy


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """A gang request: all ``accelerators`` at once, of one type, or none."""

    id: str
    accelerators: int
    estimate_s: float  # the user's runtime estimate (time limit) on a speed-factor-1.0 accelerator
    accelerator_type: str | None = None  # None: any type, runtime scaled by the type's speed factor
    member: str = "-"
    project: str = "-"
    user: str = "-"
    priority_class: PriorityClass = PriorityClass.ENTITLED
    label: SafetyLevel = SafetyLevel.L1
    checkpoint_s: float = 0.0  # 0: never checkpoints, a restart loses all work
    allow_cross_site: bool = False
    submit_s: float = 0.0

    @property
    def exclusive(self) -> bool:
        """From L2 up a job gets dedicated nodes: no co-tenancy with another project."""
        return self.label >= SafetyLevel.L2

    @property
    def group(self) -> tuple[PriorityClass, str, str, str]:
        return (self.priority_class, self.member, self.project, self.user)


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where a gang runs: node ids with the accelerators it uses on each (they sum to the gang)."""

    job_id: str
    accelerator_type: str
    node_ids: tuple[str, ...]
    counts: tuple[int, ...]
    nodes: tuple[int, ...]  # the same nodes as indexes into the topology, for O(1) bookkeeping
    pool: int  # the topology's pool (type x certification) the gang runs in
    exclusive: bool  # whole nodes held: nobody else may use what the gang leaves free on them

    @property
    def accelerators(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Running:
    """A job holding a placement since ``start_s``; expected to end at ``end_s`` by its estimate."""

    job: Job
    placement: Placement
    start_s: float
    end_s: float

    def lost_work_s(self, now: float) -> float:
        """Seconds of progress lost if it stopped now: all of it, or the time since the last checkpoint."""
        elapsed = max(0.0, now - self.start_s)
        interval = self.job.checkpoint_s
        return elapsed % interval if interval > 0 else elapsed


@dataclass(frozen=True, slots=True, kw_only=True)
class Preemption:
    job_id: str
    by: str  # the job that needed the capacity
    lost_s: float  # seconds of progress lost (since the last checkpoint)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    job_id: str
    code: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """The capacity held for a blocked job: it starts on ``nodes`` at ``start_s`` at the latest."""

    job_id: str
    start_s: float
    nodes: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decisions:
    """What one cycle decided; the caller applies preemptions first, then starts."""

    starts: tuple[Placement, ...] = ()
    preemptions: tuple[Preemption, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    reservations: tuple[Reservation, ...] = ()
    considered: int = 0  # jobs looked at this cycle (the rest were skipped by capacity or shape)
