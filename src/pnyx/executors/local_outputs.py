"""Hash what a finished local job left in ``outputs/``, with bounds a hostile job cannot stretch.

The walk opens every directory and file relative to its parent's descriptor with ``O_NOFOLLOW``
(no symlink is ever followed, not even a swapped parent), skips anything that is not a regular file
or directory, and stops at caps on entries, depth, per-file bytes, total bytes and time. A file
counts for the larger of its size and its blocks on disk. A file that would pass a cap, a sparse one
(far fewer blocks on disk than its size says), a second name of a hard-linked file (an inode is
hashed and counted once, under the first name in sorted order), and a name that is not printable
UTF-8 (undecodable bytes, control, format or bidi characters) are skipped without being read and
named in a note (escaped): skip-with-note, never truncate-and-hash. When the time budget runs out
the file being hashed and everything after it are left out with one note: nothing partial is
recorded for a file.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import stat
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pnyx.core.errors import InvalidInput
from pnyx.jobs.model import Artifact

GIB = 1 << 30
CHUNK = 1 << 20
SPARSE_MIN_BYTES = 1 << 20  # below this, allocation quirks (inline data, compression) are ignored
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # control, format (bidi), surrogate, separators


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputCaps:
    entries: int = 10_000  # files and directories looked at
    depth: int = 32
    file_bytes: int = 4 * GIB  # a file's size or its blocks on disk, whichever is larger
    total_bytes: int = 16 * GIB
    seconds: float = 60.0  # hashing time per attempt


@dataclass(slots=True)
class Hashed:
    artifacts: list[Artifact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # "outputs/x: why it was not recorded"
    entries: int = 0
    total: int = 0  # bytes counted against ``total_bytes``
    inodes: dict[tuple[int, int], str] = field(default_factory=dict)  # (st_dev, st_ino): first path
    deadline: float = math.inf
    clock: Callable[[], float] = time.monotonic
    stopped: bool = False  # the time budget ran out


def hash_outputs(work_dir: Path, caps: OutputCaps, clock: Callable[[], float] = time.monotonic) -> Hashed:
    found = Hashed(clock=clock, deadline=clock() + caps.seconds)
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


def hash_directory(fd: int, prefix: str, depth: int, caps: OutputCaps, found: Hashed) -> None:
    """Hash the directory open at ``fd`` (closed when done) into ``found`` as ``hash_outputs`` hashes
    the outputs: its files named ``prefix`` + their path, ``depth`` levels below ``outputs/``."""
    _walk(fd, prefix, depth, caps, found)


def _walk(fd: int, prefix: str, depth: int, caps: OutputCaps, found: Hashed) -> None:
    """Close ``fd`` when done. Recursion is bounded by ``caps.depth``."""
    try:
        with os.scandir(fd) as it:
            entries = sorted(itertools.islice(it, caps.entries - found.entries + 1), key=lambda e: e.name)
        for entry in entries:
            if found.stopped:
                return
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
    if not printable(entry.name):
        found.notes.append(f"outputs/{prefix}{escaped(entry.name)}: not a printable UTF-8 name")
        return
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
        problem = _hard_link(st, path, found) or over_cap(st, caps, found.total)
        if problem:
            found.notes.append(f"outputs/{path}: {problem}")
            return
        digest, size = _digest(f, st.st_size, found)
    if digest is None:
        found.stopped = True
        budget = f"hashing stopped at the {caps.seconds:g}-second budget"
        found.notes.append(f"outputs/{path}: {budget}: not recorded, nor anything after it")
        return
    found.total += cost(st)
    found.artifacts.append(Artifact(path=path, sha256=digest, size=size))


def _hard_link(st: os.stat_result, path: str, found: Hashed) -> str | None:
    """A second name of an inode already looked at: counted once, under its first name."""
    if st.st_nlink < 2:
        return None
    first = found.inodes.setdefault((st.st_dev, st.st_ino), path)
    return None if first == path else f"a hard link to outputs/{first}: counted once, under that name"


def cost(st: os.stat_result) -> int:
    """What a file counts against the caps: its size or its blocks on disk, whichever is larger."""
    return max(st.st_size, st.st_blocks * 512)


def over_cap(st: os.stat_result, caps: OutputCaps, total: int) -> str | None:
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if cost(st) > caps.file_bytes:
        sizes = f"{st.st_size} bytes ({st.st_blocks * 512} on disk)"
        return f"{sizes}, over the {caps.file_bytes}-byte cap per file"
    if total + cost(st) > caps.total_bytes:
        return f"over the {caps.total_bytes}-byte cap for all outputs"
    if st.st_size >= SPARSE_MIN_BYTES and st.st_blocks * 512 * 4 < st.st_size:
        return f"sparse ({st.st_size} bytes, {st.st_blocks * 512} on disk): not read"
    return None


def _digest(f: BinaryIO, size: int, found: Hashed) -> tuple[str | None, int]:
    """SHA-256 of the first ``size`` bytes (what fstat said: a file cannot grow the work); None when
    the time budget runs out first."""
    h, done = hashlib.sha256(), 0
    while done < size:
        if found.clock() > found.deadline:
            return None, done
        chunk = f.read(min(CHUNK, size - done))
        if not chunk:
            break
        h.update(chunk)
        done += len(chunk)
    return h.hexdigest(), done


def open_output(work_dir: Path, path: str, size: int) -> BinaryIO:
    """``outputs/<path>`` of a job's work directory, opened for reading: every directory, then the
    file, opened relative to its parent's descriptor with ``O_NOFOLLOW`` (a symlink anywhere, even a
    parent swapped since the outputs were hashed, is refused), and the file a regular one of exactly
    ``size`` bytes (the recorded artifact's). ``InvalidInput`` naming the path otherwise."""
    parts = path.split("/")
    if not path or any(p in {"", ".", ".."} or "\0" in p for p in parts):
        raise InvalidInput(f"{path!r} is not a plain path under outputs/", field="path")
    fd = _open_dir(work_dir, path, None)
    try:
        for name in ["outputs", *parts[:-1]]:
            parent, fd = fd, _open_dir(name, path, fd)
            os.close(parent)
        ffd = _open_file(parts[-1], fd, path)
    finally:
        os.close(fd)
    return _checked_size(ffd, path, size)


def _open_dir(name: str | Path, path: str, dir_fd: int | None) -> int:
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise InvalidInput(f"outputs/{path}: cannot open {name} ({exc.strerror})", field="path") from None


def _open_file(name: str, dir_fd: int, path: str) -> int:
    try:
        return os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise InvalidInput(f"outputs/{path}: {exc.strerror} (symlinks are refused)", field="path") from None


def _checked_size(fd: int, path: str, size: int) -> BinaryIO:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        os.close(fd)
        raise InvalidInput(
            f"outputs/{path} is no longer the regular file of {size} bytes that was recorded", field="path"
        )
    return os.fdopen(fd, "rb")


def printable(name: str) -> bool:
    """Valid UTF-8 (no surrogate-escaped bytes) without control, format or separator characters."""
    return not any(unicodedata.category(c) in UNPRINTABLE for c in name)


def escaped(name: str) -> str:
    """The name with every unprintable character as a backslash escape (undecodable bytes as \\xNN)."""
    return "".join(_escape(c) for c in name)


def _escape(c: str) -> str:
    o = ord(c)
    if 0xDC80 <= o <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{o - 0xDC00:02x}"
    if c == "\\":
        return "\\\\"
    if unicodedata.category(c) not in UNPRINTABLE:
        return c
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"
