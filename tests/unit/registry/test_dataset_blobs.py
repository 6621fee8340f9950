"""The content-addressed blob store: written whole or not at all, never through a symlink, private."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest

from pnyx.core.errors import IntegrityFailure, InvalidInput, NotFound
from pnyx.registry.blobs import Blob, BlobStore, link_tree


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "registry")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_put_bytes_is_content_addressed_and_private(store: BlobStore) -> None:
    blob = store.put_bytes(b"hello")
    digest = hashlib.sha256(b"hello").hexdigest()
    assert blob == Blob(digest, 5)
    path = store.path(digest)
    assert path == store.root / "sha256" / digest[:2] / digest[2:]
    assert path.read_bytes() == b"hello"
    assert mode(path) == 0o600
    assert {mode(p) for p in (store.root, store.root / "sha256", path.parent)} == {0o700}
    assert store.put_bytes(b"hello") == blob  # idempotent
    assert store.has(digest)
    with store.open(digest) as handle:
        assert handle.read() == b"hello"


def test_put_file_hashes_as_it_copies_and_checks_the_expected_digest(
    store: BlobStore, tmp_path: Path
) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"x" * 3000)
    digest = hashlib.sha256(b"x" * 3000).hexdigest()
    assert store.put_file(source, expected_sha256=digest) == Blob(digest, 3000)
    other = tmp_path / "other.bin"
    other.write_bytes(b"y")
    with pytest.raises(
        InvalidInput, match=f"hashes to {hashlib.sha256(b'y').hexdigest()}, not the expected {digest}"
    ):
        store.put_file(other, expected_sha256=digest)
    assert not store.has(hashlib.sha256(b"y").hexdigest())
    assert list((store.root / "tmp").iterdir()) == []  # nothing half-written is left


def test_put_file_refuses_symlinks_directories_and_oversize(store: BlobStore, tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_bytes(b"secret")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(InvalidInput, match="symlinks are refused"):
        store.put_file(tmp_path / "link")
    with pytest.raises(InvalidInput, match="not a regular file"):
        store.put_file(tmp_path)
    with pytest.raises(InvalidInput, match="larger than the limit of 3 bytes"):
        store.put_file(target, max_bytes=3)
    assert not (store.root / "sha256").exists() or not any((store.root / "sha256").iterdir())


def test_absent_and_malformed_digests(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.path("0" * 64)
    assert not store.has("../../etc/passwd")
    with pytest.raises(InvalidInput):
        store.path("../../etc/passwd")


def test_verify_finds_an_altered_blob(store: BlobStore) -> None:
    blob = store.put_bytes(b"original")
    store.verify(blob.sha256)
    path = store.path(blob.sha256)
    os.chmod(path, 0o600)
    path.write_bytes(b"tampered")
    with pytest.raises(IntegrityFailure, match="altered"):
        store.verify(blob.sha256)


def test_link_tree_makes_a_complete_directory_once(store: BlobStore) -> None:
    a, b = store.put_bytes(b"a"), store.put_bytes(b"b")
    target = store.root / "datasets" / "v1"
    assert link_tree(store, target, {"one": a.sha256, "two": b.sha256}) == target
    assert sorted(p.name for p in target.iterdir()) == ["one", "two"]
    assert (target / "one").stat().st_ino == store.path(a.sha256).stat().st_ino  # a hard link
    link_tree(store, target, {"three": a.sha256})  # an existing directory is left as it is
    assert sorted(p.name for p in target.iterdir()) == ["one", "two"]
    with pytest.raises(NotFound):
        link_tree(store, store.root / "datasets" / "v2", {"gone": "f" * 64})
    assert not (store.root / "datasets" / "v2").exists()
    assert [p.name for p in (store.root / "datasets").iterdir()] == ["v1"]  # no staging left


def test_put_stream_copies_once_and_keeps_only_what_was_expected(store: BlobStore) -> None:
    data = bytes(range(256)) * 5000  # more than one copy chunk
    digest = hashlib.sha256(data).hexdigest()
    assert store.put_stream(io.BytesIO(data), expected_sha256=digest, max_bytes=len(data)) == Blob(
        digest, len(data)
    )
    assert store.path(digest).read_bytes() == data
    assert mode(store.path(digest)) == 0o600
    again = store.put_stream(io.BytesIO(data), expected_sha256=digest.upper(), max_bytes=len(data))
    assert again.sha256 == digest


def test_put_stream_stores_nothing_on_a_mismatch_or_an_oversize_stream(store: BlobStore) -> None:
    expected = hashlib.sha256(b"recorded").hexdigest()
    with pytest.raises(InvalidInput, match=r"outputs/model\.safetensors hashes to") as mismatch:
        store.put_stream(
            io.BytesIO(b"swapped!"), expected_sha256=expected, max_bytes=8, name="outputs/model.safetensors"
        )
    assert (mismatch.value.field, mismatch.value.code) == ("outputs/model.safetensors", "digest_mismatch")
    with pytest.raises(InvalidInput, match="larger than the limit of 8 bytes"):
        store.put_stream(io.BytesIO(b"recorded, then grew"), expected_sha256=expected, max_bytes=8)
    with pytest.raises(InvalidInput, match="not a SHA-256 hex digest"):
        store.put_stream(io.BytesIO(b"recorded"), expected_sha256="../../x", max_bytes=8)
    assert not store.has(hashlib.sha256(b"swapped!").hexdigest())
    assert not (store.root / "sha256").exists() or not any((store.root / "sha256").iterdir())
    assert list((store.root / "tmp").iterdir()) == []  # no temporary file is left behind
