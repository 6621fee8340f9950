"""Decision records: what one dispatch cycle gave the scheduler and what it decided, as log events.

Built from the very inputs ``plan.plan`` gave the scheduler (``Plan.decided_on``: the stored jobs as
the scheduler sees them, the shares in force, the usage history, the policy, queue-ahead, the clock)
and what it decided; no I/O here (the recorder, ``decision_log``, writes them). The wire format and the replay
are ``pnyx.audit``; see docs/audit.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pnyx.audit.ledger import Ledger, Spelling, record
from pnyx.audit.topology_wire import topology_parts
from pnyx.audit.wire import CycleInputs, CycleOutputs
from pnyx.core.events import DomainEvent
from pnyx.dispatch.plan import Plan
from pnyx.scheduler.topology import Topology


@dataclass(frozen=True, slots=True, kw_only=True)
class TopologyPublished(DomainEvent):
    """One part of the facility as the scheduler sees it, published whenever it changes; cycle records
    name it by digest. Nodes are [id, pool, accelerators, up, domain, rack, island, site] (the last
    four unit numbers); pools are [type, certification level, accelerators per node, speed factor]."""

    event_type: ClassVar[str] = "scheduler.topology.published"
    digest: str  # sha256 of the whole topology's pools and nodes (docs/audit.md)
    part: int  # 1-based
    parts: int
    first: int  # the index of this part's first node
    pools: list[list[Any]]
    nodes: list[list[Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CycleDecided(DomainEvent):
    """One dispatch cycle that started, preempted or rejected anything: its inputs as a change of the
    record before (queue, jobs holding accelerators, failed nodes, shares, policy, usage) and its
    outputs (starts with nodes, preemptions, rejections with reasons, work queued ahead)."""

    event_type: ClassVar[str] = "scheduler.cycle.decided"
    scheduler: str  # the scheduler's version: a digest of its source (pnyx.audit.version)
    topology: str  # the digest of the published topology the cycle ran over
    now: float  # the cycle's time, epoch seconds
    seq: int  # counts records from the dispatcher's reset record (1)
    part: int  # 1-based
    parts: int
    prev: str  # the digest of the record before ("" on a reset record)
    body: dict[str, Any]  # changes and outputs, as docs/audit.md spells them


def cycle_outputs(plan: Plan) -> CycleOutputs:
    return CycleOutputs(decisions=plan.decisions, ahead=plan.ahead, requeue=plan.requeue)


def topology_events(topology: Topology) -> list[TopologyPublished]:
    return [
        TopologyPublished(
            digest=p.digest, part=p.part, parts=p.parts, first=p.first, pools=p.pools, nodes=p.nodes
        )
        for p in topology_parts(topology)
    ]


def cycle_events(
    before: Ledger | None,
    inputs: CycleInputs,
    outputs: CycleOutputs,
    *,
    scheduler: str,
    topology: str,
    spelling: Spelling | None = None,
) -> tuple[list[CycleDecided], Ledger]:
    """The cycle's record in parts, and the ledger after it (``before`` None: a reset record).
    ``spelling``: the writer's, kept from cycle to cycle (``audit.ledger.Spelling``)."""
    header = {"scheduler": scheduler, "topology": topology, "now": inputs.now}
    parts, after = record(before, inputs, outputs, header=header, spelling=spelling)
    return [CycleDecided(**part) for part in parts], after
