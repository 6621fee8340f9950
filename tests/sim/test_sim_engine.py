from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from pnyx.cli.simulate import app
from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Job
from pnyx.scheduler.policy import POLICIES
from pnyx.scheduler.topology import build_topology
from pnyx.sim.engine import SimConfig, Simulation
from pnyx.sim.experiment import Study, entitlements, run_study
from pnyx.sim.failures import DEFAULT_RATE, NO_FAILURES, FailureModel, NodeHistory
from pnyx.sim.traces import TraceJob

TOPOLOGY = build_topology(generate_facility(256, seed=0))


def test_the_default_failure_rate_is_llama_3s() -> None:
    assert abs(FailureModel().per_day(16_384) - 419 / 54) < 1e-9
    assert 47 < FailureModel().per_day(100_000) < 48
    assert DEFAULT_RATE > 0


def test_the_same_inputs_and_seed_give_the_same_metrics() -> None:
    study = Study(trace="synthetic", accelerators=1_000, days=1.0, seed=3, policies=("full", "fifo"))
    first = [r.metrics for r in run_study(study)]
    second = [r.metrics for r in run_study(study)]
    strip = [{k: v for k, v in m.items() if k not in {"wall_s", "sim_events_per_s"}} for m in first]
    assert strip == [{k: v for k, v in m.items() if k not in {"wall_s", "sim_events_per_s"}} for m in second]


def test_a_failure_requeues_the_job_and_loses_the_work_since_its_checkpoint() -> None:
    job = Job(id="gang", accelerators=32, estimate_s=30_000, checkpoint_s=3_000)
    trace = [TraceJob(job=job, runtime_s=20_000)]
    storm = FailureModel(rate_per_accelerator_s=1 / (256 * 1_000), repair_mean_s=60, drain_after=1_000)
    config = SimConfig(
        policy=POLICIES["full"], shares=Shares(members={"-": 1}), days=3.0, seed=1, failures=storm
    )
    result = Simulation(TOPOLOGY, trace, config).run()
    m = result.metrics
    assert m["interruptions"] >= 1
    assert m["failures"] >= m["interruptions"]
    assert m["jobs_completed"] == 1
    assert 0 < m["lost_to_failures_acc_h"] <= m["interruptions"] * 32 * 3_000 / 3600
    assert m["goodput"] < 1


def test_a_node_failing_repeatedly_is_drained() -> None:
    history, model = NodeHistory(), FailureModel(drain_after=3, drain_window_s=100.0)
    assert not history.record(7, 0.0, model)
    assert not history.record(7, 50.0, model)
    assert history.record(7, 90.0, model)
    assert not history.record(8, 90.0, model)
    assert not history.record(9, 0.0, model)
    assert not history.record(9, 200.0, model)


def test_a_job_that_never_fits_is_rejected_at_submit() -> None:
    trace = [TraceJob(job=Job(id="huge", accelerators=100_000, estimate_s=60), runtime_s=60)]
    config = SimConfig(
        policy=POLICIES["fifo"], shares=Shares(members={"-": 1}), days=0.1, failures=NO_FAILURES
    )
    m = Simulation(TOPOLOGY, trace, config).run().metrics
    assert (m["jobs_rejected"], m["jobs_completed"]) == (1, 0)


def test_pnyx_simulate_writes_metrics_and_a_self_contained_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["--accelerators", "512", "--days", "0.5", "--seed", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "jobs_submitted", "jobs_completed", "utilization", "goodput", "jct_mean_s", "jct_p50_s", "jct_p99_s",
        "wait_mean_s", "share_deviation_max", "preemptions", "failures", "wall_s", "sim_events_per_s",
    ):  # fmt: skip
        assert key in metrics
    assert set(metrics["policies"]) == {"full", "fifo-backfill", "fifo"}
    report = (out / "report.html").read_text()
    assert "<svg" in report
    assert "<script" not in report
    assert "http://" not in report.replace("http://www.w3.org/2000/svg", "")


def test_entitlements_follow_the_hosted_accelerators() -> None:
    facility = generate_facility(1_000, seed=0)
    shares = entitlements(facility)
    assert sum(shares.values()) == 1_000
    assert shares["DE"] > shares["AU"]
    assert replace(facility).accelerator_count == 1_000
