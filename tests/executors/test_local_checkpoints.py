"""Hashing a running job's complete checkpoints: only directories holding their marker, oldest first,
never a symlink followed, within caps per call that a hostile job (thousands of fake directories,
sparse files, links) cannot stretch; what the time budget cuts is left out whole."""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from pathlib import Path

import pytest

from pnyx.executors.local_checkpoints import CheckpointCaps, hash_checkpoints, step_of
from pnyx.executors.local_outputs import OutputCaps
from pnyx.jobs.model import Artifact

MARKER = "pnyx-checkpoint.json"


@pytest.fixture
def checkpoints(tmp_path: Path) -> Path:
    root = tmp_path / "outputs" / "checkpoints"
    root.mkdir(parents=True)
    return root


def _write(root: Path, name: str, *, marker: bool = True, shard: bytes = b"shard") -> Path:
    directory = root / name
    directory.mkdir()
    (directory / "__0_0.distcp").write_bytes(shard)
    (directory / ".metadata").write_bytes(b"meta")
    if marker:
        (directory / MARKER).write_text('{"step": 1}')
    return directory


def _paths(found: list[tuple[int, list[Artifact]]]) -> list[tuple[int, list[str]]]:
    return [(step, sorted(a.path for a in files)) for step, files in found]


def test_complete_checkpoints_are_hashed_oldest_first(checkpoints: Path) -> None:
    _write(checkpoints, "step-000004", shard=b"four")
    _write(checkpoints, "step-000002", shard=b"two")
    _write(checkpoints, "step-000006", marker=False)  # still being written: no marker yet
    _write(checkpoints, "step-000008.partial")  # the recipe's temporary name
    found = hash_checkpoints(checkpoints.parent.parent, CheckpointCaps(), skip=())
    prefix = "checkpoints/step-000002/"
    assert _paths(found)[0] == (2, [f"{prefix}.metadata", f"{prefix}__0_0.distcp", f"{prefix}{MARKER}"])
    assert [step for step, _ in found] == [2, 4]
    shard = next(a for a in found[1][1] if a.path.endswith(".distcp"))
    assert (shard.sha256, shard.size) == (hashlib.sha256(b"four").hexdigest(), 4)


def test_skipped_steps_are_not_read_again_and_a_call_hashes_at_most_per_call(checkpoints: Path) -> None:
    for step in range(1, 8):
        _write(checkpoints, f"step-{step:06d}")
    work = checkpoints.parent.parent
    first = hash_checkpoints(work, CheckpointCaps(per_call=3), skip=())
    assert [step for step, _ in first] == [1, 2, 3]
    rest = hash_checkpoints(work, CheckpointCaps(per_call=3), skip={1, 2, 3, 5})
    assert [step for step, _ in rest] == [4, 6, 7]


def test_only_the_recipes_spelling_names_a_step() -> None:
    names = ("step-000042", "step-1234567", "step-42", "step-0000042", "step-00004x")
    assert [step_of(n) for n in names] == [42, 1234567, None, None, None]


def test_no_symlink_is_followed(checkpoints: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / MARKER).write_text("{}")
    (elsewhere / "secret").write_text("server secret")
    (checkpoints / "step-000001").symlink_to(elsewhere)  # a linked step directory
    linked_marker = _write(checkpoints, "step-000002", marker=False)
    (linked_marker / MARKER).symlink_to(elsewhere / MARKER)  # a linked marker: not complete
    inside = _write(checkpoints, "step-000003")
    (inside / "secret").symlink_to(elsewhere / "secret")  # a linked file inside: left out
    found = hash_checkpoints(checkpoints.parent.parent, CheckpointCaps(), skip=())
    assert [step for step, _ in found] == [3]
    assert not any(a.path.endswith("secret") for a in found[0][1])


def test_a_linked_checkpoints_directory_is_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    _write(real, "step-000001")
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "checkpoints").symlink_to(real)
    assert hash_checkpoints(tmp_path, CheckpointCaps(), skip=()) == []
    assert hash_checkpoints(tmp_path / "absent", CheckpointCaps(), skip=()) == []


def test_a_checkpoint_the_time_budget_cuts_is_left_out_whole(checkpoints: Path) -> None:
    for step in (1, 2, 3):
        _write(checkpoints, f"step-{step:06d}", shard=b"x" * 10)
    ticks = itertools.count()
    clock = lambda: float(next(ticks))  # noqa: E731 - every reading of the clock is one second on
    # t=0: the budget ends at 6; step 1 takes the readings 1 (itself) and 2, 3, 4 (its three files);
    # step 2 reads 5, then 6 for its first file and 7 for its second: cut, so neither it nor step 3
    found = hash_checkpoints(checkpoints.parent.parent, CheckpointCaps(seconds=6), skip=(), clock=clock)
    assert [(step, len(files)) for step, files in found] == [(1, 3)]


def test_a_hostile_job_cannot_stretch_one_call(checkpoints: Path) -> None:
    """Thousands of fake step directories (without marker, with a linked marker, with junk names),
    a terabyte sparse file and an oversized file inside complete ones: one call stays within its
    caps and returns only what is complete and readable."""
    for step in range(3000):
        (checkpoints / f"step-{step + 10:06d}").mkdir()  # never completed
    for i in range(2000):
        (checkpoints / f"junk-{i}").mkdir()
    sparse = _write(checkpoints, "step-000001")
    with (sparse / "huge.distcp").open("wb") as f:
        f.truncate(1 << 40)
    big = _write(checkpoints, "step-000002")
    (big / "big.distcp").write_bytes(b"b" * (1 << 20))
    caps = CheckpointCaps(seconds=2.0, files=OutputCaps(file_bytes=1 << 19))
    started = time.perf_counter()
    found = hash_checkpoints(checkpoints.parent.parent, caps, skip=())
    assert time.perf_counter() - started < 2.0
    assert [step for step, _ in found] == [1, 2]
    assert all(len(files) == 3 for _, files in found)  # the sparse and the oversized file left out


def test_the_names_looked_at_are_capped(checkpoints: Path) -> None:
    for step in range(1, 51):
        _write(checkpoints, f"step-{step:06d}")
    found = hash_checkpoints(checkpoints.parent.parent, CheckpointCaps(names=10, per_call=100), skip=())
    assert len(found) == 10  # whichever ten the listing gave first, in step order
    assert [s for s, _ in found] == sorted(s for s, _ in found)


def test_special_files_are_never_opened(checkpoints: Path) -> None:
    directory = _write(checkpoints, "step-000001")
    os.mkfifo(directory / "pipe")  # opening it for reading would block for ever
    found = hash_checkpoints(checkpoints.parent.parent, CheckpointCaps(), skip=())
    assert [(s, len(files)) for s, files in found] == [(1, 3)]
