"""Two dispatchers' recorders on one database across changes of leader: a recorder reads the last
record in the transaction it writes in, so one that regains the lead, or whose start-up read went
stale, writes a reset naming the record really last, and the replay checks every record. On SQLite
and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from pnyx.audit.ledger import record, restarted
from pnyx.audit.replay import CYCLE, replay
from pnyx.audit.rerun import decide
from pnyx.audit.topology_wire import topology_parts
from pnyx.core.errors import IntegrityFailure
from pnyx.db.outbox import newest_of
from pnyx.dispatch.decision_log import DecisionRecorder, last_record
from pnyx.dispatch.decisions import CycleDecided, topology_events
from pnyx.wiring import Platform
from tests.dispatch.test_decision_records import logged
from tests.unit.audit.test_replay_entitlements import NOW, _inputs
from tests.unit.audit.test_replay_hostile import _topology

Entries = list[tuple[int, dict[str, Any]]]
T = _topology()


def _write(recorder: DecisionRecorder, k: int) -> None:
    inputs = _inputs({"DE": 0.6, "FR": 0.4}, {("DE", "p"): 100.0}, now=NOW + k)
    recorder._write(T, inputs, decide(T, inputs))


def _records(entries: Entries) -> list[tuple[int, bool, int | None]]:
    """(seq, reset, the seq it follows) of each record."""
    bodies = [(e["data"]["seq"], e["data"]["body"]) for _, e in entries if e["type"] == CYCLE]
    return [(s, b["reset"], (b.get("follows") or {}).get("seq")) for s, b in bodies]


def test_a_recorder_that_regains_the_lead_writes_a_reset(platform: Platform) -> None:
    a, b = DecisionRecorder(platform.uow, "v"), DecisionRecorder(platform.uow, "v")
    _write(a, 1)
    _write(a, 2)  # A leads
    _write(b, 3)
    _write(b, 4)  # B takes the lead: a reset naming A's second
    for k in range(5, 9):
        _write(a, k)  # A leads again, its ledger still in memory: a reset naming B's second
    entries = logged(platform)
    assert _records(entries) == [
        (1, True, None),
        (2, False, None),
        (1, True, 2),
        (2, False, None),
        (1, True, 2),
        (2, False, None),
        (3, False, None),
        (4, False, None),
    ]
    report = replay(entries, {"v"})
    assert report.problems == []
    assert report.agreed == 8


def test_forget_makes_the_next_record_a_reset(platform: Platform) -> None:
    a = DecisionRecorder(platform.uow, "v")
    _write(a, 1)
    a.forget()
    _write(a, 2)
    assert _records(logged(platform)) == [(1, True, None), (1, True, 1)]


def test_a_stale_start_up_read_still_names_the_last_record(platform: Platform) -> None:
    """B's start-up knowledge (A's second record) went stale before B wrote: A wrote a third."""
    a, b = DecisionRecorder(platform.uow, "v"), DecisionRecorder(platform.uow, "v")
    _write(a, 1)
    _write(a, 2)
    with platform.uow.read() as conn:
        found = last_record(conn)
    assert found is not None
    b.ledger = restarted(*found)
    _write(a, 3)
    _write(b, 4)
    entries = logged(platform)
    assert _records(entries)[-1] == (1, True, 3)
    assert replay(entries, {"v"}).problems == []


def test_the_last_record_is_read_from_the_outbox_the_log_or_both(platform: Platform) -> None:
    a = DecisionRecorder(platform.uow, "v")
    with platform.uow.read() as conn:
        assert last_record(conn) is None
    _write(a, 1)
    platform.log.drain()
    _write(a, 2)  # the first in the log, the second in the outbox
    assert a.ledger is not None
    with platform.uow.read() as conn:
        assert last_record(conn) == (2, a.ledger.digest)
    platform.log.drain()
    with platform.uow.read() as conn:
        assert last_record(conn) == (2, a.ledger.digest)


def test_a_record_in_parts_is_read_whole_across_the_log_and_the_outbox(platform: Platform) -> None:
    """Several parts: the first appended, the others still waiting; then all in the log. A part
    missing from the newest record is an integrity failure."""
    inputs = _inputs({"DE": 0.6, "FR": 0.4}, {("DE", "p"): 100.0}, now=NOW)
    digest = topology_parts(T)[0].digest
    header = {"scheduler": "v", "topology": digest, "now": inputs.now}
    parts, ledger = record(None, inputs, decide(T, inputs), header=header, budget=1)
    assert len(parts) > 1
    with platform.uow.write() as tx:
        for part in [*topology_events(T), *(CycleDecided(**p) for p in parts)]:
            tx.emit(part)
    platform.log.append_pending(len(topology_events(T)) + 1)
    with platform.uow.read() as conn:
        assert len(newest_of(conn, CycleDecided.event_type, 10)) == len(parts) - 1  # the rest wait
        assert last_record(conn) == (1, ledger.digest)
    platform.log.drain()
    with platform.uow.read() as conn:
        assert last_record(conn) == (1, ledger.digest)
    with platform.uow.write() as tx:
        tx.emit(CycleDecided(**{**parts[-1], "seq": 2, "prev": ledger.digest}))  # part n of n only
    with platform.uow.read() as conn, pytest.raises(IntegrityFailure, match="has parts"):
        last_record(conn)
