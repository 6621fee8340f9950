"""Fixtures for the training recipe: a tiny dataset version written in the registry's directory
format (pnyx/registry/README.md), and a way to run the recipe through a real ``torchrun``.

The version is written by the registry's own code, with the shards laid out as given here (the
importer would order samples by hash): its shard writer (``registry.shards.write_shard``:
deterministic WebDataset tars, each sample as ``<sha256>.json`` then its payload), its manifest
bytes and its version id (``registry.rules``: the RFC 6962 Merkle root over the shard digests).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pnyx.registry import rules
from pnyx.registry.model import MANIFEST_NAME, Modality, Shard
from pnyx.registry.model import Sample as Placed
from pnyx.registry.shards import write_shard
from pnyx.training.launch import run_on_cpu

Sample = tuple[Modality, bytes]

TEXTS = [
    b"The council adopted the motion: every member state contributes compute in proportion.",
    b"A public supercomputer trains open models; its log shows every decision to anyone.",
    b"Datasets carry their licences, opt-outs and tombstones; models carry their data order.",
    b"hello hello hello hello hello hello hello hello hello hello hello hello hello hello",
]
CODE = [
    b"def add(a, b):\n    return a + b\n\nprint(add(2, 3))\n",
    b"for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
    b"class Point:\n    def __init__(self, x, y):\n        self.x, self.y = x, y\n",
]


def pgm(width: int, height: int, pixels: bytes, maxval: int = 255) -> bytes:
    assert len(pixels) == width * height
    return f"P5\n{width} {height}\n{maxval}\n".encode() + pixels


def gradient(width: int, height: int, phase: int = 0) -> bytes:
    return pgm(
        width, height, bytes((x * 16 + y * 8 + phase) % 256 for y in range(height) for x in range(width))
    )


def wav(samples: Sequence[int], rate: int = 8000) -> bytes:
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buffer.getvalue()


def fixture_shards() -> list[list[Sample]]:
    """Two shards mixing text, code, images and one sound: 7 + 6 samples."""
    first: list[Sample] = [(Modality.TEXT, t) for t in TEXTS[:2]] + [(Modality.CODE, CODE[0])]
    first += [(Modality.IMAGE, gradient(8, 8)), (Modality.TEXT, TEXTS[2]), (Modality.CODE, CODE[1])]
    first += [(Modality.AUDIO, wav([(i * 997) % 20000 - 10000 for i in range(200)]))]
    second: list[Sample] = [(Modality.TEXT, TEXTS[3]), (Modality.IMAGE, gradient(12, 6, phase=3))]
    second += [(Modality.CODE, CODE[2]), (Modality.TEXT, TEXTS[0] + b" " + TEXTS[1])]
    second += [(Modality.IMAGE, gradient(4, 4, phase=7)), (Modality.TEXT, TEXTS[2][::-1])]
    return [first, second]


def tar_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode = (
        len(data),
        0,
        0,
        0,
        "",
        "",
        0o644,
    )
    return info, io.BytesIO(data)


def placed(modality: Modality, payload: bytes, position: int) -> Placed:
    digest = hashlib.sha256(payload).hexdigest()
    return Placed(sha256=digest, modality=modality, source="fixture", size=len(payload), position=position)


def shard_bytes(samples: Sequence[Sample]) -> bytes:
    """A shard tar of ``samples`` in the given order, as the registry writes it."""
    buffer = io.BytesIO()
    write_shard(buffer, [(placed(m, p, i), p) for i, (m, p) in enumerate(samples)])
    return buffer.getvalue()


def write_dataset(
    directory: Path, shards: Sequence[Sequence[Sample]], name: str = "fixture"
) -> dict[str, Any]:
    """Write a dataset version directory (one shard per entry of ``shards``); returns its manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, samples in enumerate(shards):
        data = shard_bytes(samples)
        shard_name = rules.shard_name(index)
        (directory / shard_name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        written.append(
            Shard(index=index, name=shard_name, sha256=digest, size=len(data), samples=len(samples))
        )
    manifest = rules.manifest(name, rules.version_id([s.sha256 for s in written]), written)
    (directory / MANIFEST_NAME).write_bytes(manifest)
    found: dict[str, Any] = json.loads(manifest)
    return found


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    directory = tmp_path / "dataset"
    write_dataset(directory, fixture_shards())
    return directory


def torchrun(*args: str | Path, ranks: int = 2, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``torchrun -m pnyx.training.run ARGS`` on CPU, ``ranks`` processes of one thread each."""
    return run_on_cpu(*args, ranks=ranks, timeout=timeout)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
