"""A log's entries read back from its tiles alone (c2sp.org/tlog-tiles entry bundles).

The bytes come from anything that serves the log's paths (``Tiles``: HTTP, or a directory of tiles
on disk); each entry is parsed as JSON. An entry that is not a JSON object (or holds NaN, an infinity,
or nesting too deep for the parser) reads as ``{"type": null, "unreadable": why}``: the replay makes
it a finding. Read them after ``transparency.monitor.audit`` has checked that they hash to the signed
checkpoint.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pnyx.core.errors import IntegrityFailure
from pnyx.transparency import merkle, tiles
from pnyx.transparency.checkpoint import HASH_SIZE


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


def log_entries(source: Tiles, leaf_hashes: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, parsed entry) for each entry whose RFC 6962 leaf hash the audit verified
    (``AuditReport.leaf_hashes``, 32 bytes each), in log order. The bundles are fetched again, so
    each entry is checked against its verified hash: a server that answers the replay otherwise
    than the audit is refused (``IntegrityFailure``, naming the index) before the entry is read."""
    size = len(leaf_hashes) // HASH_SIZE
    for ref in tiles.tiles_for_size(None, size):
        start, _end = tiles.tile_entry_range(ref)
        bundle = split_bundle(source.get(f"tile/{ref.path}"))
        for index in range(start, start + ref.count):
            raw = bundle[index - start] if index - start < len(bundle) else None
            yield index, _parsed(_verified(raw, index, leaf_hashes))


def _verified(raw: bytes | None, index: int, leaf_hashes: bytes) -> bytes:
    """``raw``, the entry at ``index``, if it is the one the audit verified."""
    if raw is None or merkle.leaf_hash(raw) != leaf_hashes[index * HASH_SIZE : (index + 1) * HASH_SIZE]:
        what = "is missing" if raw is None else "differs"
        raise IntegrityFailure(
            f"entry {index} {what} when fetched again for the replay: not the entry the audit verified "
            "against the signed checkpoint (the server answers differently); nothing after it replayed",
            code="log_changed_after_audit",
        )
    return raw


def split_bundle(data: bytes) -> list[bytes]:
    """Entries of an entry bundle: big-endian uint16 length, then the entry."""
    entries, offset = [], 0
    while offset + 2 <= len(data):
        length = int.from_bytes(data[offset : offset + 2], "big")
        entries.append(data[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return entries


UNREADABLE = "unreadable"  # the key of why an entry could not be read


def _parsed(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw, parse_constant=_refused, parse_float=_finite)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        return {"type": None, UNREADABLE: f"not JSON ({type(exc).__name__})"}
    if not isinstance(value, dict):
        return {"type": None, UNREADABLE: f"JSON, but a {type(value).__name__}, not an object"}
    return value


def _refused(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows a float")
    return value
