"""An independent monitor of a Pnyx (or any C2SP tlog-tiles) log.

It trusts nothing the server computes: it fetches the signed checkpoint, every entry bundle
and every hash tile, recomputes the leaf hashes, every tile hash and the root itself, checks
the signature, and checks that the log still extends the last checkpoint it saw. Problems are
reported with the first leaf index they concern.

The fetching is behind ``TileSource`` so that the same audit runs over HTTP (``pnyx log
verify URL``) or over anything else that serves the same paths.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from pnyx.transparency import limits, merkle, tiles
from pnyx.transparency.checkpoint import Checkpoint, parse_checkpoint
from pnyx.transparency.cosignature import CosignatureVerifier, verify_cosignatures
from pnyx.transparency.note import MalformedNote, NoteVerifier, open_note


class TileSource(Protocol):
    def get(self, path: str) -> bytes:
        """The bytes at ``path`` relative to the log's prefix: ``checkpoint``, ``tile/0/000``..."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorState:
    """What the monitor remembers between runs: the key it pinned and the last good checkpoint."""

    vkey: str
    size: int
    root_hex: str

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> MonitorState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(vkey=data["vkey"], size=int(data["size"]), root_hex=data["root_hex"])


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class Problem:
    index: int | None  # the first leaf index concerned, where one can be named
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditReport:
    checkpoint: Checkpoint | None
    problems: tuple[Problem, ...] = field(default_factory=tuple)
    cosigned_by: tuple[str, ...] = ()  # the known witnesses whose cosignatures verify
    # The RFC 6962 leaf hash of every entry the audit read, 32 bytes each in log order (32 bytes an
    # entry, not the entries): a later reader checks what it fetches again against them.
    leaf_hashes: bytes = field(default=b"", repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        indexed = [p.index for p in self.problems if p.index is not None]
        return min(indexed) if indexed else None


Progress = Callable[[int, int], None]  # (tiles done, tiles in all)


def audit(
    source: TileSource,
    verifier: NoteVerifier,
    previous: MonitorState | None = None,
    progress: Progress | None = None,
    *,
    witnesses: Sequence[CosignatureVerifier] = (),
    min_witnesses: int = 0,
    max_size: int = limits.DEFAULT_MAX_SIZE,
) -> AuditReport:
    """Audit the log behind ``source``; with ``witnesses``, its checkpoint must carry valid
    cosignatures (c2sp.org/tlog-cosignature) by at least ``min_witnesses`` of them. A checkpoint of
    more than ``max_size`` entries is refused before any tile is fetched (see ``limits``)."""
    note = _checkpoint_text(source.get("checkpoint"))
    body, _names = open_note(note, [verifier])  # raises on a bad or missing signature
    checkpoint = parse_checkpoint(body)
    cosigned = verify_cosignatures(note, witnesses)
    problems = [Problem(index=None, message=m) for m in cosigned.problems(min_witnesses)]
    if checkpoint.origin != verifier.name:
        problems.append(
            Problem(
                index=None,
                message=f"checkpoint origin {checkpoint.origin!r} is not the key's name {verifier.name!r}",
            )
        )
    size = checkpoint.size
    if size > max_size:
        problems.append(_too_large(size, max_size))
        return AuditReport(checkpoint=checkpoint, problems=tuple(sorted(problems, key=_order)))
    total = sum(_tile_count(level, size) for level in [None, *tiles.tile_levels(size)])
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    leaves = _leaf_hashes(source, size, problems, tick)
    _check_hash_tiles(source, size, leaves, problems, tick)
    if merkle.root_from_leaf_hashes(leaves) != checkpoint.root:
        problems.append(Problem(index=None, message="the entries do not hash to the signed root"))
    if previous is not None:
        _check_extends(previous, checkpoint, leaves, problems)
    return AuditReport(
        checkpoint=checkpoint,
        problems=tuple(sorted(problems, key=_order)),
        cosigned_by=tuple(cosigned.cosigned),
        leaf_hashes=b"".join(leaves),
    )


def _checkpoint_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedNote("the checkpoint is not UTF-8 text", field="checkpoint") from exc


def _too_large(size: int, max_size: int) -> Problem:
    return Problem(
        index=None,
        message=f"the checkpoint claims {size:,} entries, more than the {max_size:,} this audit accepts "
        "(max size); refused before fetching any tile",
    )


def _tile_count(level: int | None, size: int) -> int:
    full, partial = tiles.tile_counts(level, size)
    return full + (partial > 0)


def _order(p: Problem) -> tuple[int, str]:
    return (-1 if p.index is None else p.index, p.message)


def _leaf_hashes(
    source: TileSource, size: int, problems: list[Problem], tick: Callable[[], None]
) -> list[bytes]:
    leaves: list[bytes] = []
    for ref in tiles.tiles_for_size(None, size):
        start, _end = tiles.tile_entry_range(ref)
        entries = _split_bundle(source.get(f"tile/{ref.path}"))
        if len(entries) != ref.count:
            problems.append(
                Problem(
                    index=start + min(len(entries), ref.count),
                    message=f"entry bundle {ref.path} holds {len(entries)} entries, not {ref.count}",
                )
            )
        leaves.extend(merkle.leaf_hash(e) for e in entries[: ref.count])
        leaves.extend(b"\0" * 32 for _ in range(ref.count - len(entries)))
        tick()
    return leaves


def _split_bundle(data: bytes) -> list[bytes]:
    """Entries of a tlog-tiles entry bundle: big-endian uint16 length, then the entry."""
    entries, offset = [], 0
    while offset + 2 <= len(data):
        length = int.from_bytes(data[offset : offset + 2], "big")
        entries.append(data[offset + 2 : offset + 2 + length])
        offset += 2 + length
    return entries


def _check_hash_tiles(
    source: TileSource, size: int, leaves: list[bytes], problems: list[Problem], tick: Callable[[], None]
) -> None:
    """Compare every served hash tile with the hashes recomputed from the entries themselves."""
    level_nodes: Sequence[bytes] = leaves
    for level in tiles.tile_levels(size):
        if level > 0:
            level_nodes = [
                _perfect_root(level_nodes[i : i + 256]) for i in range(0, len(level_nodes) - 255, 256)
            ]
        span = tiles.TILE_WIDTH**level
        for ref in tiles.tiles_for_size(level, size):
            data = source.get(f"tile/{ref.path}")
            served = [data[i : i + 32] for i in range(0, len(data), 32)]
            first = ref.index * tiles.TILE_WIDTH
            expected = level_nodes[first : first + ref.count]
            for offset, (want, got) in enumerate(zip(expected, served, strict=False)):
                covered = range((first + offset) * span, (first + offset + 1) * span)
                if want != got and not any(p.index in covered for p in problems):
                    # Reported only where no finer level already named a leaf inside it.
                    problems.append(
                        Problem(
                            index=(first + offset) * span,
                            message=f"tile {ref.path}: hash {offset} does not match the entries "
                            f"it covers (leaves from {(first + offset) * span})",
                        )
                    )
                    break
            if len(served) != ref.count:
                problems.append(
                    Problem(
                        index=(first + len(served)) * span,
                        message=f"tile {ref.path} holds {len(served)} hashes, not {ref.count}",
                    )
                )
            tick()


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree of 256 nodes, by pairwise hashing."""
    level = list(hashes)
    while len(level) > 1:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _check_extends(
    previous: MonitorState, checkpoint: Checkpoint, leaves: list[bytes], problems: list[Problem]
) -> None:
    if checkpoint.size < previous.size:
        problems.append(
            Problem(
                index=checkpoint.size,
                message=f"the log shrank from {previous.size} to {checkpoint.size} entries",
            )
        )
        return
    if merkle.root_from_leaf_hashes(leaves[: previous.size]).hex() != previous.root_hex:
        problems.append(
            Problem(
                index=None,
                message=f"the first {previous.size} entries no longer hash to the checkpoint "
                "seen last time: history was rewritten",
            )
        )
