"""What a decision record must satisfy whatever the scheduler's reasons (pure, no rerun needed).

- a gang starts whole or not at all: its counts sum to the job's accelerators, one count per node,
  none over the node's accelerators, no node twice;
- it runs on nodes of one pool of its type, certified at or above its label;
- from L2 up a job shares no node with another project's job (running, or started in the cycle);
- only waiting jobs start; only holding jobs are preempted;
- a job holding accelerators (each ``holding_set`` row, as it is set) keeps the placement rules too;
- no job appears twice within one kind of output (two starts of one job are two placements).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from pnyx.audit.mirror import Changes
from pnyx.audit.wire import Json, job_in
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.model import Job
from pnyx.scheduler.topology import Topology


def check(
    topology: Topology,
    queue: Mapping[str, Sequence[Json]],
    holding: Mapping[str, Sequence[Json]],
    outputs: Mapping[str, Sequence[Sequence[Json]]],
    held: Sequence[Sequence[Json]] = (),
    *,
    tenancy: Tenancy | None = None,
    changes: Changes | None = None,
) -> list[str]:
    """Every broken invariant of one record, as sentences naming the job; ``held``: the holding rows
    the record sets; ``tenancy``: the holders' nodes kept from record to record by a caller checking
    many (co-tenancy is then looked for only where it can be broken); ``changes``: what the record
    changed of the holding rows (``mirror``; None: not known)."""
    problems = twice(outputs)
    for row in held:
        problems += [f"holding job {row[0]}: {p}" for p in placement_problems(topology, job_in(row), row[15])]
    starts = list(outputs.get("starts", [])) + list(outputs.get("ahead", []))
    for row in starts:
        if row[0] not in queue:
            problems.append(f"job {row[0]} starts but is not waiting")
            continue
        problems += [f"job {row[0]}: {p}" for p in placement_problems(topology, job_in(queue[row[0]]), row)]
    for row in outputs.get("preemptions", []):
        if row[0] not in holding:
            problems.append(f"job {row[0]} is preempted but holds no accelerators")
    if tenancy is None or tenancy.may_break(queue, holding, outputs, changes):
        problems += co_tenancy(topology, _occupants(queue, holding, outputs))
    return problems


def twice(outputs: Mapping[str, Sequence[Json]]) -> list[str]:
    """Each job named more than once within one kind of output."""
    out: list[str] = []
    for kind, rows in outputs.items():
        seen: set[str] = set()
        for job_id in (row if isinstance(row, str) else row[0] for row in rows):
            if job_id in seen:
                out.append(f"job {job_id} appears more than once in {kind}")
            seen.add(job_id)
    return out


def placement_problems(topology: Topology, job: Job, row: Sequence[Json]) -> list[str]:
    _id, accelerator_type, nodes, counts = row
    if not nodes or len(nodes) != len(counts) or len(set(nodes)) != len(nodes):
        return [f"placement names {len(nodes)} nodes with {len(counts)} counts"]
    if any(not 0 <= n < len(topology.node_ids) for n in nodes):
        return ["placement names a node the topology does not have"]
    out: list[str] = []
    if sum(counts) != job.accelerators:
        out.append(f"gang of {job.accelerators} given {sum(counts)} accelerators (all or nothing)")
    if any(c <= 0 or c > topology.node_cap[n] for n, c in zip(nodes, counts, strict=True)):
        out.append("a node is given more accelerators than it has, or none")
    pools = {topology.node_pool[n] for n in nodes}
    if len(pools) != 1:
        out.append(f"placed across {len(pools)} pools")
    for pool in (topology.pools[p] for p in pools):
        if pool.level < job.label:
            out.append(f"labelled {job.label.name} but placed on nodes certified {pool.level.name}")
        if pool.accelerator_type != accelerator_type or job.accelerator_type not in (None, accelerator_type):
            out.append(f"placed on {pool.accelerator_type} nodes as {accelerator_type}")
    return out


def _occupants(
    queue: Mapping[str, Sequence[Json]],
    holding: Mapping[str, Sequence[Json]],
    outputs: Mapping[str, Sequence[Sequence[Json]]],
) -> Iterable[tuple[str, str, bool, Sequence[int]]]:
    """(job, project, exclusive, nodes) of what runs after the cycle: started holders not preempted,
    and the cycle's starts (work queued ahead runs later, not beside them)."""
    preempted = {row[0] for row in outputs.get("preemptions", [])}
    for job_id, row in holding.items():
        if row[13] and job_id not in preempted:
            yield job_id, row[5], int(row[8]) >= SafetyLevel.L2, row[15][2]
    for start in outputs.get("starts", []):
        if start[0] in queue:
            row = queue[start[0]]
            yield start[0], row[5], int(row[8]) >= SafetyLevel.L2, start[2]


def _on(topology: Topology, nodes: Sequence[int]) -> list[int]:
    """The node indexes the topology has (a placement naming others is a finding of its own)."""
    return [n for n in nodes if 0 <= n < len(topology.node_ids)]


def co_tenancy(topology: Topology, occupants: Iterable[tuple[str, str, bool, Sequence[int]]]) -> list[str]:
    """Nodes where an L2-or-above job (the last one named there) meets another project's job."""
    listed = list(occupants)
    exclusive: dict[int, str] = {}
    for job_id, _project, alone, nodes in listed:
        if alone:
            exclusive.update(dict.fromkeys(_on(topology, nodes), job_id))
    if not exclusive:
        return []
    projects: dict[int, set[str]] = defaultdict(set)
    for _job_id, project, _alone, nodes in listed:
        for n in exclusive.keys() & nodes:  # only nodes an exclusive job holds can break the rule
            # (a node the topology lacks is none of them)
            projects[n].add(project)
    return [
        f"job {job_id} (L2 or above) shares node {topology.node_ids[n]} with another project"
        for n, job_id in sorted(exclusive.items())
        if len(projects[n]) > 1
    ]


class Tenancy:
    """The started holders on each node, kept from one record to the next (rows are compared by
    identity: a caller keeps a row while it is unchanged), and the nodes where they alone already
    break co-tenancy. ``may_break`` is exact: False only where ``co_tenancy`` finds nothing."""

    __slots__ = ("rows", "seen", "suspect", "topology", "usage")

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.rows: dict[str, Sequence[Json]] = {}  # started holder -> its row as last seen
        self.usage: dict[int, dict[str, tuple[str, bool]]] = {}  # node -> holder -> (project, L2 up)
        self.suspect: set[int] = set()  # nodes where an L2-or-above holder meets another project
        self.seen: Mapping[str, Sequence[Json]] | None = None  # the holding rows last followed

    def may_break(
        self,
        queue: Mapping[str, Sequence[Json]],
        holding: Mapping[str, Sequence[Json]],
        outputs: Mapping[str, Sequence[Sequence[Json]]],
        changes: Changes | None = None,
    ) -> bool:
        """Whether co-tenancy after the cycle may be broken: the holders alone break it somewhere,
        or a start joins a node where, without the preempted, it does. ``changes``: what changed of
        the holding rows last followed (only those ids are looked at; None: every id is)."""
        seen, self.seen = self.seen, None  # until followed whole
        if changes is not None and changes.base is seen:
            self._follow(holding, changes.ids)
        else:
            self._follow(holding, [*self.rows, *(j for j in holding if j not in self.rows)])
        self.seen = holding
        if self.suspect:
            return True
        preempted = {row[0] for row in outputs.get("preemptions", [])}
        starts = [(row[2], queue[row[0]]) for row in outputs.get("starts", []) if row[0] in queue]
        joined: dict[int, list[tuple[str, bool]]] = defaultdict(list)
        for nodes, row in starts:
            for n in _on(self.topology, nodes):
                joined[n].append((row[5], int(row[8]) >= SafetyLevel.L2))
        return any(self._broken(n, extra, preempted) for n, extra in joined.items())

    def _broken(self, n: int, extra: list[tuple[str, bool]], preempted: set[str]) -> bool:
        here = [use for job_id, use in self.usage.get(n, {}).items() if job_id not in preempted] + extra
        return any(alone for _, alone in here) and len({project for project, _ in here}) > 1

    def _follow(self, holding: Mapping[str, Sequence[Json]], ids: Iterable[str]) -> None:
        """The holders kept to ``holding``, looking at ``ids`` only (the others are as last seen:
        the order of places does not matter, each node's suspicion is that of its holders at last)."""
        ids = [j for j in ids if holding.get(j) is not self.rows.get(j)]
        for job_id in ids:
            if job_id in self.rows:
                self._place(job_id, self.rows.pop(job_id), add=False)
        for job_id in ids:
            row = holding.get(job_id)
            if row is not None and row[13] and job_id not in self.rows:
                self.rows[job_id] = row
                self._place(job_id, row, add=True)

    def _place(self, job_id: str, row: Sequence[Json], *, add: bool) -> None:
        use = (row[5], int(row[8]) >= SafetyLevel.L2)
        for n in _on(self.topology, row[15][2]):
            on = self.usage.setdefault(n, {})
            if add:
                on[job_id] = use
            else:
                on.pop(job_id, None)
            if any(alone for _, alone in on.values()) and len({p for p, _ in on.values()}) > 1:
                self.suspect.add(n)
            else:
                self.suspect.discard(n)
            if not on:
                del self.usage[n]
