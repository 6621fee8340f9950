"""Reading an import directory, and writing and reading WebDataset shard tars.

An import directory is ``DIR/sources.json`` and ``DIR/<source>/...`` (files at any depth below a
source). Every file is opened without following symlinks; a symlink, a device, a file outside a
declared source or of an unknown type is refused naming it. Shards are deterministic tars: per
sample ``<key>.json`` then ``<key>.<ext>``, ustar, mtime 0, uid/gid 0, no owner names, mode 0644.

Error messages name files by their path inside the import directory, never by this server's path
(``uploads`` unpacks an uploaded tar of one).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pnyx.core.errors import IntegrityFailure, InvalidInput
from pnyx.db.files import private_dir
from pnyx.registry import payloads, rules
from pnyx.registry.blobs import BlobStore
from pnyx.registry.model import PAYLOAD_EXTENSION, Modality, Sample, Shard, Source

MAX_DEPTH = 16
Progress = Callable[[int], None]  # called with the number of files read so far


@dataclass(frozen=True, slots=True)
class Found:
    """A sample found in an import directory, and the file it was read from."""

    sample: Sample
    path: Path


def read_sources(directory: Path) -> tuple[Source, ...]:
    return rules.parse_sources(read_plain(directory / rules.SOURCES_FILE, rules.MAX_SOURCES_BYTES))


def scan(directory: Path, sources: Sequence[Source], progress: Progress | None = None) -> list[Found]:
    """Every sample file under the declared sources, checked and hashed (sorted by path)."""
    names = {s.name for s in sources}
    _check_top_level(directory, names)
    found: list[Found] = []
    for name in sorted(names):
        for path in _files(directory / name, directory):
            found.append(_sample(path, name, directory))
            if progress is not None:
                progress(len(found))
    return found


def _check_top_level(directory: Path, sources: set[str]) -> None:
    entries = {entry.name: entry for entry in _entries(directory, directory)}
    for name, entry in sorted(entries.items()):
        if _printable(name) == rules.SOURCES_FILE:
            continue
        if name not in sources:
            raise InvalidInput(f"{name} is not a source named in {rules.SOURCES_FILE}", field=name)
        if entry.is_symlink() or not entry.is_dir(follow_symlinks=False):
            raise InvalidInput(f"source {name} must be a directory (symlinks are refused)", field=name)
    for name in sorted(sources - entries.keys()):
        raise InvalidInput(f"source {name} in {rules.SOURCES_FILE} has no directory", field=name)


def _entries(directory: Path, root: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        shown = rules.shorten(_printable(directory.relative_to(root).as_posix()))
        raise InvalidInput(f"cannot read directory {shown}: {exc.strerror}", field=shown) from None


def _files(directory: Path, root: Path, depth: int = 0) -> Iterator[Path]:
    if depth > MAX_DEPTH:
        shown = rules.shorten(_printable(directory.relative_to(root).as_posix()))
        raise InvalidInput(f"{shown} is nested too deep", field=shown)
    for entry in _entries(directory, root):
        path = Path(entry.path)
        shown = _printable(path.relative_to(root).as_posix())
        if entry.is_symlink():
            raise InvalidInput(f"{shown} is a symlink; an import holds plain files only", field=shown)
        if entry.is_dir(follow_symlinks=False):
            yield from _files(path, root, depth + 1)
        elif entry.is_file(follow_symlinks=False):
            yield path
        else:
            raise InvalidInput(f"{shown} is not a regular file", field=shown)


def _printable(name: str) -> str:
    """A file's name, refused (named with escapes) unless it is text without control characters."""
    try:
        return rules.check_text(name, "name")
    except InvalidInput:
        shown = ascii(name)
        raise InvalidInput(f"file name {shown} is not printable text", field=shown) from None


def _sample(path: Path, source: str, root: Path) -> Found:
    shown = path.relative_to(root).as_posix()
    modality = rules.modality_of(shown)
    data = read_plain(path, rules.MAX_SAMPLE_BYTES, shown)
    payloads.check_payload(modality, data, shown)
    digest = hashlib.sha256(data).hexdigest()
    return Found(Sample(sha256=digest, modality=modality, source=source, size=len(data)), path)


def read_plain(path: Path, limit: int, shown: str | None = None) -> bytes:
    """A regular file's bytes, opened without following a symlink, at most ``limit`` bytes."""
    name = rules.shorten(shown or path.name)
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise InvalidInput(f"cannot read {name}: {exc.strerror} (symlinks are refused)", field=name) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InvalidInput(f"{name} is not a regular file", field=name)
    with os.fdopen(descriptor, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{name} is larger than {limit} bytes", field=name)
    return data


# --- shard tars ----------------------------------------------------------------------------------


def store_shards(blobs: BlobStore, samples: Iterator[tuple[Sample, bytes]], per_shard: int) -> list[Shard]:
    """Write ``samples`` (in order) as shard tars of ``per_shard`` samples into the blob store."""
    stored: list[Shard] = []
    for first in samples:
        chunk = itertools.chain([first], itertools.islice(samples, per_shard - 1))
        stored.append(_store_shard(blobs, len(stored), chunk))
    return stored


def _store_shard(blobs: BlobStore, index: int, samples: Iterable[tuple[Sample, bytes]]) -> Shard:
    counted = 0

    def counting() -> Iterator[tuple[Sample, bytes]]:
        nonlocal counted
        for item in samples:
            counted += 1
            yield item

    descriptor, raw = tempfile.mkstemp(dir=private_dir(blobs.root / "tmp"), prefix=".shard-")
    try:
        with os.fdopen(descriptor, "wb") as out:
            write_shard(out, counting())
        blob = blobs.put_file(Path(raw))
    finally:
        os.unlink(raw)
    return Shard(
        index=index, name=rules.shard_name(index), sha256=blob.sha256, size=blob.size, samples=counted
    )


def write_shard(out: BinaryIO, samples: Iterable[tuple[Sample, bytes]]) -> None:
    """A deterministic WebDataset tar of ``samples`` (each payload already checked against its key)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample, payload in samples:
            record_name, payload_name = rules.member_names(sample)
            _add(tar, record_name, rules.sample_record(sample))
            _add(tar, payload_name, payload)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def read_shard(handle: BinaryIO, name: str) -> Iterator[tuple[Sample, bytes]]:
    """The samples of a shard tar, in order, each checked (its key is its payload's hash)."""
    with tarfile.open(fileobj=handle, mode="r:") as tar:
        members = iter(tar)
        for position, record in enumerate(members):
            payload = next(members, None)
            if payload is None:
                raise IntegrityFailure(f"{name}: {record.name} has no payload", field=name)
            yield _member_sample(tar, record, payload, name, position)


def _member_sample(
    tar: tarfile.TarFile, record: tarfile.TarInfo, payload: tarfile.TarInfo, name: str, position: int
) -> tuple[Sample, bytes]:
    meta = _json(_member_bytes(tar, record, name), name)
    data = _member_bytes(tar, payload, name)
    key, modality = str(meta.get("sha256", "")), _modality(meta.get("modality"), name)
    expected = (f"{key}.json", f"{key}.{PAYLOAD_EXTENSION[modality]}")
    if (record.name, payload.name) != expected or hashlib.sha256(data).hexdigest() != key:
        raise IntegrityFailure(f"{name}: member {payload.name} does not match its key", field=name)
    source = str(meta.get("source", ""))
    return Sample(sha256=key, modality=modality, source=source, size=len(data), position=position), data


def _modality(value: object, name: str) -> Modality:
    try:
        return Modality(str(value))
    except ValueError as exc:
        raise IntegrityFailure(f"{name}: a sample record names no known modality", field=name) from exc


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> bytes:
    handle = tar.extractfile(member) if member.isfile() else None
    if handle is None or member.size > rules.MAX_SAMPLE_BYTES:
        raise IntegrityFailure(f"{name}: member {member.name} is not a sample file", field=name)
    return handle.read()


def _json(data: bytes, name: str) -> dict[str, object]:
    try:
        found = json.loads(data)
    except ValueError as exc:
        raise IntegrityFailure(f"{name}: a sample record is not JSON", field=name) from exc
    if not isinstance(found, dict):
        raise IntegrityFailure(f"{name}: a sample record is not an object", field=name)
    return found
