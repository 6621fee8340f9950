"""What a monitor accepts from a log server it does not trust. Pure.

The byte caps follow from the formats: a hash tile holds at most 256 hashes of 32 bytes
(c2sp.org/tlog-tiles); an entry bundle at most 256 entries, each a big-endian uint16 length and at
most 65,535 bytes; a checkpoint is a signed note of a few lines (c2sp.org/tlog-checkpoint) with at
most ``note.MAX_SIGNATURES`` signature lines, which 16 KiB holds with room to spare. The largest
tree audited by default is bounded by memory: the monitor keeps every leaf hash, about 75 bytes
each in CPython, so ``DEFAULT_MAX_SIZE`` (10^8 entries) needs about 7.5 GB; a larger log needs a
larger ``max_size``, given on purpose.
"""

from __future__ import annotations

from pnyx.transparency import tiles
from pnyx.transparency.checkpoint import HASH_SIZE

MAX_ENTRY_BYTES = 2**16 - 1  # the uint16 length prefix of an entry in a bundle
HASH_TILE_BYTES = tiles.TILE_WIDTH * HASH_SIZE  # 8 KiB
ENTRY_BUNDLE_BYTES = tiles.TILE_WIDTH * (2 + MAX_ENTRY_BYTES)  # 16 MiB + 512 bytes
CHECKPOINT_BYTES = 16 * 1024
KEY_BYTES = 4 * 1024  # a verifier key: name+hash+base64 key, one line
DEFAULT_MAX_SIZE = 10**8  # entries
DEFAULT_TIMEOUT_S = 60.0  # one request in all: connecting, the headers and the whole body

_CAPS = {"checkpoint": CHECKPOINT_BYTES, "key": KEY_BYTES}


def max_bytes(path: str) -> int:
    """The most bytes accepted at ``path`` (relative to the log's prefix); unknown paths get the
    smallest cap there is, so that a path added later cannot be read unbounded."""
    if path.startswith(f"tile/{tiles.ENTRIES}/"):
        return ENTRY_BUNDLE_BYTES
    if path.startswith("tile/"):
        return HASH_TILE_BYTES
    return _CAPS.get(path, KEY_BYTES)


def kind(path: str) -> str:
    """What ``path`` is, in words, for error messages."""
    if path.startswith(f"tile/{tiles.ENTRIES}/"):
        return "an entry bundle"
    if path.startswith("tile/"):
        return "a hash tile"
    return {"checkpoint": "a checkpoint", "key": "a verifier key"}.get(path, path)
