"""``pnyx simulate --from-log``: the twin started from the facility's public log alone.

The log is verified as ``pnyx audit replay`` verifies it: the signed checkpoint (and the witnesses'
cosignatures asked for), every entry hashed to its root, every decision record followed from the
ones before (``audit.ledger``) and decided again in agreement. Any problem refuses the log, naming
the index of the first. The state is that of the last decision record: the inputs the chain leaves
(queue, jobs holding accelerators, failed nodes, shares in force, decayed usage of finished work,
over the topology it names), with the record's own decisions applied as the dispatcher applies
them: preempted and displaced jobs wait again (a started victim's run counted as finished work, as
accounting records it), rejected jobs leave, starts and work queued ahead hold their nodes from the
record's time (at most ``MAX_STARTS``, as a cycle hands over). Time 0 of the twin is that time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from pnyx.audit.entries import Tiles, log_entries
from pnyx.audit.ledger import joined
from pnyx.audit.replay import CYCLE, Replay, inputs_of
from pnyx.audit.version import scheduler_version
from pnyx.audit.wire import (
    CycleInputs,
    Held,
    Json,
    placement_in,
)
from pnyx.cli.log_source import LogKeys, Reading, checked, opened
from pnyx.cli.sim_state import FacilityState, state_at
from pnyx.core.errors import IntegrityFailure, NotFound
from pnyx.dispatch.handover import MAX_STARTS
from pnyx.scheduler.cycle import duration_s
from pnyx.scheduler.fairshare import Span, fold
from pnyx.scheduler.model import Job, Placement, Running
from pnyx.scheduler.topology import Topology


def read_log(where: str, keys: LogKeys, reading: Reading | None = None) -> FacilityState:
    """The state of the last decision record in the log at ``where`` (a URL or a tiles directory),
    read under ``reading``'s caps (default: ``pnyx log verify``'s)."""
    reading = reading or Reading()
    with opened(where, reading, named="--from-log", field="from_log") as source:
        topology, inputs = last_state(_verified(source, keys, reading), {scheduler_version()})
    return state_at(topology, inputs)


def _verified(source: Tiles, keys: LogKeys, reading: Reading) -> Iterator[tuple[int, dict[str, Any]]]:
    verified = checked(source, keys, reading)
    if not verified.ok:
        indexed = [p for p in verified.problems if p.index is not None]  # the first bad index first
        first, more = (indexed or list(verified.problems))[0], len(verified.problems) - 1
        where = "" if first.index is None else f" at index {first.index}"
        also = f" (and {more} more problem(s))" if more else ""
        raise IntegrityFailure(f"the log does not verify{where}: {first.message}{also}", field="from_log")
    return log_entries(source, verified.leaf_hashes)


def last_state(
    entries: Iterable[tuple[int, Mapping[str, Any]]], known_versions: set[str]
) -> tuple[Topology, CycleInputs]:
    """The topology and the scheduler's inputs as the last decision record leaves them (pure);
    refuses a log whose replay finds any problem, naming the index of the first."""
    run, last = Replay(known_versions), _LastRecord()
    for index, entry in entries:
        run.feed(index, entry)
        last.see(entry)
    report = run.finish()
    if report.problems:
        first = min(report.problems)
        raise IntegrityFailure(
            f"the log does not replay at index {first.index}: {first.message}", field="from_log"
        )
    if run.ledger is None or not last.parts:
        raise NotFound("the log holds no decision record yet: no state to start from", field="from_log")
    head, body = last.parts[0], joined(last.parts)
    topology = run.book.known[str(head["topology"])]
    return topology, after_record(inputs_of(run.ledger, float(head["now"]), topology), topology, body)


class _LastRecord:
    """The parts of the last whole decision record among the entries seen (the replay checks them)."""

    def __init__(self) -> None:
        self.parts: list[Mapping[str, Json]] = []
        self.pending: list[Mapping[str, Json]] = []

    def see(self, entry: Mapping[str, Any]) -> None:
        data = entry.get("data")
        if entry.get("type") != CYCLE or not isinstance(data, dict):
            return
        self.pending = [data] if data.get("part") == 1 else [*self.pending, data]
        if data.get("part") == data.get("parts"):
            self.parts, self.pending = self.pending, []


def after_record(inputs: CycleInputs, topology: Topology, body: Mapping[str, Json]) -> CycleInputs:
    """The inputs with the record's decisions (``body``) applied, in the dispatcher's order."""
    queue = {j.id: j for j in inputs.queue}
    engines, holding = dict(inputs.engines), {h.running.job.id: h for h in inputs.holding}
    stopped = [holding.pop(job_id) for job_id in _stopped(body)]
    queue.update((h.running.job.id, h.running.job) for h in stopped)
    engines.update((h.running.job.id, h.engine) for h in stopped)
    for row in body.get("rejections", []):
        del queue[row[0]]
    for row in [*body.get("starts", []), *body.get("ahead", [])][:MAX_STARTS]:
        job = queue.pop(row[0])
        placement = placement_in(row, topology, job.exclusive)
        holding[job.id] = _handed(job, placement, topology, inputs.now, engines[job.id])
    ran = [_span(h.running, inputs.now) for h in stopped if h.started]
    return replace(
        inputs,
        queue=tuple(queue.values()),
        engines={job_id: engines[job_id] for job_id in queue},
        holding=tuple(holding.values()),
        history=fold(inputs.history, ran, inputs.now, inputs.shares.half_life_s),
        order=(),
    )


def _stopped(body: Mapping[str, Json]) -> list[str]:
    """Preempted jobs, then queued-ahead jobs displaced by a preemption: both wait again."""
    return [*(row[0] for row in body.get("preemptions", [])), *body.get("requeue", [])]


def _handed(job: Job, placement: Placement, topology: Topology, now: float, engine: str) -> Held:
    run = duration_s(job, topology.pools[placement.pool].speed_factor)
    running = Running(job=job, placement=placement, start_s=now, end_s=now + run)
    return Held(running=running, engine=engine, started=False, handed_s=now)


def _span(ran: Running, now: float) -> Span:
    job = ran.job
    return Span((job.member, job.project, job.user), job.accelerators, ran.start_s, now)
