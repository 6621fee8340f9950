"""What reading the last decision record costs (``dispatch.decision_log.last_record``), now that every
record's write reads it in its transaction: on a fresh database holding ``--records`` one-part
records, drained into the log (the usual case) and with the newest still in the outbox. Peers, same
run, same rows, timed in turn: the former first read (a page of 64 records' parts, newest first)
and an empty read transaction.

  PYTHONPATH=. .venv/bin/python -m benchmarks.last_record [--backend sqlite] [--backend postgresql]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import sqlalchemy as sa

from benchmarks.common import fresh_platform, percentiles
from pnyx.audit.rerun import decide
from pnyx.audit.wire import CycleInputs
from pnyx.dispatch.decision_log import DecisionRecorder, last_record
from pnyx.dispatch.decisions import CycleDecided
from pnyx.inventory.rules import generate_facility
from pnyx.scheduler.fairshare import Shares
from pnyx.scheduler.model import Job
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import build_topology
from pnyx.transparency.store import LogRepository
from pnyx.wiring import Platform

NOW = 1_767_225_600.0  # 2026-01-01


def _inputs(now: float) -> CycleInputs:
    """One job waiting, two member states: a record of one part."""
    job = Job(id="a", accelerators=8, estimate_s=600.0, member="DE", project="p", submit_s=now - 60)
    shares = Shares(members={"DE": 0.6, "FR": 0.4}, projects={})
    return CycleInputs(
        now=now, queue=(job,), engines={"a": "fake"}, holding=(), shares=shares, policy=policy_named("full")
    )


def _fill(platform: Platform, records: int, *, drain: bool = True) -> None:
    topology = build_topology(generate_facility(64))
    outputs = decide(topology, _inputs(NOW))
    recorder = DecisionRecorder(platform.uow, "v")
    for k in range(records):
        recorder._write(topology, _inputs(NOW + k), outputs)
        if drain and k % 500 == 499:
            platform.log.drain()
    if drain:
        platform.log.drain()


def _timed(platform: Platform, read: Callable[[sa.Connection], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        with platform.uow.read() as conn:
            read(conn)
        out.append(time.perf_counter() - started)
    return out


def _former(conn: sa.Connection) -> object:
    return LogRepository(conn).entries_of(CycleDecided.event_type, 64)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    for backend in args.backend or ["sqlite"]:
        with fresh_platform(backend) as platform:
            _fill(platform, args.records)
            reads = {"last_record": last_record, "former first page (64)": _former}
            reads["empty read transaction"] = lambda conn: conn.execute(sa.select(1)).scalar()
            for where in ("all in the log", "the newest in the outbox"):
                for name, read in reads.items():
                    p50, p99 = percentiles(_timed(platform, read, args.repeat))
                    print(
                        f"{backend}, {args.records} records, {where}: {name}: p50 {p50:.3f} ms, p99 {p99:.3f}"
                    )
                _fill(platform, 1, drain=False)
    print(f"(ms) load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
