"""A content-addressed blob store: ``<root>/sha256/ab/cdef...``, one file per distinct content.

A blob is written to a temporary name in its fan-out directory, fsynced, checked against the digest
it was asked for, and renamed into place: a reader never sees half a blob, and a write that fails
(or a transaction that rolls back after it) leaves nothing but content that is harmless to keep.
Directories are 0700 and blobs 0600 (as ``pnyx.db.files``); sources are opened without following
symlinks. ``put_stream`` takes what a reader hands over (a job's output read through its engine)
in one pass: hashed as it is copied into the store, kept only if it is what was expected.
``cached_sha256`` is what serving checks a blob with: a blob is re-hashed only when its file's
(device, inode, size, mtime, ctime) changed since it was last hashed (remembered in memory for the
``MAX_HASHED`` blobs served last), so a 1-byte range request does not re-read a 4 GiB blob.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pnyx.core.errors import IntegrityFailure, InvalidInput, NotFound
from pnyx.db.files import private_dir

CHUNK = 1 << 20
MAX_HASHED = 4096  # blobs whose digest is remembered by their file's identity and times
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Blob:
    sha256: str
    size: int


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.rehashes = 0  # full hashes ``cached_sha256`` has done (what the cache saves shows here)
        self._hashed: OrderedDict[str, tuple[tuple[int, ...], str]] = OrderedDict()
        self._lock = threading.Lock()

    def put_file(
        self, source: Path, *, expected_sha256: str | None = None, max_bytes: int | None = None
    ) -> Blob:
        """Copy a regular file (never through a symlink) into the store, hashing as it copies."""
        descriptor = _open_plain(source)
        with os.fdopen(descriptor, "rb") as handle:
            return self._put_stream(handle, str(source), expected_sha256, max_bytes)

    def put_bytes(self, data: bytes) -> Blob:
        return self._put_stream(io.BytesIO(data), "bytes", None, None)

    def put_stream(
        self, handle: BinaryIO, *, expected_sha256: str, max_bytes: int, name: str = "stream"
    ) -> Blob:
        """Copy what ``handle`` reads into the store in one pass, hashing as it copies into a
        temporary file in the store: renamed into place only if it hashes to ``expected_sha256`` and
        holds at most ``max_bytes`` (InvalidInput naming ``name`` otherwise; nothing is stored)."""
        self._location(expected_sha256.lower())  # a malformed digest is refused before any read
        return self._put_stream(handle, name, expected_sha256, max_bytes)

    def has(self, sha256: str) -> bool:
        return _HEX.fullmatch(sha256) is not None and self._location(sha256).is_file()

    def path(self, sha256: str) -> Path:
        """The blob's file (InvalidInput for a malformed digest, NotFound for an absent blob)."""
        location = self._location(sha256)
        if not location.is_file():
            raise NotFound(f"blob {sha256} is not in the store", field="sha256")
        return location

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def verify(self, sha256: str) -> None:
        """Re-hash a stored blob; IntegrityFailure if its content no longer matches its name."""
        found = file_sha256(self.path(sha256))
        if found != sha256:
            raise IntegrityFailure(
                f"blob {sha256} has been altered: its content hashes to {found}", field="sha256"
            )

    def cached_sha256(self, sha256: str) -> str:
        """What the stored blob's content hashes to now: re-hashed unless its file is the one hashed
        last, unchanged (same device, inode, size, mtime and ctime: a write changes ctime)."""
        path = self.path(sha256)
        key = _identity(path)
        with self._lock:
            known = self._hashed.get(sha256)
            if known is not None and known[0] == key:
                self._hashed.move_to_end(sha256)
                return known[1]
        found = file_sha256(path)
        self._remember(sha256, key, found, _identity(path))
        return found

    def _remember(self, sha256: str, before: tuple[int, ...], found: str, after: tuple[int, ...]) -> None:
        with self._lock:
            self.rehashes += 1
            if before != after:  # changed while it was hashed: nothing to remember
                self._hashed.pop(sha256, None)
                return
            self._hashed[sha256] = (before, found)
            self._hashed.move_to_end(sha256)
            while len(self._hashed) > MAX_HASHED:
                self._hashed.popitem(last=False)

    def _put_stream(self, handle: BinaryIO, name: str, expected: str | None, max_bytes: int | None) -> Blob:
        staging = _private_dirs(self.root, "tmp")
        descriptor, raw = tempfile.mkstemp(dir=staging, prefix=".blob-")
        temporary = Path(raw)
        try:
            blob = _copy_hashing(handle, descriptor, name, max_bytes)
            _check_expected(name, expected, blob.sha256)
            return self._commit(temporary, blob)
        finally:
            temporary.unlink(missing_ok=True)

    def _commit(self, temporary: Path, blob: Blob) -> Blob:
        target = self._location(blob.sha256)
        _private_dirs(self.root, "sha256", blob.sha256[:2])
        if target.is_file():
            temporary.unlink(missing_ok=True)
        else:
            os.replace(temporary, target)
        return blob

    def _location(self, sha256: str) -> Path:
        if _HEX.fullmatch(sha256) is None:
            raise InvalidInput(f"{sha256!r} is not a SHA-256 hex digest", field="sha256")
        return self.root / "sha256" / sha256[:2] / sha256[2:]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _identity(path: Path) -> tuple[int, ...]:
    found = path.stat()
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def _private_dirs(root: Path, *parts: str) -> Path:
    """``root/parts...``, each level 0700 (``mkdir(parents=True)`` would leave the middle ones 0755)."""
    path = private_dir(root)
    for part in parts:
        path = private_dir(path / part)
    return path


def _open_plain(source: Path) -> int:
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read {source}: {exc.strerror} (symlinks are refused)", field=str(source)
        ) from exc
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InvalidInput(f"{source} is not a regular file", field=str(source))
    return descriptor


def _copy_hashing(handle: BinaryIO, descriptor: int, name: str, max_bytes: int | None) -> Blob:
    digest, size = hashlib.sha256(), 0
    with os.fdopen(descriptor, "wb") as out:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise InvalidInput(f"{name} is larger than the limit of {max_bytes} bytes", field=name)
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return Blob(digest.hexdigest(), size)


def _check_expected(name: str, expected: str | None, found: str) -> None:
    if expected is not None and expected.lower() != found:
        raise InvalidInput(
            f"{name} hashes to {found}, not the expected {expected}", field=name, code="digest_mismatch"
        )


def link_tree(store: BlobStore, target: Path, files: Mapping[str, str]) -> Path:
    """Make ``target`` a directory holding ``files`` (name -> blob SHA-256), each a hard link to its
    blob (a copy where the file system refuses links). Built under a temporary name and renamed into
    place, so ``target`` is complete or absent; an existing ``target`` is left as it is."""
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(dir=private_dir(target.parent), prefix=f".{target.name}-"))
    try:
        for name, sha256 in sorted(files.items()):
            (staging / name).parent.mkdir(parents=True, exist_ok=True)  # a name may hold folders
            _link_or_copy(store.path(sha256), staging / name)
        _rename_unless_there(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def _rename_unless_there(staging: Path, target: Path) -> None:
    try:
        os.rename(staging, target)
    except OSError:
        if not target.is_dir():  # another process made it meanwhile: theirs is as good
            raise


def _link_or_copy(blob: Path, destination: Path) -> None:
    try:
        os.link(blob, destination, follow_symlinks=False)
    except OSError:
        shutil.copyfile(blob, destination, follow_symlinks=False)
        destination.chmod(0o600)
