"""A dataset version's directory as a job reads it: the manifest, its shards' digests, and the
samples inside each WebDataset tar (stdlib only; the format is in ``pnyx/registry/README.md``).

Everything here is untrusted input. Tars are never extracted: members are located by their headers
and read by offset. A member that is not a plain regular file, a name that is not
``<sha256>.<ext>``, a payload over ``PAYLOAD_MAX_BYTES`` or a sidecar over ``SIDECAR_MAX_BYTES`` is
refused, and so is a symlink in place of the manifest or a shard. A shard's SHA-256 is checked
against the manifest before use (``verify_shard``); each payload is checked again when read, against
its key (the SHA-256 of its bytes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pnyx.core.errors import InvalidInput
from pnyx.registry.model import MANIFEST_FORMAT, MANIFEST_NAME, PAYLOAD_EXTENSION, Modality

MANIFEST_MAX_BYTES = 16 << 20
SIDECAR_MAX_BYTES = 64 << 10
PAYLOAD_MAX_BYTES = 64 << 20
_SHARD_NAME = re.compile(r"shard-\d{6}\.tar")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_MEMBER = re.compile(r"([0-9a-f]{64})\.(json|txt|code|pgm|wav)")
_MODALITY = {ext: modality for modality, ext in PAYLOAD_EXTENSION.items()}
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class ShardEntry:
    index: int
    name: str
    sha256: str
    size: int
    samples: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    dataset: str
    version: str
    shards: tuple[ShardEntry, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(s.samples for s in self.shards)


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleRef:
    """Where one sample's payload lies in its shard."""

    key: str  # SHA-256 (hex) of the payload
    modality: Modality
    offset: int
    size: int


def read_manifest(directory: Path) -> Manifest:
    """The version's ``manifest.json``, checked field by field."""
    raw = _read_capped(directory / MANIFEST_NAME, MANIFEST_MAX_BYTES, "the manifest")
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{MANIFEST_NAME} is not JSON: {exc}", field="manifest") from exc
    if not isinstance(found, dict) or found.get("format") != MANIFEST_FORMAT:
        raise InvalidInput(f"{MANIFEST_NAME} is not a {MANIFEST_FORMAT} manifest", field="manifest")
    shards = found.get("shards")
    if not isinstance(shards, list) or not shards:
        raise InvalidInput(f"{MANIFEST_NAME} lists no shards", field="manifest")
    entries = tuple(_shard_entry(position, s) for position, s in enumerate(shards))
    return Manifest(dataset=_text(found, "dataset"), version=_hex(found, "version"), shards=entries)


def verify_shard(directory: Path, shard: ShardEntry) -> None:
    """The shard's size and SHA-256 are the manifest's, and its tar holds exactly its samples."""
    digest = hashlib.sha256()
    with _open_regular(directory / shard.name, shard.name) as f:
        size = os.fstat(f.fileno()).st_size
        if size != shard.size:
            raise InvalidInput(
                f"shard {shard.name} is {size} bytes, the manifest says {shard.size}", field="shard"
            )
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != shard.sha256:
        raise InvalidInput(
            f"shard {shard.name} does not match the manifest: its SHA-256 is {digest.hexdigest()}, "
            f"the manifest says {shard.sha256}",
            field="shard",
        )
    index_shard(directory, shard)


def index_shard(directory: Path, shard: ShardEntry) -> tuple[SampleRef, ...]:
    """The shard's samples in stored order (from the tar headers; nothing is extracted)."""
    try:
        with (
            _open_regular(directory / shard.name, shard.name) as f,
            tarfile.open(fileobj=f, mode="r:") as tar,
        ):
            refs = tuple(_samples(tar, shard))
    except tarfile.TarError as exc:
        raise InvalidInput(f"shard {shard.name} is not a readable tar: {exc}", field="shard") from exc
    if len(refs) != shard.samples:
        raise InvalidInput(
            f"shard {shard.name} holds {len(refs)} samples, the manifest says {shard.samples}", field="shard"
        )
    return refs


def read_payload(directory: Path, shard: ShardEntry, ref: SampleRef) -> bytes:
    """One sample's payload bytes, checked against its key."""
    with _open_regular(directory / shard.name, shard.name) as f:
        f.seek(ref.offset)
        payload = f.read(ref.size)
    if len(payload) != ref.size or hashlib.sha256(payload).hexdigest() != ref.key:
        raise InvalidInput(f"sample {ref.key} in shard {shard.name} does not match its key", field="shard")
    return payload


def _samples(tar: tarfile.TarFile, shard: ShardEntry) -> list[SampleRef]:
    refs: list[SampleRef] = []
    pending: tuple[str, Modality] | None = None
    for member in tar:
        key, ext = _member_name(member, shard)
        if len(refs) >= shard.samples:
            raise InvalidInput(
                f"shard {shard.name} holds more than its {shard.samples} samples", field="shard"
            )
        if pending is None:
            pending = _sidecar(tar, member, shard, key, ext)
            continue
        refs.append(_payload(member, shard, key, ext, pending))
        pending = None
    if pending is not None:
        raise InvalidInput(
            f"shard {shard.name} ends after {pending[0]}.json without its payload", field="shard"
        )
    return refs


def _member_name(member: tarfile.TarInfo, shard: ShardEntry) -> tuple[str, str]:
    if not member.isreg() or member.issparse():
        raise InvalidInput(f"shard {shard.name}: member {member.name!r} is not a regular file", field="shard")
    match = _MEMBER.fullmatch(member.name)
    if match is None:
        raise InvalidInput(
            f"shard {shard.name}: member name {member.name!r} is not <sha256>.<ext>", field="shard"
        )
    return match.group(1), match.group(2)


def _sidecar(
    tar: tarfile.TarFile, member: tarfile.TarInfo, shard: ShardEntry, key: str, ext: str
) -> tuple[str, Modality]:
    if ext != "json" or member.size > SIDECAR_MAX_BYTES:
        raise InvalidInput(
            f"shard {shard.name}: expected {key}.json (at most {SIDECAR_MAX_BYTES} bytes), "
            f"found {member.name}",
            field="shard",
        )
    reader = tar.extractfile(member)
    assert reader is not None  # a regular file always has a reader
    try:
        found = json.loads(reader.read(SIDECAR_MAX_BYTES))
        modality = Modality(found["modality"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(
            f"shard {shard.name}: {member.name} is not a sample record: {exc}", field="shard"
        ) from exc
    if found.get("sha256") != key:
        raise InvalidInput(f"shard {shard.name}: {member.name} names another sample", field="shard")
    return key, modality


def _payload(
    member: tarfile.TarInfo, shard: ShardEntry, key: str, ext: str, pending: tuple[str, Modality]
) -> SampleRef:
    if key != pending[0] or _MODALITY.get(ext) != pending[1]:
        raise InvalidInput(
            f"shard {shard.name}: {member.name} does not follow {pending[0]}.json as its "
            f"{pending[1].value} payload",
            field="shard",
        )
    if member.size > PAYLOAD_MAX_BYTES:
        raise InvalidInput(
            f"shard {shard.name}: {member.name} is over {PAYLOAD_MAX_BYTES} bytes", field="shard"
        )
    return SampleRef(key=key, modality=pending[1], offset=member.offset_data, size=member.size)


def _open_regular(path: Path, what: str) -> BinaryIO:
    """Open for reading without following a symlink; only a regular file will do."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise InvalidInput(f"cannot open {what}: {exc.strerror}", field="dataset") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"{what} is not a regular file", field="dataset")
    return os.fdopen(fd, "rb")


def _read_capped(path: Path, limit: int, what: str) -> bytes:
    with _open_regular(path, what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{what} is over {limit} bytes", field="dataset")
    return data


def _shard_entry(position: int, found: object) -> ShardEntry:
    if not isinstance(found, dict):
        raise InvalidInput(f"manifest shard {position} is not an object", field="manifest")
    name = _text(found, "name")
    if not _SHARD_NAME.fullmatch(name):
        raise InvalidInput(f"manifest shard {position}: {name!r} is not shard-NNNNNN.tar", field="manifest")
    entry = ShardEntry(
        index=_count(found, "index"),
        name=name,
        sha256=_hex(found, "sha256"),
        size=_count(found, "size"),
        samples=_count(found, "samples"),
    )
    if entry.index != position or entry.samples == 0:
        raise InvalidInput(
            f"manifest shard {position} ({name}) has index {entry.index} and {entry.samples} samples",
            field="manifest",
        )
    return entry


def _text(found: dict[str, object], name: str) -> str:
    value = found.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"manifest field {name!r} must be a non-empty string", field="manifest")
    return value


def _hex(found: dict[str, object], name: str) -> str:
    value = _text(found, name)
    if not _HEX64.fullmatch(value):
        raise InvalidInput(f"manifest field {name!r} must be 64 lower-case hex digits", field="manifest")
    return value


def _count(found: dict[str, object], name: str) -> int:
    value = found.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"manifest field {name!r} must be a whole number, got {value!r}", field="manifest")
    return value
