from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.model import PriorityClass
from pnyx.sim.traces import TraceError, assign_members, load_csv, parse_csv, write_csv

GOOD = """job_id,submit_s,accelerators,runtime_s,label,priority_class,member
a,0,8,3600,L3,preemptible,DE
b,10,1,60,,,
"""


def test_a_trace_reads_required_and_optional_columns() -> None:
    a, b = parse_csv(GOOD.splitlines(keepends=True))
    assert (a.job.id, a.job.accelerators, a.runtime_s, a.job.label) == ("a", 8, 3600.0, SafetyLevel.L3)
    assert a.job.priority_class is PriorityClass.PREEMPTIBLE
    assert a.job.estimate_s == 3600.0
    assert (b.job.label, b.job.priority_class, b.job.member) == (SafetyLevel.L1, PriorityClass.ENTITLED, "-")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("job_id,submit_s,accelerators,runtime_s\na,0,8,3600\nb,x,1,60\n", "line 3, column 2 (submit_s)"),
        ("job_id,submit_s,accelerators,runtime_s\na,0,-8,3600\n", "line 2, column 3 (accelerators)"),
        ("job_id,submit_s,accelerators,runtime_s,label\na,0,8,3600,L9\n", "line 2, column 5 (label)"),
        ("job_id,submit_s,accelerators,runtime_s\na,0,8\n", "line 2: 3 fields"),
        ("job_id,submit_s,runtime_s\na,0,8\n", "line 1: header lacks required column 'accelerators'"),
    ],
)
def test_a_malformed_line_names_its_line_and_column(text: str, where: str) -> None:
    with pytest.raises(TraceError) as err:
        parse_csv(text.splitlines(keepends=True), source="t.csv")
    assert where in err.value.message
    assert err.value.code == "trace_malformed"


def test_a_written_trace_reads_back(tmp_path: Path) -> None:
    trace = parse_csv(GOOD.splitlines(keepends=True))
    write_csv(trace, tmp_path / "t.csv")
    assert load_csv(tmp_path / "t.csv") == trace


def test_members_are_assigned_stably_by_project() -> None:
    trace = parse_csv(GOOD.splitlines(keepends=True))
    once = assign_members(trace, {"DE": 1, "FR": 1})
    assert once == assign_members(trace, {"DE": 1, "FR": 1})
    assert once[0].job.member == "DE"
    assert once[1].job.member in {"DE", "FR"}
