"""Workload traces: the CSV format of ``pnyx simulate --trace`` and what a trace job is.

Columns (a header row is required; optional columns may be absent or empty):
  required: job_id, submit_s, accelerators, runtime_s
  optional: accelerator_type, member, project, user, priority_class, label (L1..L4),
            checkpoint_s, estimate_s (defaults to runtime_s: perfect estimates), allow_cross_site
A malformed line raises ``TraceError`` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pnyx.core.errors import InvalidInput
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.model import Job, PriorityClass

REQUIRED = ("job_id", "submit_s", "accelerators", "runtime_s")
OPTIONAL = (
    "accelerator_type",
    "member",
    "project",
    "user",
    "priority_class",
    "label",
    "checkpoint_s",
    "estimate_s",
    "allow_cross_site",
)


class TraceError(InvalidInput):
    code = "trace_malformed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceJob:
    """A job as the trace recorded it: what it asked for and how long it really ran."""

    job: Job
    runtime_s: float  # true run time on a speed-factor-1.0 accelerator (or on its named type)


def load_csv(path: Path) -> list[TraceJob]:
    with path.open(newline="", encoding="utf-8") as handle:
        return parse_csv(handle, source=str(path))


def parse_csv(lines: Iterable[str], *, source: str = "trace") -> list[TraceJob]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise TraceError(f"{source} line 1: empty trace, expected a header row", field="trace")
    names = [h.strip() for h in header]
    for name in REQUIRED:
        if name not in names:
            raise TraceError(f"{source} line 1: header lacks required column {name!r}", field=name)
    out = [_row(source, reader.line_num, names, row) for row in reader if any(c.strip() for c in row)]
    return sorted(out, key=lambda t: (t.job.submit_s, t.job.id))


def _row(source: str, line: int, names: list[str], row: list[str]) -> TraceJob:
    if len(row) != len(names):
        raise TraceError(
            f"{source} line {line}: {len(row)} fields, the header has {len(names)}", field="trace"
        )
    cells = {n: c.strip() for n, c in zip(names, row, strict=True)}

    def get(name: str, parse: Callable[[str], object], default: object = None) -> object:
        text = cells.get(name, "")
        if text == "":
            if default is None:
                raise _cell_error(source, line, names, name, "is required")
            return default
        try:
            return parse(text)
        except (ValueError, KeyError) as exc:
            raise _cell_error(source, line, names, name, f"cannot read {text!r}: {exc}") from None

    runtime = float(get("runtime_s", _positive))  # type: ignore[arg-type]
    job = Job(
        id=str(get("job_id", str)),
        submit_s=float(get("submit_s", _non_negative)),  # type: ignore[arg-type]
        accelerators=int(get("accelerators", _count)),  # type: ignore[call-overload]
        estimate_s=max(runtime, float(get("estimate_s", _positive, runtime))),  # type: ignore[arg-type]
        accelerator_type=cells.get("accelerator_type") or None,
        member=cells.get("member") or "-",
        project=cells.get("project") or "-",
        user=cells.get("user") or "-",
        priority_class=get("priority_class", PriorityClass, PriorityClass.ENTITLED),  # type: ignore[arg-type]
        label=get("label", _label, SafetyLevel.L1),  # type: ignore[arg-type]
        checkpoint_s=float(get("checkpoint_s", _non_negative, 0.0)),  # type: ignore[arg-type]
        allow_cross_site=bool(get("allow_cross_site", _flag, False)),
    )
    return TraceJob(job=job, runtime_s=runtime)


def _cell_error(source: str, line: int, names: list[str], name: str, why: str) -> TraceError:
    column = names.index(name) + 1 if name in names else len(names) + 1
    return TraceError(f"{source} line {line}, column {column} ({name}): {why}", field=name)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be > 0")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError("must be >= 0")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _label(text: str) -> SafetyLevel:
    return SafetyLevel[text.upper()] if text.upper().startswith("L") else SafetyLevel(int(text))


def _flag(text: str) -> bool:
    if text.lower() not in {"true", "false", "1", "0", "yes", "no"}:
        raise ValueError("expected true or false")
    return text.lower() in {"true", "1", "yes"}


def assign_members(trace: list[TraceJob], members: Mapping[str, float]) -> list[TraceJob]:
    """Give jobs without a member one, stably by project (or user), in proportion to the entitlements."""
    names = sorted(members)
    total = sum(members[m] for m in names)
    if total <= 0:
        return trace
    out = []
    for t in trace:
        if t.job.member != "-":
            out.append(t)
            continue
        key = t.job.project if t.job.project != "-" else t.job.user
        point = (zlib.crc32(key.encode()) % 1_000_000) / 1_000_000 * total
        member = names[-1]
        for m in names:
            point -= members[m]
            if point < 0:
                member = m
                break
        out.append(replace(t, job=replace(t.job, member=member)))
    return out


def write_csv(trace: Iterable[TraceJob], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow([*REQUIRED, *OPTIONAL])
        for t in trace:
            j = t.job
            w.writerow(
                [
                    j.id,
                    j.submit_s,
                    j.accelerators,
                    t.runtime_s,
                    j.accelerator_type or "",
                    j.member,
                    j.project,
                    j.user,
                    j.priority_class.value,
                    j.label.name,
                    j.checkpoint_s,
                    j.estimate_s,
                    str(j.allow_cross_site).lower(),
                ]
            )
