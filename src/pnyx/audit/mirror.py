"""A ledger's rows as the replay's checks read them, followed from record to record (pure).

A record changes few of the jobs its ledger holds (``ledger``: rows set, ids dropped); every other
row is the very list the ledger before it held. ``Mirror`` keeps each row's reading (a decoded job,
the accelerators a member's started job holds) in the ledger's own order, and reads again only the
rows a record changes. Where it was not followed to the ledger the record changes (the first record,
a reset, a record it skipped, a reading that raised) it reads every row: the same readings, in the
same order, either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pnyx.audit.wire import Json

T = TypeVar("T")
Rows = Mapping[str, Sequence[Json]]


@dataclass(frozen=True, slots=True)
class Changes:
    """The rows after a record: ``base`` (the ledger's before it) without ``dropped``, then ``set``
    (ids in the record's order: a new id goes last, a kept one keeps its place, as ``ledger`` does)."""

    base: Rows
    dropped: tuple[str, ...]
    set: tuple[str, ...]

    @property
    def ids(self) -> list[str]:
        """Every id whose row may differ from ``base``'s, once each."""
        return list(dict.fromkeys((*self.dropped, *self.set)))


def changes(base: Rows | None, body: Mapping[str, Json], rows: str, drops: str) -> Changes | None:
    """What ``body`` (a record, not a reset, that followed from ``base``) changed of a ledger's rows
    (``rows``, ``drops``: its keys); None where ``base`` is None (a reset: the rows are all new)."""
    if base is None or body.get("reset"):
        return None
    return Changes(base, tuple(body.get(drops, ())), tuple(row[0] for row in body.get(rows, ())))


class Mirror(Generic[T]):
    """Each row's reading, in the order of the rows it was last followed to (``seen``)."""

    __slots__ = ("out", "seen")

    def __init__(self) -> None:
        self.seen: Rows | None = None
        self.out: dict[str, T] = {}

    def follow(self, rows: Rows, change: Changes | None, read: Callable[[Sequence[Json]], T]) -> dict[str, T]:
        """The readings of ``rows``: ``change`` applied where it changes the rows last followed,
        else every row read (``read`` must not depend on anything but the row)."""
        if rows is self.seen:
            return self.out
        seen, self.seen = self.seen, None  # until the readings are whole again: a reading may raise
        if change is None or change.base is not seen:
            self.out = {}
            ids: Sequence[str] = list(rows)
        else:
            for job_id in change.dropped:
                self.out.pop(job_id, None)
            ids = change.set
        for job_id in ids:
            self.out[job_id] = read(rows[job_id])
        self.seen = rows
        return self.out
