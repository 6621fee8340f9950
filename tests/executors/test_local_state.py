"""Reading what a supervisor left: bounded, type-checked, garbage is an error value, never a crash."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from pnyx.executors.local_state import (
    SLOT_RECHECK_S,
    CorruptState,
    parse_exit,
    parse_pid,
    read_bounded,
    tail,
    take_slot,
    wake_next,
)

GOOD_EXIT = {"exit_code": 3, "reason": "exited", "started": 1.5, "ended": 2}


def test_good_records_parse() -> None:
    record = parse_exit(json.dumps(GOOD_EXIT).encode())
    assert (record.exit_code, record.reason, record.ended) == (3, "exited", 2.0)
    assert parse_pid(b'{"pid": 42, "start_ticks": 7, "started": 3}').pid == 42
    assert parse_pid(b'{"pid": 42, "start_ticks": 7, "started": null}').started is None  # queued


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"junk",
        b"[]",
        b"[" * 100_000,
        b"{}",
        json.dumps({**GOOD_EXIT, "exit_code": "0"}).encode(),
        json.dumps({**GOOD_EXIT, "exit_code": True}).encode(),
        json.dumps({**GOOD_EXIT, "exit_code": 10**50}).encode(),
        json.dumps({**GOOD_EXIT, "reason": "whatever"}).encode(),
        json.dumps({**GOOD_EXIT, "started": None}).encode(),
        json.dumps({**GOOD_EXIT, "ended": 1e300}).encode(),
        b'{"exit_code": 0, "reason": "exited", "started": NaN, "ended": 1}',
        b'{"exit_code": 0, "reason": "exited", "started": 1, "ended": 1' + b"9" * 5000 + b"}",
    ],
)
def test_garbage_exit_records_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptState):
        parse_exit(data)


@pytest.mark.parametrize(
    "data",
    [
        b"abc",
        b"123",
        b'{"pid": 0, "start_ticks": 1, "started": 1}',
        b'{"pid": 99999999999, "start_ticks": 1, "started": 1}',
        b'{"pid": 5, "start_ticks": -1, "started": 1}',
    ],
)
def test_garbage_pid_records_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptState):
        parse_pid(data)


def test_reads_are_bounded_and_never_follow_links(tmp_path: Path) -> None:
    assert read_bounded(tmp_path / "absent") is None
    (tmp_path / "big").write_bytes(b"x" * 100)
    with pytest.raises(CorruptState, match="larger than 10 bytes"):
        read_bounded(tmp_path / "big", cap=10)
    (tmp_path / "link").symlink_to(tmp_path / "big")
    with pytest.raises(CorruptState):
        read_bounded(tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(CorruptState, match="not a regular file"):
        read_bounded(tmp_path / "fifo")  # does not block
    (tmp_path / "dir").mkdir()
    with pytest.raises(CorruptState):
        read_bounded(tmp_path / "dir")


def test_tail_reads_only_the_end(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    with log.open("wb") as f:
        f.write(b"\xff" * (64 << 20))  # 64 MiB of garbage before the lines that matter
        f.write(b"".join(b"line %d\n" % i for i in range(1000)))
    started = time.perf_counter()
    assert tail(log, 3) == "line 997\nline 998\nline 999"
    assert time.perf_counter() - started < 0.1
    assert len(tail(log, 200).splitlines()) == 200
    assert tail(log, 0) == ""
    assert tail(tmp_path / "absent", 5) == ""
    (tmp_path / "one").write_bytes(b"x" * 5000)  # one line longer than the window: its end
    assert tail(tmp_path / "one", 1) == "x" * 1024


def test_a_waiter_sleeps_until_a_slot_frees_and_the_doorbell_rings(tmp_path: Path) -> None:
    holder: list[int] = []
    take_slot(str(tmp_path), 1, holder)  # the one slot: taken at once
    got: list[float] = []
    taken: list[int] = []

    def wait() -> None:
        take_slot(str(tmp_path), 1, taken)
        got.append(time.monotonic())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)
    assert got == []  # asleep on the doorbell, not polling its way in
    os.close(holder.pop())
    freed = time.monotonic()
    wake_next(str(tmp_path))
    waiter.join(timeout=5)
    assert got
    assert got[0] - freed < SLOT_RECHECK_S / 2  # the doorbell, not the periodic look
    os.close(taken.pop())
    wake_next(str(tmp_path / "absent"))  # nobody waits: nothing happens
