"""C2SP tlog-tiles path math."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import InvalidInput
from pnyx.transparency.merkle import append_nodes, leaf_hash, subtree_keys
from pnyx.transparency.tiles import (
    MAX_INDEX,
    TILE_WIDTH,
    BadTilePath,
    TileRef,
    format_index,
    parse_tile_path,
    tile_counts,
    tile_entry_range,
    tile_for_size,
    tile_levels,
    tile_node_keys,
    tile_path,
    tiles_for_size,
)


def _vectors_dir() -> Path:
    env = os.environ.get("PNYX_VECTORS_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[3]
    for candidate in (root / ".." / "shared" / "vectors", root / "shared" / "vectors"):
        if candidate.is_dir():
            return candidate
    return root / ".." / "shared" / "vectors"


VECTORS = _vectors_dir() / "signed-note" / "vectors.json"


def _path_cases() -> list[Any]:
    if not VECTORS.is_file():
        reason = f"no vectors at {VECTORS} (set PNYX_VECTORS_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [pytest.param(c, id=c["desc"]) for c in json.loads(VECTORS.read_text())["tile_paths"]]


@pytest.mark.parametrize("case", _path_cases())
def test_vector_tile_paths(case: dict[str, Any]) -> None:
    assert format_index(case["index"]) == case["path_suffix"]
    ref = TileRef(level=case["level"], index=case["index"])
    assert tile_path(ref) == f"{case['level']}/{case['path_suffix']}"
    assert parse_tile_path(tile_path(ref)) == ref


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "000"),
        (5, "005"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_format_index(n: int, text: str) -> None:
    assert format_index(n) == text


@pytest.mark.parametrize(
    ("path", "ref"),
    [
        ("0/x001/x234/067", TileRef(level=0, index=1234067)),
        ("2/005.p/17", TileRef(level=2, index=5, width=17)),
        ("entries/x001/005", TileRef(level=None, index=1005)),
        ("entries/000.p/3", TileRef(level=None, index=0, width=3)),
        ("63/000.p/255", TileRef(level=63, index=0, width=255)),
        ("10/x001/000.p/1", TileRef(level=10, index=1000, width=1)),
    ],
)
def test_parse_tile_path(path: str, ref: TileRef) -> None:
    assert parse_tile_path(path) == ref
    assert tile_path(ref) == ref.path == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "0",
        "0/",
        "/0/000",
        "0/000/",
        "0//000",
        "00/000",
        "01/000",
        "64/000",
        "-1/000",
        "+1/000",
        "a/000",
        "entry/000",
        "ENTRIES/000",
        "0/5",
        "0/05",
        "0/0005",
        "0/x000/005",
        "0/x1/000",
        "0/x0001/000",
        "0/001/000",
        "0/x001",
        "0/x001/x002",
        "0/y001/000",
        "0/000.p",
        "0/000.p/",
        "0/000.p/0",
        "0/000.p/256",
        "0/000.p/007",
        "0/000.p/1/2",
        "0/000.p.p/1",
        "0/x001.p/000/1",
        "0/000.P/1",
        "0/000.q/1",
        "0/\u0660\u0660\u0660",
        "0/000.p/\u0661",
        "\u0661/000",
        "0/x072/x057/x594/x037/x927/936",
        "0/x999/x999/x999/x999/x999/999",
        "0/x001/x001/x001/x001/x001/x001/x001/000",
    ],
)
def test_non_canonical_paths_are_rejected(path: str) -> None:
    with pytest.raises(BadTilePath):
        parse_tile_path(path)


@given(
    level=st.one_of(st.none(), st.integers(min_value=0, max_value=63)),
    index=st.integers(min_value=0, max_value=MAX_INDEX),
    width=st.one_of(st.none(), st.integers(min_value=1, max_value=255)),
)
def test_path_round_trip(level: int | None, index: int, width: int | None) -> None:
    ref = TileRef(level=level, index=index, width=width)
    assert parse_tile_path(tile_path(ref)) == ref


def test_tile_ref_validation() -> None:
    for kwargs in [
        {"level": -1, "index": 0},
        {"level": 64, "index": 0},
        {"level": 0, "index": -1},
        {"level": 0, "index": MAX_INDEX + 1},
        {"level": 0, "index": 0, "width": 0},
        {"level": 0, "index": 0, "width": 256},
    ]:
        with pytest.raises(BadTilePath):
            TileRef(**kwargs)
    assert issubclass(BadTilePath, InvalidInput)
    assert TileRef(level=1, index=0).count == TILE_WIDTH
    assert TileRef(level=1, index=0, width=3).count == 3
    assert TileRef(level=None, index=0).is_entries
    assert not TileRef(level=0, index=0).is_entries
    with pytest.raises(BadTilePath):
        format_index(-1)


def test_spec_example_70000() -> None:
    assert tile_counts(0, 70_000) == (273, 112)
    assert tile_counts(None, 70_000) == (273, 112)
    assert tile_counts(1, 70_000) == (1, 17)
    assert tile_counts(2, 70_000) == (0, 1)
    assert tile_counts(3, 70_000) == (0, 0)
    assert tile_levels(70_000) == range(3)
    assert list(tiles_for_size(1, 70_000)) == [TileRef(level=1, index=0), TileRef(level=1, index=1, width=17)]
    assert list(tiles_for_size(2, 70_000)) == [TileRef(level=2, index=0, width=1)]
    assert len(list(tiles_for_size(0, 70_000))) == 274


def test_spec_example_256() -> None:
    assert list(tiles_for_size(0, 256)) == [TileRef(level=0, index=0)]
    assert list(tiles_for_size(1, 256)) == [TileRef(level=1, index=0, width=1)]
    assert tile_levels(256) == range(2)
    assert tile_levels(255) == range(1)
    assert tile_levels(0) == range(0)
    assert list(tiles_for_size(0, 0)) == []


def test_tile_for_size() -> None:
    assert tile_for_size(0, 3, 70_000) == TileRef(level=0, index=3)
    assert tile_for_size(0, 273, 70_000) == TileRef(level=0, index=273, width=112)
    assert tile_for_size(None, 273, 70_000) == TileRef(level=None, index=273, width=112)
    for level, index in [(0, 274), (0, -1), (3, 0), (1, 2)]:
        with pytest.raises(BadTilePath):
            tile_for_size(level, index, 70_000)
    with pytest.raises(BadTilePath):
        tile_for_size(0, 1, 256)
    with pytest.raises(InvalidInput):
        tile_counts(0, -1)
    with pytest.raises(BadTilePath):
        tile_counts(64, 1)


def test_tile_nodes_are_complete_merkle_nodes() -> None:
    size = 70_000
    table = {(lv, i): h for lv, i, h in append_nodes([], 0, [leaf_hash(b"%d" % i) for i in range(size)])}
    for level in tile_levels(size):
        for ref in tiles_for_size(level, size):
            keys = tile_node_keys(ref)
            assert len(keys) == ref.count
            assert all(k in table for k in keys)
            start, end = tile_entry_range(ref)
            # The tile's hashes together span D[start:end].
            span = TILE_WIDTH**level
            assert [subtree_keys(start + i * span, start + (i + 1) * span) for i in range(ref.count)] == [
                (k,) for k in keys
            ]
            assert end <= size
    assert tile_entry_range(TileRef(level=None, index=2, width=5)) == (512, 517)
    with pytest.raises(BadTilePath):
        tile_node_keys(TileRef(level=None, index=0))
