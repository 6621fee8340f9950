"""The replay reading only what each record changes (``audit.mirror``: the holding rows decoded, the
members' use, co-tenancy) against the replay reading every row of every record: the same report,
finding for finding, through holders that come, go, change, start, and resets between."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.audit import replay as replay_module
from pnyx.audit.ledger import Ledger, record
from pnyx.audit.replay import CYCLE, replay
from pnyx.audit.rerun import decide
from pnyx.audit.topology_wire import topology_parts
from pnyx.audit.wire import CycleInputs, CycleOutputs
from pnyx.scheduler.model import Decisions
from tests.unit.audit.test_replay_hostile import L1, L2, _held, _inputs, _job, _log, _topology

T = _topology()
# a holder: (job, node, started, L2 or not, project); a cycle: holders, decided or not, reset or not
HOLDER = st.tuples(st.integers(0, 5), st.integers(0, 2), st.booleans(), st.booleans(), st.integers(0, 1))
CYCLE_ = st.tuples(st.lists(HOLDER, max_size=4), st.booleans(), st.booleans())


def _cycle(now: float, holders: list[tuple[int, int, bool, bool, int]]) -> CycleInputs:
    held = {}
    for i, node, started, l2, project in holders:
        job = _job(f"h{i}", label=L2 if l2 else L1, project=f"p{project}")
        h = _held(T, job, node)
        held[job.id] = (
            h if started else type(h)(running=h.running, engine="fake", started=False, handed_s=0.0)
        )
    return _inputs([_job("w")], list(held.values()), now=now)


def _entries(cycles: list[tuple[list[tuple[int, int, bool, bool, int]], bool, bool]]) -> list[dict[str, Any]]:
    digest, out = topology_parts(T)[0].digest, []
    ledger: Ledger | None = None
    for n, (holders, decided, reset) in enumerate(cycles):
        inputs = _cycle(1000.0 + 300.0 * n, holders)
        outputs = decide(T, inputs) if decided else CycleOutputs(decisions=Decisions())
        header = {"scheduler": "v", "topology": digest, "now": inputs.now}
        parts, ledger = record(None if reset else ledger, inputs, outputs, header=header)
        out += [{"type": CYCLE, "data": data} for data in parts]
    return out


def _report(entries: list[dict[str, Any]]) -> tuple[Any, ...]:
    r = replay(_log(T, *entries), {"v"}, window_s=600.0, max_share_gap=0.0)
    return r.cycles, r.agreed, r.problems, dict(r.used), list(r.used), r.windows, r.resets


@settings(deadline=None, max_examples=60)
@given(st.lists(CYCLE_, min_size=1, max_size=8))
def test_the_replay_reading_changes_reports_what_reading_every_row_does(
    cycles: list[tuple[list[tuple[int, int, bool, bool, int]], bool, bool]],
) -> None:
    entries = _entries(cycles)
    followed = _report(entries)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "changes", lambda *_args: None)  # every record read whole
        whole = _report(entries)
    assert followed == whole
