"""Hash what a finished local job left in ``outputs/``, with bounds a hostile job cannot stretch.

The walk opens every directory and file relative to its parent's descriptor with ``O_NOFOLLOW``
(no symlink is ever followed, not even a swapped parent), skips anything that is not a regular file
or directory, and stops at caps on entries, depth, per-file bytes and total bytes. A file that
would pass a cap, or a sparse one (far fewer blocks on disk than its size says), is skipped without
being read and named in a note: skip-with-note, never truncate-and-hash.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pnyx.jobs.model import Artifact

GIB = 1 << 30
CHUNK = 1 << 20
SPARSE_MIN_BYTES = 1 << 20  # below this, allocation quirks (inline data, compression) are ignored
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputCaps:
    entries: int = 10_000  # files and directories looked at
    depth: int = 32
    file_bytes: int = 64 * GIB
    total_bytes: int = 256 * GIB


@dataclass(slots=True)
class Hashed:
    artifacts: list[Artifact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "outputs/x: why it was not recorded"
    entries: int = 0
    total: int = 0


def hash_outputs(work_dir: Path, caps: OutputCaps) -> Hashed:
    found = Hashed()
    try:
        work = os.open(work_dir, DIR_FLAGS)
    except OSError:
        return found
    try:
        top = os.open("outputs", DIR_FLAGS, dir_fd=work)
    except OSError as exc:
        found.notes.append(f"outputs: not a directory ({exc.strerror})")
        return found
    finally:
        os.close(work)
    _walk(top, "", 0, caps, found)
    return found


def _walk(fd: int, prefix: str, depth: int, caps: OutputCaps, found: Hashed) -> None:
    """Close ``fd`` when done. Recursion is bounded by ``caps.depth``."""
    try:
        with os.scandir(fd) as it:
            entries = sorted(itertools.islice(it, caps.entries - found.entries + 1), key=lambda e: e.name)
        for entry in entries:
            if found.entries >= caps.entries:
                found.notes.append(f"outputs/{prefix}: stopped after {caps.entries} entries")
                return
            found.entries += 1
            _entry(fd, entry, prefix, depth, caps, found)
    finally:
        os.close(fd)


def _entry(
    fd: int, entry: os.DirEntry[str], prefix: str, depth: int, caps: OutputCaps, found: Hashed
) -> None:
    path = prefix + entry.name
    if entry.is_dir(follow_symlinks=False):
        if depth + 1 >= caps.depth:
            found.notes.append(f"outputs/{path}: deeper than {caps.depth} levels")
            return
        try:
            child = os.open(entry.name, DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            found.notes.append(f"outputs/{path}: {exc.strerror}")
            return
        _walk(child, path + "/", depth + 1, caps, found)
    elif entry.is_file(follow_symlinks=False):
        _file(fd, entry.name, path, caps, found)
    else:
        found.notes.append(f"outputs/{path}: not a regular file")


def _file(fd: int, name: str, path: str, caps: OutputCaps, found: Hashed) -> None:
    try:
        ffd = os.open(name, FILE_FLAGS, dir_fd=fd)
    except OSError as exc:
        found.notes.append(f"outputs/{path}: {exc.strerror}")
        return
    with os.fdopen(ffd, "rb") as f:
        st = os.fstat(ffd)
        problem = over_cap(st, caps, found.total)
        if problem:
            found.notes.append(f"outputs/{path}: {problem}")
            return
        digest, size = _digest(f, st.st_size)
    found.total += size
    found.artifacts.append(Artifact(path=path, sha256=digest, size=size))


def over_cap(st: os.stat_result, caps: OutputCaps, total: int) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size > caps.file_bytes:
        return f"{st.st_size} bytes, over the {caps.file_bytes}-byte cap per file"
    if total + st.st_size > caps.total_bytes:
        return f"over the {caps.total_bytes}-byte cap for all outputs"
    if st.st_size >= SPARSE_MIN_BYTES and st.st_blocks * 512 * 4 < st.st_size:
        return f"sparse ({st.st_size} bytes, {st.st_blocks * 512} on disk): not read"
    return None


def _digest(f: BinaryIO, size: int) -> tuple[str, int]:
    """SHA-256 of the first ``size`` bytes (what fstat said: a file cannot grow the work)."""
    h, done = hashlib.sha256(), 0
    while done < size:
        chunk = f.read(min(CHUNK, size - done))
        if not chunk:
            break
        h.update(chunk)
        done += len(chunk)
    return h.hexdigest(), done
