"""A log's entries read back from its tiles alone (c2sp.org/tlog-tiles entry bundles).

The bytes come from anything that serves the log's paths (``Tiles``: HTTP, or a directory of tiles
on disk); each entry is parsed as JSON (an entry that is not JSON reads as ``{"type": null}``). Read
them after ``transparency.monitor.audit`` has checked that they hash to the signed checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pnyx.transparency import tiles


class Tiles(Protocol):
    def get(self, path: str) -> bytes:
        """The bytes at ``path`` relative to the log's prefix (``checkpoint``, ``tile/entries/000``...)."""
        ...


class DirectoryTiles:
    """A log's tiles as files under a directory (a mirror of ``<prefix>/``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, path: str) -> bytes:
        target = self.root / path
        if not target.exists() and ".p/" in path:  # tlog-tiles: the full tile serves a partial one
            target = self.root / path.split(".p/", maxsplit=1)[0]
        return target.read_bytes()


def log_entries(source: Tiles, size: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, parsed entry) for the first ``size`` entries, in log order."""
    for ref in tiles.tiles_for_size(None, size):
        start, _end = tiles.tile_entry_range(ref)
        for offset, raw in enumerate(split_bundle(source.get(f"tile/{ref.path}"))[: ref.count]):
            yield start + offset, _parsed(raw)


def split_bundle(data: bytes) -> list[bytes]:
    """Entries of an entry bundle: big-endian uint16 length, then the entry."""
    entries, offset = [], 0
    while offset + 2 <= len(data):
        length = int.from_bytes(data[offset : offset + 2], "big")
        entries.append(data[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return entries


def _parsed(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"type": None}
    return value if isinstance(value, dict) else {"type": None}
