"""Log use cases: drain the outbox into the log, sign checkpoints, serve tiles, entries and proofs.

Appending is one transaction: take the log lock, read pending outbox rows in commit order,
write entries and new tree nodes, delete the consumed outbox rows, check the new tree is
consistent with the last signed checkpoint, sign the new checkpoint, commit. A crash at any
point leaves either all of it or none of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pnyx.core.errors import IntegrityFailure, InvalidInput, NotFound, Unavailable
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.transparency import merkle, tiles
from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.cosignature import add_cosignatures, split_signatures
from pnyx.transparency.model import AppendResult, LogEntry, SignedCheckpoint
from pnyx.transparency.note import NoteSigner
from pnyx.transparency.store import LogRepository

DEFAULT_BATCH = 5000
# Witnesses answer within moments; a checkpoint short of the quorum for longer than this is
# served all the same (a witness outage must not stop the log), and verifiers see what is missing.
WITNESS_GRACE = timedelta(seconds=60)
WITNESS_LOOKBACK = 1000  # checkpoints searched for the newest one carrying the quorum


@dataclass(frozen=True, slots=True, kw_only=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    hashes: list[bytes]
    root: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsistencyProof:
    first: int
    second: int
    hashes: list[bytes]
    first_root: bytes
    second_root: bytes


class LogService:
    def __init__(self, uow: UnitOfWork, signer: NoteSigner | None, *, witness_quorum: int = 0) -> None:
        self.uow = uow
        self.signer = signer
        self.witness_quorum = witness_quorum  # cosignatures a checkpoint needs before it is served

    @property
    def origin(self) -> str:
        return self._signer().name

    def verifier_key(self) -> str:
        """The C2SP verifier key that checks this log's checkpoints, as published at /log/key."""
        return self._signer().vkey

    def _signer(self) -> NoteSigner:
        if self.signer is None:
            raise Unavailable("the log has no signing key: run `pnyx log keygen`", code="log_key_missing")
        return self.signer

    # --- writing ---------------------------------------------------------------------------------

    def append_pending(self, batch: int = DEFAULT_BATCH) -> AppendResult:
        """Move up to ``batch`` outbox events into the log and sign a checkpoint, in one transaction."""
        signer = self._signer()
        with self.uow.write() as tx:
            repo = LogRepository(tx.conn)
            size = repo.lock_size()
            pending = repo.pending_events(batch)
            if not pending:
                return AppendResult(appended=0, size=size, checkpoint=None)
            entries = [
                LogEntry(index=size + i, event_type=event_type, data=data, appended_at=tx.now)
                for i, (_id, event_type, data) in enumerate(pending)
            ]
            new_nodes = merkle.append_from_reader(repo, size, [merkle.leaf_hash(e.data) for e in entries])
            repo.add_entries(entries)
            repo.add_nodes(new_nodes)
            repo.consume_events([row[0] for row in pending])
            new_size = size + len(entries)
            repo.set_size(new_size)
            checkpoint = self._sign_consistent(repo, new_size, signer, tx.now)
            repo.add_checkpoint(checkpoint)
        return AppendResult(appended=len(entries), size=new_size, checkpoint=checkpoint)

    def drain(self, batch: int = DEFAULT_BATCH) -> int:
        """Append until the outbox is empty; return how many entries were appended."""
        total = 0
        while (appended := self.append_pending(batch).appended) > 0:
            total += appended
        return total

    def _sign_consistent(
        self, repo: LogRepository, size: int, signer: NoteSigner, now: datetime
    ) -> SignedCheckpoint:
        """Never sign a checkpoint inconsistent with the last one: recheck the old root first."""
        previous = repo.latest_checkpoint()
        if previous is not None:
            recomputed = merkle.root(repo, previous.size)
            if recomputed != previous.root:
                raise IntegrityFailure(
                    f"the stored tree no longer matches signed checkpoint {previous.size}: refusing to sign",
                    code="log_inconsistent",
                )
        root = merkle.root(repo, size)
        body = Checkpoint(origin=signer.name, size=size, root=root).body()
        return SignedCheckpoint(size=size, root=root, note=signer.sign(body), signed_at=now)

    def add_cosignatures(self, size: int, lines: Sequence[str]) -> SignedCheckpoint:
        """Append witnesses' cosignature lines (already verified) to the checkpoint of ``size``."""
        with self.uow.write() as tx:
            repo = LogRepository(tx.conn)
            signed = repo.checkpoint_at(size)
            if signed is None:
                raise NotFound(f"no checkpoint of size {size}", field="size", code="checkpoint_not_found")
            note = add_cosignatures(signed.note, lines)
            repo.set_note(size, note)
        return SignedCheckpoint(size=size, root=signed.root, note=note, signed_at=signed.signed_at)

    # --- reading ---------------------------------------------------------------------------------

    def latest(self) -> SignedCheckpoint:
        """The newest signed checkpoint, cosigned or not."""
        with self.uow.read() as conn:
            latest = LogRepository(conn).latest_checkpoint()
        if latest is None:
            raise NotFound("the log is empty: no checkpoint has been signed yet", code="log_empty")
        return latest

    def checkpoint(self) -> SignedCheckpoint:
        """The checkpoint served: the newest carrying ``witness_quorum`` cosignatures, unless it lags
        the newest signed one by more than ``WITNESS_GRACE`` (then the newest, as it stands)."""
        latest = self.latest()
        if self.witness_quorum == 0:
            return latest
        with self.uow.read() as conn:
            recent = LogRepository(conn).checkpoints_since(latest.signed_at - WITNESS_GRACE, WITNESS_LOOKBACK)
        return next((c for c in recent if _cosignatures(c.note) >= self.witness_quorum), latest)

    def size(self) -> int:
        with self.uow.read() as conn:
            latest = LogRepository(conn).latest_checkpoint()
        return 0 if latest is None else latest.size

    def entry(self, index: int) -> LogEntry:
        with self.uow.read() as conn:
            found = LogRepository(conn).entries(index, 1)
        if index < 0 or not found:
            raise NotFound(f"no log entry {index}", field="index", code="entry_not_found")
        return found[0]

    def find(self, event_type: str, data: bytes) -> int | None:
        """Where an event's exact entry bytes were logged (a domain keeps the bytes of the entry it
        emitted to find it again); None while the appender has not reached it."""
        with self.uow.read() as conn:
            return LogRepository(conn).find_entry(event_type, data)

    def entries(self, start: int, count: int) -> list[LogEntry]:
        if start < 0 or not 0 < count <= 1000:
            raise InvalidInput("start must be >= 0 and count 1..1000", field="count")
        with self.uow.read() as conn:
            return LogRepository(conn).entries(start, count)

    def entries_of(
        self, kind: str, count: int, *, start: int | None = None, before: int | None = None
    ) -> list[LogEntry]:
        """Entries of one event type or domain, oldest first (``LogRepository.entries_of``)."""
        if any(i is not None and i < 0 for i in (start, before)) or not 0 < count <= 1000:
            raise InvalidInput("start and before must be >= 0 and count 1..1000", field="count")
        with self.uow.read() as conn:
            return LogRepository(conn).entries_of(kind, count, start=start, before=before)

    def inclusion_proof(self, index: int, size: int | None = None) -> InclusionProof:
        with self.uow.read() as conn:
            repo = LogRepository(conn)
            tree_size = self._published_size(repo, size, field="size")
            if not 0 <= index < tree_size:
                raise InvalidInput(f"index {index} is not in a tree of size {tree_size}", field="index")
            # The proof and the leaf's own hash in one query.
            plan = [*merkle.inclusion_proof_plan(index, tree_size), ((0, index),)]
            *hashes, leaf = merkle.resolve_plan(repo, plan)
            root = self._root_at(repo, tree_size)
        return InclusionProof(index=index, size=tree_size, leaf_hash=leaf, hashes=list(hashes), root=root)

    def consistency_proof(self, first: int, second: int | None = None) -> ConsistencyProof:
        with self.uow.read() as conn:
            repo = LogRepository(conn)
            tree_size = self._published_size(repo, second, field="second")
            if not 0 < first <= tree_size:
                raise InvalidInput(f"first must be in 1..{tree_size}, got {first}", field="first")
            hashes = merkle.consistency_proof(repo, first, tree_size)
            return ConsistencyProof(
                first=first,
                second=tree_size,
                hashes=list(hashes),
                first_root=self._root_at(repo, first),
                second_root=self._root_at(repo, tree_size),
            )

    @staticmethod
    def _root_at(repo: LogRepository, size: int) -> bytes:
        """The signed root where a checkpoint of ``size`` exists, so proofs lead to what was signed."""
        signed = repo.checkpoint_at(size)
        return signed.root if signed is not None else merkle.root(repo, size)

    def _published_size(self, repo: LogRepository, size: int | None, *, field: str) -> int:
        latest = repo.latest_checkpoint()
        published = 0 if latest is None else latest.size
        if size is None:
            return published
        if not 0 < size <= published:
            raise InvalidInput(f"{field} must be in 1..{published}, got {size}", field=field)
        return size

    def tile(self, path: str) -> bytes:
        """The bytes of a C2SP tlog-tiles hash tile or entry bundle, by its path under ``tile/``."""
        try:
            ref = tiles.parse_tile_path(path)
        except tiles.BadTilePath as exc:  # an unknown path is a 404 to tlog-tiles clients
            raise NotFound(exc.message, field="path", code="tile_bad_path") from None
        with self.uow.read() as conn:
            repo = LogRepository(conn)
            latest = repo.latest_checkpoint()
            size = 0 if latest is None else latest.size
            width = tiles.TILE_WIDTH if ref.width is None else ref.width
            start = ref.index * tiles.TILE_WIDTH
            level = 0 if ref.level is None else ref.level * 8
            available = size >> level
            if start + width > available:
                raise NotFound(f"no tile {path} in a tree of size {size}", code="tile_not_found")
            if ref.level is None:
                return _entry_bundle(repo.entries(start, width))
            return b"".join(repo.level_range(level, start, width))


def _entry_bundle(entries: Sequence[LogEntry]) -> bytes:
    """tlog-tiles entry bundle: each entry as a big-endian uint16 length and its bytes."""
    return b"".join(len(e.data).to_bytes(2, "big") + e.data for e in entries)


def _cosignatures(note: str) -> int:
    """Signature lines beyond the log's own (the service stores only verified cosignatures)."""
    return len(split_signatures(note)[1]) - 1
