"""A record at the facility's size fits the log's entries: the first part's settings and the holding
order count against its budget, and the settings' long lists (usage by user, award weights) are cut
across parts like the job lists, then joined back in place."""

from __future__ import annotations

import json

from pnyx.audit.ledger import PART_BUDGET, follow, joined, record, state_of
from pnyx.audit.shape import CYCLE_PART, problem
from pnyx.audit.wire import CycleInputs, CycleOutputs, Held
from pnyx.db.outbox import MAX_ENTRY_BYTES
from pnyx.scheduler.fairshare import Shares, Usage
from pnyx.scheduler.model import Decisions, Job, Placement, Running
from pnyx.scheduler.policy import policy_named

HEADER = {"scheduler": "v", "topology": "t", "now": 5000.0}
ENVELOPE = 1_000  # the entry's type, time and JSON around the payload, generously


def _held(i: int) -> Held:
    job = Job(id=f"job-{i:06d}", accelerators=8, estimate_s=600.0, member="DE", project="p", submit_s=0.0)
    placement = Placement(
        job_id=job.id,
        accelerator_type="H100-SXM",
        node_ids=(f"n{i}",),
        counts=(8,),
        nodes=(i,),
        pool=0,
        exclusive=False,
    )
    return Held(
        running=Running(job=job, placement=placement, start_s=0.0, end_s=9e9),
        engine="slurm",
        started=True,
        handed_s=0.0,
    )


def _large(holding: int = 3_000, users: int = 3_000, projects: int = 2_000) -> CycleInputs:
    held = tuple(_held(i) for i in range(holding))
    by_user = {("DE", f"p{u % 50}", f"user-{u:05d}"): float(u) for u in range(users)}
    return CycleInputs(
        now=5000.0,
        queue=(),
        engines={},
        holding=held,
        shares=Shares(
            members={"DE": 1.0}, projects={("DE", f"prj-{p:05d}"): float(p + 1) for p in range(projects)}
        ),
        policy=policy_named("full"),
        history=Usage(at=5000.0, by_user=by_user),
        order=tuple(h.running.job.id for h in reversed(held)),  # ties read in another order: recorded
    )


def test_every_part_of_a_large_reset_record_fits_an_entry_and_joins_back() -> None:
    inputs = _large()
    parts, after = record(None, inputs, CycleOutputs(decisions=Decisions()), header=HEADER)
    assert len(parts) > 1
    for part in parts:
        assert problem(part, CYCLE_PART) is None
        assert len(json.dumps(part, separators=(",", ":"))) + ENVELOPE <= MAX_ENTRY_BYTES
        assert len(json.dumps(part["body"], separators=(",", ":"))) <= PART_BUDGET + 2_000
    body = joined(parts)
    assert body["holding_order"] == list(inputs.order)
    assert body["history"] == after.settings["history"]
    assert body["shares"] == after.settings["shares"]
    assert "history_by_user" not in body
    assert "shares_projects" not in body
    read = follow(None, parts)
    assert (read.settings, read.holding, read.queue) == (after.settings, after.holding, after.queue)
    assert read.digest == after.digest


def test_a_small_record_keeps_its_settings_whole_in_one_part() -> None:
    inputs = _large(holding=3, users=3, projects=3)
    parts, after = record(None, inputs, CycleOutputs(decisions=Decisions()), header=HEADER)
    assert len(parts) == 1
    assert follow(None, parts).settings == after.settings == state_of(inputs).settings
