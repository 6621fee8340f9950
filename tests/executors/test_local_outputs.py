"""Hashing a job's outputs: no symlink followed, no special file opened, caps on everything, sparse
files never read; what is skipped is named."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from pnyx.executors.local_outputs import OutputCaps, escaped, hash_outputs

PAGE = 4096  # small files take whole blocks on disk, and count for them


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
    (outputs / "big").write_bytes(b"x" * 3 * PAGE)
    (outputs / "ok").write_bytes(b"y" * PAGE)
    started = time.perf_counter()
    found = hash_outputs(outputs.parent, OutputCaps(file_bytes=2 * PAGE))
    assert time.perf_counter() - started < 1
    assert [a.path for a in found.artifacts] == ["ok"]
    assert any(n.startswith("outputs/sparse: ") and "over the 8192-byte cap" in n for n in found.notes)
    assert any(n.startswith("outputs/big: 12288 bytes (12288 on disk), over") for n in found.notes)
    sparse_only = hash_outputs(outputs.parent, OutputCaps(file_bytes=1 << 41, total_bytes=1 << 42))
    assert any(n.startswith("outputs/sparse: sparse") for n in sparse_only.notes)


def test_caps_on_entries_total_and_depth(outputs: Path) -> None:
    for i in range(30):
        (outputs / f"f{i:02}").write_bytes(b"z" * PAGE)
    found = hash_outputs(outputs.parent, OutputCaps(entries=10))
    assert len(found.artifacts) == 10
    assert "stopped after 10 entries" in found.notes[-1]
    found = hash_outputs(outputs.parent, OutputCaps(total_bytes=int(4.5 * PAGE)))
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


def test_small_files_count_for_their_blocks_on_disk(outputs: Path) -> None:
    (outputs / "tiny").write_bytes(b"t")
    found = hash_outputs(outputs.parent, OutputCaps())
    assert [(a.path, a.size) for a in found.artifacts] == [("tiny", 1)]  # its size as recorded
    assert found.total == (outputs / "tiny").stat().st_blocks * 512 >= PAGE  # its cost: the blocks


def test_a_hard_linked_file_is_hashed_and_counted_once(outputs: Path) -> None:
    (outputs / "a").write_bytes(b"w" * 4 * PAGE)
    for i in range(200):  # 200 names, one file: 800 KiB to hash if counted per name
        os.link(outputs / "a", outputs / f"link{i:03}")
    (outputs / "z").write_bytes(b"other")
    found = hash_outputs(outputs.parent, OutputCaps(total_bytes=6 * PAGE))
    assert [a.path for a in found.artifacts] == ["a", "z"]
    assert found.total == 4 * PAGE + (outputs / "z").stat().st_blocks * 512
    assert len(found.notes) == 200
    assert found.notes[0] == "outputs/link000: a hard link to outputs/a: counted once, under that name"


def test_unprintable_names_are_skipped_with_an_escaped_note(outputs: Path) -> None:
    raw = os.fsencode(outputs)
    for name in (b"bad-\xff\xfe-name", b"esc-\x1b[31mred", b"nl-\nforged", "\u202egpj.exe".encode()):
        with open(raw + b"/" + name, "wb") as f:
            f.write(b"x")
    os.mkdir(raw + b"/dir-\xff")
    with open(raw + b"/dir-\xff/inside", "wb") as f:
        f.write(b"x")
    (outputs / "good.txt").write_text("kept")
    (outputs / "caf\u00e9 \u65e5\u672c.txt").write_text("kept too")  # printable UTF-8 is fine
    found = hash_outputs(outputs.parent, OutputCaps())
    assert sorted(a.path for a in found.artifacts) == ["caf\u00e9 \u65e5\u672c.txt", "good.txt"]
    assert sorted(found.notes) == [
        "outputs/\\u202egpj.exe: not a printable UTF-8 name",
        "outputs/bad-\\xff\\xfe-name: not a printable UTF-8 name",
        "outputs/dir-\\xff: not a printable UTF-8 name",
        "outputs/esc-\\x1b[31mred: not a printable UTF-8 name",
        "outputs/nl-\\x0aforged: not a printable UTF-8 name",
    ]
    assert all(n.isprintable() and n.encode() for n in found.notes)
    assert escaped("a\\b") == "a\\\\b"  # a backslash in a name cannot forge an escape


def test_the_time_budget_stops_hashing_with_nothing_partial(outputs: Path) -> None:
    for name in ("a", "b", "c", "d"):
        (outputs / name).write_bytes(name.encode() * (3 << 20))  # 3 MiB: three chunks each
    ticks = iter(range(1000))
    found = hash_outputs(outputs.parent, OutputCaps(seconds=5), clock=lambda: next(ticks))
    # the budget ends at tick 5: a takes ticks 1-3, b is cut short at its third chunk
    assert [a.path for a in found.artifacts] == ["a"]
    assert found.notes == [
        "outputs/b: hashing stopped at the 5-second budget: not recorded, nor anything after it"
    ]
    real = hash_outputs(outputs.parent, OutputCaps(seconds=0.0))
    assert (real.artifacts, len(real.notes)) == ([], 1)
