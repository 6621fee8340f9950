"""The recorder makes each record before its transaction, spelling each job once while its view is
the same object: what it writes is the plain chain of records (``audit.ledger.record`` without a
spelling), byte for byte, across jobs joining, changing and leaving, a ``forget`` (a reset naming the
last record) and another dispatcher's record meanwhile (made again in the transaction, a reset). On
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from pnyx.audit.ledger import Ledger, record, restarted
from pnyx.audit.replay import CYCLE
from pnyx.audit.topology_wire import topology_parts
from pnyx.audit.wire import normal
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.wiring import Platform
from tests.dispatch.test_decision_records import logged
from tests.unit.audit.test_ledger_spelling import NOTHING, Jobs
from tests.unit.audit.test_replay_hostile import _topology

T = _topology()
DIGEST = topology_parts(T)[0].digest


def _cycle(jobs: Jobs, k: int) -> None:
    """Cycle ``k``'s changes: one job joins each side, one changes, one is handed over anew, one leaves."""
    for holding in (False, True):
        jobs.step(k, "join", holding)
        jobs.step(k - 1, "change", holding)
        jobs.step(k - 2, "renew", holding)
        jobs.step(k - 3, "leave", holding)


def _plain(before: Ledger | None, jobs: Jobs, k: int) -> tuple[list[dict[str, Any]], Ledger]:
    header = {"scheduler": "v", "topology": DIGEST, "now": 1000.0 + k}
    return record(before, jobs.inputs(1000.0 + k), NOTHING, header=header)


def _written(platform: Platform) -> list[str]:
    return [json.dumps(e["data"], sort_keys=True) for _, e in logged(platform) if e["type"] == CYCLE]


def test_the_recorder_writes_the_plain_records(platform: Platform) -> None:
    recorder, other, jobs = DecisionRecorder(platform.uow, "v"), DecisionRecorder(platform.uow, "v"), Jobs()
    expected: list[dict[str, Any]] = []
    plain: Ledger | None = None
    for k in range(8):
        _cycle(jobs, k)
        if k == 3 and plain is not None:  # the lead lost and regained: a reset naming its own last
            recorder.forget()
            plain = restarted(plain.seq, plain.digest)
        if k == 5 and plain is not None:  # another dispatcher wrote meanwhile: a reset naming it
            other._write(T, jobs.inputs(1000.0 + k), NOTHING)
            parts, theirs = _plain(restarted(plain.seq, plain.digest), jobs, k)
            expected += parts
            plain = restarted(theirs.seq, theirs.digest)
        parts, plain = _plain(plain, jobs, k)
        recorder._write(T, jobs.inputs(1000.0 + k), NOTHING)
        expected += parts
        assert recorder.ledger is not None
        assert (recorder.ledger.seq, recorder.ledger.digest) == (plain.seq, plain.digest)
    assert _written(platform) == [json.dumps(normal(p), sort_keys=True) for p in expected]
    heads = [(p["seq"], p["body"]["reset"]) for p in expected]
    assert heads == [
        (1, True),
        (2, False),
        (3, False),
        (1, True),
        (2, False),
        (1, True),
        (1, True),
        (2, False),
        (3, False),
    ]
