"""Per-job timelines of a ``dispatch_slurm`` run (``--timeline DIR``): when each job was submitted,
handed to Slurm, started (its own stamp, and Slurm's word), ended (Slurm's word) and was seen ended
(Pnyx), on which nodes. One CSV per method and size (seconds from the first submission), and a few
lines on stdout: each gang's story, and the longest gaps between consecutive starts with the jobs on
either side: where a method's time went.

``handed`` is the POST to slurmrestd for Pnyx (``TimedSlurm``), the end of ``sbatch`` for sbatch;
``seen_end`` is the first status call that saw the job final (Pnyx only). Slurm's times are whole
seconds.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from pathlib import Path

from pnyx.executors.slurm import SlurmConfig, SlurmExecutor
from pnyx.executors.slurm_api import SlurmJob
from pnyx.jobs.model import FINAL_ENGINE_STATES, EngineRef, EngineStatus, Grant, JobRecord, JobSpec

GAPS = 6  # the longest gaps between starts printed per method


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    gang: bool
    submit: float
    handed: float | None
    start: float | None  # the job's own stamp
    slurm_start: float | None
    slurm_end: float | None
    seen_end: float | None
    nodes: str


class TimedSlurm(SlurmExecutor):
    """The Slurm executor, noting when each job was POSTed and first seen final (by Slurm job id)."""

    def __init__(self, config: SlurmConfig) -> None:
        super().__init__(config)
        self.handed: dict[str, float] = {}
        self.seen_end: dict[str, float] = {}

    def submit_new(self, spec: JobSpec, grant: Grant) -> EngineRef:
        ref = super().submit_new(spec, grant)
        self.handed.setdefault(ref.engine_job_id, time.time())
        return ref

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        statuses = super().status(refs)
        now = time.time()
        for s in statuses:
            if s.state in FINAL_ENGINE_STATES:
                self.seen_end.setdefault(s.ref.engine_job_id, now)
        return statuses


def _at(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def pnyx_lines(
    began: Mapping[str, float],
    gangs: set[str],
    starts: Mapping[str, float | None],
    records: Sequence[JobRecord],
    executor: TimedSlurm,
) -> list[Line]:
    by_name = {r.name: r for r in records}
    lines = []
    for name, submit in began.items():
        record = by_name.get(name)
        key = record.engine_job_id if record is not None and record.engine_job_id else ""
        lines.append(
            Line(
                name=name,
                gang=name in gangs,
                submit=submit,
                handed=executor.handed.get(key),
                start=starts.get(name),
                slurm_start=_at(record.started_at) if record is not None else None,
                slurm_end=_at(record.ended_at) if record is not None else None,
                seen_end=executor.seen_end.get(key),
                nodes=",".join(record.node_ids) if record is not None else "",
            )
        )
    return lines


def sbatch_lines(
    began: Mapping[str, float],
    handed: Mapping[str, float],
    gangs: set[str],
    starts: Mapping[str, float | None],
    controller: Sequence[SlurmJob],
    prefix: str,
) -> list[Line]:
    by_name = {j.name.removeprefix(prefix): j for j in controller if j.name.startswith(prefix)}
    lines = []
    for name, submit in began.items():
        job = by_name.get(name)
        lines.append(
            Line(
                name=name,
                gang=name in gangs,
                submit=submit,
                handed=handed.get(name),
                start=starts.get(name),
                slurm_start=_at(job.start) if job is not None else None,
                slurm_end=_at(job.end) if job is not None else None,
                seen_end=None,
                nodes=job.nodes if job is not None else "",
            )
        )
    return lines


def report(lines: Sequence[Line], path: Path) -> list[str]:
    """Write the CSV (offsets from the first submission); the summary lines to print."""
    t0 = min(line.submit for line in lines)
    shifted = [_shifted(line, t0) for line in lines]
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([f.name for f in fields(Line)])
        writer.writerows(astuple(line) for line in sorted(shifted, key=lambda x: x.start or 1e9))
    return [f"  timeline: {path}", *_gang_story(shifted), *_gaps(shifted)]


def _shifted(line: Line, t0: float) -> Line:
    def off(value: float | None) -> float | None:
        return None if value is None else round(value - t0, 3)

    return Line(
        name=line.name,
        gang=line.gang,
        submit=round(line.submit - t0, 3),
        handed=off(line.handed),
        start=off(line.start),
        slurm_start=off(line.slurm_start),
        slurm_end=off(line.slurm_end),
        seen_end=off(line.seen_end),
        nodes=line.nodes,
    )


def _gang_story(lines: Sequence[Line]) -> list[str]:
    """Each gang: submitted, handed, started; the last start before it, the first start after it."""
    started = sorted((line.start, line.name) for line in lines if line.start is not None)
    told = []
    for gang in (line for line in lines if line.gang):
        if gang.start is None:
            told.append(f"  gang {gang.name}: never started")
            continue
        before = max((s for s, n in started if s < gang.start and n != gang.name), default=None)
        after = min((s for s, n in started if s > gang.start), default=None)
        told.append(
            f"  gang {gang.name}: submitted {gang.submit:.2f}, handed {_f(gang.handed)}, started "
            f"{gang.start:.2f} (single jobs: last start before {_f(before)}, first after {_f(after)}); "
            f"Slurm end {_f(gang.slurm_end)}, seen end {_f(gang.seen_end)}"
        )
    return told


def _gaps(lines: Sequence[Line]) -> list[str]:
    started = sorted((line.start, line.name, line.gang) for line in lines if line.start is not None)
    pairs = sorted(itertools.pairwise(started), key=lambda p: p[0][0] - p[1][0])[:GAPS]
    told = [f"  longest gaps between starts ({len(started)} starts):"]
    for (s0, n0, g0), (s1, n1, g1) in pairs:
        told.append(
            f"    {s1 - s0:6.2f} s from {s0:7.2f} ({n0}{' gang' if g0 else ''}) "
            f"to {s1:7.2f} ({n1}{' gang' if g1 else ''})"
        )
    return told


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
