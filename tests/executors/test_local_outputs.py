"""Hashing a job's outputs: no symlink followed, no special file opened, caps on everything, sparse
files never read; what is skipped is named."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from pnyx.executors.local_outputs import OutputCaps, hash_outputs


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    (tmp_path / "outputs").mkdir()
    return tmp_path / "outputs"


def test_regular_files_are_hashed(outputs: Path) -> None:
    (outputs / "ckpt").mkdir()
    (outputs / "ckpt" / "w.bin").write_bytes(b"weights")
    (outputs / "eval.json").write_text("{}")
    found = hash_outputs(outputs.parent, OutputCaps())
    assert {(a.path, a.size) for a in found.artifacts} == {("ckpt/w.bin", 7), ("eval.json", 2)}
    assert found.artifacts[0].sha256 == hashlib.sha256(b"weights").hexdigest()
    assert found.notes == []


def test_links_and_special_files_are_skipped_without_being_opened(outputs: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("server secret")
    (outputs / "link").symlink_to(tmp_path / "secret")
    (outputs / "dirlink").symlink_to(tmp_path)
    os.mkfifo(outputs / "fifo")  # opening it for reading would block for ever
    found = hash_outputs(outputs.parent, OutputCaps())
    assert found.artifacts == []
    assert sorted(found.notes) == [
        "outputs/dirlink: not a regular file",
        "outputs/fifo: not a regular file",
        "outputs/link: not a regular file",
    ]


def test_outputs_itself_a_symlink_is_not_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_text("x")
    (tmp_path / "outputs").symlink_to(tmp_path / "elsewhere")
    found = hash_outputs(tmp_path, OutputCaps())
    assert found.artifacts == []
    assert found.notes[0].startswith("outputs: not a directory")


def test_sparse_and_oversized_files_are_skipped_unread(outputs: Path) -> None:
    with (outputs / "sparse").open("wb") as f:
        f.truncate(1 << 40)  # a terabyte that takes no disk
    (outputs / "big").write_bytes(b"x" * 3000)
    (outputs / "ok").write_bytes(b"y" * 1000)
    started = time.perf_counter()
    found = hash_outputs(outputs.parent, OutputCaps(file_bytes=2000))
    assert time.perf_counter() - started < 1
    assert [a.path for a in found.artifacts] == ["ok"]
    assert any(n.startswith("outputs/sparse: ") and "over the 2000-byte cap" in n for n in found.notes)
    assert any(n.startswith("outputs/big: 3000 bytes, over") for n in found.notes)
    sparse_only = hash_outputs(outputs.parent, OutputCaps(file_bytes=1 << 41, total_bytes=1 << 42))
    assert any(n.startswith("outputs/sparse: sparse") for n in sparse_only.notes)


def test_caps_on_entries_total_and_depth(outputs: Path) -> None:
    for i in range(30):
        (outputs / f"f{i:02}").write_bytes(b"z" * 100)
    found = hash_outputs(outputs.parent, OutputCaps(entries=10))
    assert len(found.artifacts) == 10
    assert "stopped after 10 entries" in found.notes[-1]
    found = hash_outputs(outputs.parent, OutputCaps(total_bytes=450))
    assert len(found.artifacts) == 4
    deep = outputs / "d"
    for _ in range(40):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "leaf").write_text("x")
    found = hash_outputs(outputs.parent, OutputCaps(total_bytes=1 << 30))
    assert any("deeper than 32 levels" in n for n in found.notes)
    assert all(not a.path.endswith("leaf") for a in found.artifacts)


def test_missing_outputs(tmp_path: Path) -> None:
    assert hash_outputs(tmp_path / "absent", OutputCaps()).artifacts == []
