from __future__ import annotations

from pathlib import Path

import pytest

from pnyx.sim.formats import load_helios, load_pai, load_philly
from pnyx.sim.traces import TraceError

SAMPLES = Path(__file__).parent / "samples"


def test_philly_jobs_take_gpus_from_the_first_attempt_and_time_across_attempts() -> None:
    a, b = load_philly(SAMPLES / "philly_cluster_job_log.json")
    assert (a.job.accelerators, a.runtime_s, a.job.submit_s, a.job.project) == (4, 1800.0, 0.0, "6214e9")
    assert (b.job.accelerators, b.runtime_s, b.job.submit_s) == (1, 600.0, 600.0)


def test_pai_tasks_add_up_to_whole_gpus_per_job() -> None:
    jobs = {t.job.id: t for t in load_pai(SAMPLES / "pai_task_table.csv")}
    assert set(jobs) == {"4b3f04b66a525d2df903eb16", "9a0c04b66a525d2df903eb17"}
    big = jobs["4b3f04b66a525d2df903eb16"]
    assert (big.job.accelerators, big.runtime_s, big.job.submit_s) == (2, 3600.0, 0.0)
    assert jobs["9a0c04b66a525d2df903eb17"].job.accelerators == 1


def test_helios_skips_cpu_jobs_and_reads_durations() -> None:
    a, b = load_helios(SAMPLES / "helios_cluster_log.csv")
    assert (a.job.accelerators, a.runtime_s, a.job.project, b.job.accelerators) == (8, 3600.0, "vc6YE", 16)
    assert b.job.submit_s == 120.0


def test_a_broken_public_trace_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "pai.csv"
    bad.write_text("a,b,c\n")
    with pytest.raises(TraceError, match="line 1"):
        load_pai(bad)
