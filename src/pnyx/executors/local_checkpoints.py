"""Hash the checkpoints a running local job has written so far, with bounds a hostile job cannot stretch.

The training recipe writes ``outputs/checkpoints/step-NNNNNN/`` under a temporary name and renames it
once complete, its ``pnyx-checkpoint.json`` inside (``pnyx.training.checkpoint``): a directory under
its final name that holds the marker is complete. One call lists at most ``names`` entries of
``outputs/checkpoints`` (every directory opened relative to its parent with ``O_NOFOLLOW``: no
symlink is followed), takes the complete ones whose step is not in ``skip``, oldest first, at most
``per_call`` of them, and hashes each with the checks and caps of ``local_outputs`` (a symlink,
special file, second hard link, sparse or oversized file inside is left out, as it is when the job
ends). All of it within ``seconds``: a checkpoint the time budget cuts is left out whole, with every
one after it, for a later call.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from pnyx.executors.local_outputs import DIR_FLAGS, Hashed, OutputCaps, hash_directory
from pnyx.jobs.model import Artifact

CHECKPOINTS = "checkpoints"  # under outputs/
MARKER = "pnyx-checkpoint.json"  # written last: a directory holding it is complete
STEP_DIR = re.compile(r"step-(\d{6,9})")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointCaps:
    names: int = 10_000  # entries of outputs/checkpoints looked at per call
    per_call: int = 4  # complete checkpoints hashed per call
    seconds: float = 10.0  # hashing time per call
    files: OutputCaps = field(default_factory=OutputCaps)  # within one checkpoint directory


def hash_checkpoints(
    work_dir: Path, caps: CheckpointCaps, skip: Collection[int], clock: Callable[[], float] = time.monotonic
) -> list[tuple[int, list[Artifact]]]:
    """The complete checkpoints under ``work_dir/outputs/checkpoints`` not in ``skip``, oldest first,
    each with its files hashed (paths under ``outputs/``)."""
    root = _checkpoints_dir(work_dir)
    if root is None:
        return []
    try:
        return _hash_complete(root, _candidates(root, caps, skip), caps, clock)
    finally:
        os.close(root)


def _checkpoints_dir(work_dir: Path) -> int | None:
    """``outputs/checkpoints`` opened without following a link anywhere; None if there is none."""
    fd: int | None = None
    try:
        fd = os.open(work_dir, DIR_FLAGS)
        for name in ("outputs", CHECKPOINTS):
            parent, fd = fd, os.open(name, DIR_FLAGS, dir_fd=fd)
            os.close(parent)
    except OSError:
        if fd is not None:
            os.close(fd)
        return None
    return fd


def _candidates(root: int, caps: CheckpointCaps, skip: Collection[int]) -> list[tuple[int, str]]:
    """(step, name) of the step directories not in ``skip`` among the first ``names`` entries, by step."""
    with os.scandir(root) as it:
        entries = list(itertools.islice(it, caps.names))
    found = [
        (step, entry.name)
        for entry in entries
        if (step := step_of(entry.name)) is not None
        and step not in skip
        and entry.is_dir(follow_symlinks=False)
    ]
    return sorted(found)


def step_of(name: str) -> int | None:
    """The step a directory name says, in the recipe's one spelling (``step-000042``); else None."""
    match = STEP_DIR.fullmatch(name)
    if match is None:
        return None
    step = int(match[1])
    return step if name == f"step-{step:06d}" else None


def _hash_complete(
    root: int, candidates: list[tuple[int, str]], caps: CheckpointCaps, clock: Callable[[], float]
) -> list[tuple[int, list[Artifact]]]:
    deadline = clock() + caps.seconds
    found: list[tuple[int, list[Artifact]]] = []
    for step, name in candidates:
        if len(found) >= caps.per_call or clock() > deadline:
            break
        directory = _open_complete(root, name)
        if directory is None:
            continue
        hashed = Hashed(clock=clock, deadline=deadline)
        hash_directory(directory, f"{CHECKPOINTS}/{name}/", 2, caps.files, hashed)
        if hashed.stopped:
            break
        found.append((step, hashed.artifacts))
    return found


def _open_complete(root: int, name: str) -> int | None:
    """The step directory, opened without following a link, if its marker is a regular file in it."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=root)
    except OSError:
        return None
    try:
        complete = stat.S_ISREG(os.stat(MARKER, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        complete = False
    if not complete:
        os.close(fd)
        return None
    return fd
