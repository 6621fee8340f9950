"""The log's own job events against its decision records (pure): a record cannot say one thing while
the jobs' public events say another.

- **What happened was decided.** Every ``jobs.job.state_changed`` dispatch must be a start (or work
  queued ahead) of the decision record just before it, on the same nodes; every requeue the
  dispatcher makes for a preemption (its reason starts ``preempted by``) must be a preemption of that
  record, by the same job, or a queued-ahead job it sends back (``requeue``). The dispatcher writes a
  cycle's record before it applies the cycle, and writes the next record only after, so a record's
  claims last until the next record. Requeues for other reasons (an engine lost the job, its SME's
  keys were lost) are no scheduling decision and are not checked.
- **Jobs are who they say they are.** A job row a record sets (waiting or holding) must agree with
  the job's ``jobs.job.submitted`` entry (project, user, accelerators), its label's level with the
  submission or the last ``jobs.job.relabelled`` before it, and its member state with the project's
  ``allocation.allocation.created`` where the log holds one. A log holding submissions must hold one
  for every job its records name (a log of the twin, ``benchmarks/audit_replay.py``, holds none).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from pnyx.allocation.events import AllocationCreated
from pnyx.audit.wire import Json
from pnyx.jobs.model import JobAction, JobRelabelled, JobStateChanged, JobSubmitted
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.topology import Topology

PREEMPTED_BY = "preempted by "  # dispatch.loop's reason for a preemption's requeue: "preempted by X; ..."
ON_ITS_NODES = "a preemption on its nodes"  # ... and for queued-ahead work a preemption sends back
KINDS = frozenset(e.event_type for e in (JobSubmitted, JobRelabelled, JobStateChanged, AllocationCreated))


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    project: str
    user: str
    accelerators: int
    level: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    index: int  # the record's log index
    what: tuple[str, ...]  # node ids of a start; the preempting job of a preemption


class JobEvents:
    def __init__(self) -> None:
        self.jobs: dict[str, Submitted] = {}
        self.members: dict[str, str] = {}  # project -> member state of its allocation ("-": none)
        self.starts: dict[str, Claim] = {}  # the last record's starts and work queued ahead
        self.preempts: dict[str, Claim] = {}  # its preemptions and the queued-ahead jobs it sends back
        self.last: int | None = None  # the last record's log index

    def see(self, index: int, kind: str, data: Mapping[str, Json]) -> list[str]:
        """Take one job or allocation entry; what it contradicts, as sentences."""
        if kind == JobSubmitted.event_type:
            level = int(SafetyLevel[str(data["label"]).split("+")[0]])
            job = Submitted(
                project=data["project"], user=data["user"], accelerators=data["accelerators"], level=level
            )
            self.jobs[str(data["job_id"])] = job
        elif kind == JobRelabelled.event_type and data["job_id"] in self.jobs:
            level = int(SafetyLevel[str(data["label"]).split("+")[0]])
            self.jobs[data["job_id"]] = replace(self.jobs[data["job_id"]], level=level)
        elif kind == AllocationCreated.event_type:
            self.members[str(data["project_id"])] = data["member_state"] or "-"
        elif kind == JobStateChanged.event_type:
            return self._moved(index, data)
        return []

    def record(
        self,
        index: int,
        topology: Topology | None,
        rows: Iterable[Sequence[Json]],
        outputs: Mapping[str, Sequence[Json]],
    ) -> list[str]:
        """Take a record's claims (in place of the last record's); its job rows' disagreements."""
        self.last = index
        self.starts = {
            row[0]: Claim(index=index, what=_node_ids(topology, row[2]))
            for kind in ("starts", "ahead")
            for row in outputs.get(kind, [])
        }
        self.preempts = {row[0]: Claim(index=index, what=(row[1],)) for row in outputs.get("preemptions", [])}
        self.preempts |= {
            job_id: Claim(index=index, what=(ON_ITS_NODES,)) for job_id in outputs.get("requeue", [])
        }
        return [problem for row in rows for problem in self._disagrees(row)]

    def _disagrees(self, row: Sequence[Json]) -> list[str]:
        job = self.jobs.get(row[0])
        if job is None:
            return [f"job {row[0]} has no jobs.job.submitted entry before it"] if self.jobs else []
        said = {
            "project": (row[5], job.project),
            "user": (row[6], job.user),
            "accelerators": (row[1], job.accelerators),
            "label level": (row[8], job.level),
            "member state": (row[4], self.members.get(job.project, row[4])),
        }
        return [
            f"job {row[0]}: {name} {recorded} in the record, {logged} in its own entries"
            for name, (recorded, logged) in said.items()
            if recorded != logged
        ]

    def _moved(self, index: int, data: Mapping[str, Json]) -> list[str]:
        job_id, action = str(data["job_id"]), data["action"]
        if action == JobAction.DISPATCH:
            return _dispatched(job_id, tuple(data["node_ids"]), self.starts.pop(job_id, None), self.last)
        reason = str(data["reason"])
        if action == JobAction.REQUEUE and reason.startswith(PREEMPTED_BY):
            by = reason.removeprefix(PREEMPTED_BY).split(";")[0]
            return _preempted(job_id, by, self.preempts.pop(job_id, None), self.last)
        return []


def _node_ids(topology: Topology | None, nodes: Sequence[int]) -> tuple[str, ...]:
    """The nodes' ids (): not known, or a node the topology lacks (a finding of its own)."""
    if topology is None or not all(0 <= n < len(topology.node_ids) for n in nodes):
        return ()
    return tuple(topology.node_ids[n] for n in nodes)


def _unclaimed(done: str, decided: str, last: int | None) -> list[str]:
    if last is None:
        return [f"{done}, but no decision record comes before it"]
    return [f"{done}, but the decision record before it (index {last}) does not {decided}"]


def _dispatched(job_id: str, nodes: tuple[str, ...], claim: Claim | None, last: int | None) -> list[str]:
    if claim is None:
        return _unclaimed(f"job {job_id} is dispatched", "start it", last)
    if claim.what and claim.what != nodes:
        return [
            f"job {job_id} is dispatched to {list(nodes)}; the record at index {claim.index} starts it "
            f"on {list(claim.what)}"
        ]
    return []


def _preempted(job_id: str, by: str, claim: Claim | None, last: int | None) -> list[str]:
    if claim is None:
        return _unclaimed(f"job {job_id} is requeued as preempted by {by}", "preempt it", last)
    if claim.what != (by,):
        return [
            f"job {job_id} is requeued as preempted by {by}; the record at index {claim.index} says "
            f"by {claim.what[0]}"
        ]
    return []
