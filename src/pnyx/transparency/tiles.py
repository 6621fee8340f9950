"""C2SP tiled transparency log path math (c2sp.org/tlog-tiles). Pure.

Paths here are relative to ``<prefix>/tile/``:

- ``<L>/<N>[.p/<W>]``: the Merkle tree tile at level L (hashes at tree level 8L);
- ``entries/<N>[.p/<W>]``: the entry bundle matching level-0 tile N.

``<N>`` is written in zero-padded 3-digit elements, all but the last prefixed with ``x``
(1234067 is ``x001/x234/067``); ``.p/<W>`` marks a partial tile of width 1 to 255.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pnyx.core.errors import InvalidInput

TILE_WIDTH = 256
TILE_HEIGHT = 8  # a tile spans 8 tree levels: 2**8 = TILE_WIDTH
MAX_LEVEL = 63
MAX_TREE_SIZE = 2**64 - 1
MAX_INDEX = MAX_TREE_SIZE // TILE_WIDTH  # no uint64 tree has a tile beyond this
ENTRIES = "entries"

_LEVEL = re.compile(r"0|[1-9][0-9]?")
_WIDTH = re.compile(r"[1-9][0-9]{0,2}")
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")
_MAX_GROUPS = len(str(MAX_INDEX)) // 3 + 1


class BadTilePath(InvalidInput):
    """The path is not the canonical path of a tile or entry bundle."""

    code = "tile_bad_path"


@dataclass(frozen=True, slots=True, kw_only=True)
class TileRef:
    """A tile (``level`` 0..63) or an entry bundle (``level`` None); ``width`` None is a full tile."""

    level: int | None
    index: int
    width: int | None = None

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise BadTilePath(f"tile level {self.level} is not in 0..{MAX_LEVEL}", field="level")
        if not 0 <= self.index <= MAX_INDEX:
            raise BadTilePath(f"tile index {self.index} is out of range", field="index")
        if self.width is not None and not 0 < self.width < TILE_WIDTH:
            raise BadTilePath(f"partial tile width {self.width} is not in 1..{TILE_WIDTH - 1}", field="width")

    @property
    def is_entries(self) -> bool:
        return self.level is None

    @property
    def is_partial(self) -> bool:
        return self.width is not None

    @property
    def count(self) -> int:
        """How many hashes (or entries) the tile holds."""
        return TILE_WIDTH if self.width is None else self.width

    @property
    def path(self) -> str:
        return tile_path(self)


def format_index(n: int) -> str:
    """``<N>`` for index ``n``: 5 is ``005``, 1234067 is ``x001/x234/067`` (tlog-tiles, "Merkle Tree")."""
    if n < 0:
        raise BadTilePath(f"tile index {n} is negative", field="index")
    groups = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        groups.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(groups))


def tile_path(ref: TileRef) -> str:
    """The path of ``ref`` below ``<prefix>/tile/``, the inverse of ``parse_tile_path``."""
    head = ENTRIES if ref.level is None else str(ref.level)
    tail = "" if ref.width is None else f".p/{ref.width}"
    return f"{head}/{format_index(ref.index)}{tail}"


def _parse_level(element: str) -> int | None:
    if element == ENTRIES:
        return None
    if not (element.isascii() and _LEVEL.fullmatch(element)) or int(element) > MAX_LEVEL:
        raise BadTilePath(f"bad tile level {element!r}", field="path")
    return int(element)


def _parse_index(elements: list[str]) -> int:
    if not 0 < len(elements) <= _MAX_GROUPS:
        raise BadTilePath("bad tile index", field="path")
    *groups, last = elements
    if not all(g.isascii() and _GROUP.fullmatch(g) for g in groups) or not (
        last.isascii() and _LAST.fullmatch(last)
    ):
        raise BadTilePath("tile index elements must be xNNN/.../NNN", field="path")
    if groups and groups[0] == "x000":
        raise BadTilePath("tile index has extra leading zero elements", field="path")
    return int("".join(g[1:] for g in groups) + last)


def _parse_width(element: str) -> int:
    if not (element.isascii() and _WIDTH.fullmatch(element)) or int(element) >= TILE_WIDTH:
        raise BadTilePath(f"bad partial tile width {element!r}", field="path")
    return int(element)


def parse_tile_path(path: str) -> TileRef:
    """Parse ``<L>/<N>[.p/<W>]`` or ``entries/<N>[.p/<W>]``; reject every non-canonical form."""
    elements = path.split("/")
    if len(elements) < 2:
        raise BadTilePath("a tile path is <level>/<index>", field="path")
    level = _parse_level(elements[0])
    rest = elements[1:]
    width: int | None = None
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        width = _parse_width(rest[-1])
        rest = [*rest[:-2], rest[-2][: -len(".p")]]
    index = _parse_index(rest)
    if index > MAX_INDEX:
        raise BadTilePath(f"tile index {index} is out of range", field="path")
    return TileRef(level=level, index=index, width=width)


def level_size(level: int | None, size: int) -> int:
    """How many hashes tile level ``level`` has for a tree of ``size``: floor(size / 256**level)."""
    if not 0 <= size <= MAX_TREE_SIZE:
        raise InvalidInput(f"tree size {size} is not in [0, 2**64)", field="size", code="tile_bad_size")
    if level is not None and not 0 <= level <= MAX_LEVEL:
        raise BadTilePath(f"tile level {level} is not in 0..{MAX_LEVEL}", field="level")
    return size >> (TILE_HEIGHT * (level or 0))


def tile_counts(level: int | None, size: int) -> tuple[int, int]:
    """(full tiles, width of the partial tile or 0) at ``level`` for a tree of ``size``.

    The partial tile at level l has floor(size / 256**l) mod 256 hashes (tlog-tiles, "Partial Tiles").
    """
    full, partial = divmod(level_size(level, size), TILE_WIDTH)
    return full, partial


def tiles_for_size(level: int | None, size: int) -> Iterator[TileRef]:
    """Every tile at ``level`` for a tree of ``size``: the full ones, then the partial one if any."""
    full, partial = tile_counts(level, size)
    for index in range(full):
        yield TileRef(level=level, index=index)
    if partial:
        yield TileRef(level=level, index=full, width=partial)


def tile_levels(size: int) -> range:
    """The tile levels that hold at least one hash for a tree of ``size``."""
    top = 0
    while level_size(top, size) >= TILE_WIDTH:
        top += 1
    return range(top + 1 if size else 0)


def tile_for_size(level: int | None, index: int, size: int) -> TileRef:
    """Tile ``index`` at ``level`` as a tree of ``size`` has it: full, or the partial one."""
    full, partial = tile_counts(level, size)
    if 0 <= index < full:
        return TileRef(level=level, index=index)
    if index == full and partial:
        return TileRef(level=level, index=index, width=partial)
    raise BadTilePath(f"a tree of size {size} has no tile {index} at level {level}", field="index")


def tile_node_keys(ref: TileRef) -> list[tuple[int, int]]:
    """The complete Merkle nodes ``(level, index)`` whose hashes make up a hash tile, in order.

    Tile n at level l holds MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l]), i.e. tree
    level 8l, indices n*256 + i (tlog-tiles, "Merkle Tree").
    """
    if ref.level is None:
        raise BadTilePath("an entry bundle holds entries, not tree nodes", field="level")
    start = ref.index * TILE_WIDTH
    return [(TILE_HEIGHT * ref.level, start + i) for i in range(ref.count)]


def tile_entry_range(ref: TileRef) -> tuple[int, int]:
    """The leaf indices ``[start, end)`` a tile or entry bundle spans (at its actual width)."""
    span = TILE_WIDTH ** (ref.level or 0)
    start = ref.index * TILE_WIDTH * span
    return start, start + ref.count * span
