"""Durable log appends per second, single and batched, on SQLite and PostgreSQL.

"Durable" means acknowledged only after COMMIT (SQLite: WAL with synchronous=FULL; PostgreSQL:
its defaults, fsync on). Each append transaction also signs a checkpoint. The peer figure is the
same database's raw INSERT+COMMIT rate for the same entry bytes with no Merkle tree and no
signature: the ceiling the log could reach on that database.

Anchors (../shared/docs/anchors.md): Trillian 400-500 entries/s on MySQL; Tessera ~10,000/s on
local NVMe. Goal: >= 10,000 durable appends/s batched.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from benchmarks.common import entry_bytes, fill_outbox, fresh_platform
from pnyx.transparency.store import log_entries


def appender_rate(backend: str, entries: int, batch: int) -> float:
    with fresh_platform(backend) as platform:
        fill_outbox(platform, entries)
        start = time.perf_counter()
        appended = platform.log.drain(batch=batch)
        elapsed = time.perf_counter() - start
        assert appended == entries == platform.log.size()
    return entries / elapsed


def end_to_end_rate(backend: str, events: int) -> float:
    """A service emits an event (own transaction), then it is appended (own transaction): one at a time."""
    with fresh_platform(backend) as platform:
        start = time.perf_counter()
        for i in range(events):
            platform.member_states.admit(
                code=f"{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}",
                name=f"State {i}",
                contribution_minor_units=i,
                population=1,
            )
            platform.log.append_pending(batch=1)
        elapsed = time.perf_counter() - start
        assert platform.log.size() == events
    return events / elapsed


def raw_insert_rate(backend: str, entries: int, batch: int) -> float:
    with fresh_platform(backend) as platform:
        now = datetime.now(UTC)
        start = time.perf_counter()
        for first in range(0, entries, batch):
            rows = [
                {"idx": i, "event_type": "bench", "data": entry_bytes(i), "appended_at": now}
                for i in range(first, min(entries, first + batch))
            ]
            with platform.engine.begin() as conn:
                conn.execute(log_entries.insert(), rows)
        elapsed = time.perf_counter() - start
    return entries / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--entries", type=int, default=100_000, help="entries for the batched runs")
    parser.add_argument("--single", type=int, default=500, help="entries for the one-at-a-time runs")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    print(f"{'backend':<11} {'mode':<34} {'entries':>9} {'entries/s':>11}")
    for backend in backends:
        rows = [
            ("single (1 entry per commit)", args.single, appender_rate(backend, args.single, 1)),
            (
                "service emit + append, one by one",
                args.single,
                end_to_end_rate(backend, min(args.single, 676)),
            ),
            ("batched, 1,000 per commit", args.entries, appender_rate(backend, args.entries, 1000)),
            ("batched, 5,000 per commit", args.entries, appender_rate(backend, args.entries, 5000)),
            ("peer: raw INSERT, 1 per commit", args.single, raw_insert_rate(backend, args.single, 1)),
            (
                "peer: raw INSERT, 5,000 per commit",
                args.entries,
                raw_insert_rate(backend, args.entries, 5000),
            ),
        ]
        for mode, n, rate in rows:
            print(f"{backend:<11} {mode:<34} {n:>9,} {rate:>11,.0f}", flush=True)


if __name__ == "__main__":
    main()
