"""Serving checks a blob by ``BlobStore.cached_sha256`` (attack report, low 8): the blob is hashed once,
then again only when its file changed (a write, a replacement, a touch), and at most ``MAX_HASHED``
digests are remembered. A real blob store on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from pnyx.registry import blobs as blobs_module
from pnyx.registry.blobs import BlobStore


def test_a_blob_is_rehashed_only_when_its_file_changed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "registry")
    data = os.urandom(3 << 20)
    blob = store.put_bytes(data)
    assert [store.cached_sha256(blob.sha256) for _ in range(5)] == [blob.sha256] * 5
    assert store.rehashes == 1  # one full read for five checks
    path = store.path(blob.sha256)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # altered in place, same size
    tampered = hashlib.sha256(path.read_bytes()).hexdigest()
    assert store.cached_sha256(blob.sha256) == tampered
    assert store.rehashes == 2
    path.write_bytes(data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10**9))  # mtime set back: ctime still moves
    assert store.cached_sha256(blob.sha256) == blob.sha256
    assert store.rehashes == 3


def test_at_most_max_hashed_digests_are_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blobs_module, "MAX_HASHED", 2)
    store = BlobStore(tmp_path / "registry")
    first, second, third = (store.put_bytes(bytes([n]) * 100) for n in range(3))
    for blob in (first, second, third):
        assert store.cached_sha256(blob.sha256) == blob.sha256
    assert store.rehashes == 3
    store.cached_sha256(third.sha256)
    store.cached_sha256(second.sha256)
    assert store.rehashes == 3  # still remembered
    store.cached_sha256(first.sha256)  # forgotten: the least recently checked
    assert store.rehashes == 4
