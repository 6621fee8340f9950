"""Many rows' changes in one transaction in few statements, one failing change failing alone.

Each item is first planned without a write (its checks, its events emitted); one that raises is its
own error, its events undone. The planned rows are then written at once in one savepoint. Only if the
database refuses that write (a constraint, a value out of range) is it undone and every item done
again alone, each in its own savepoint, so that the refused row fails alone and the others commit
(whatever it raised: a value the database's driver cannot encode fails that write as well)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pnyx.db.unit_of_work import Transaction

Item = TypeVar("Item")
Done = TypeVar("Done")


def write_each(
    tx: Transaction,
    items: Sequence[Item],
    plan: Callable[[Item], Done],
    write: Callable[[list[Done]], None],
    alone: Callable[[Item], Done],
) -> list[Done | Exception]:
    """Per item, in order: what ``plan`` made of it (written by one ``write`` of all of them), or
    the exception it raised. Should the database refuse that ``write``, each item is ``alone``
    (which reads, checks and writes it) in its own savepoint instead."""
    emitted = len(tx.events)
    done = [_each(tx, plan, item) for item in items]
    if _written(tx, write, [d for d in done if not isinstance(d, Exception)]):
        return done
    del tx.events[emitted:]
    return [_each(tx, _saved(tx, alone), item) for item in items]


def _each(tx: Transaction, step: Callable[[Item], Done], item: Item) -> Done | Exception:
    emitted = len(tx.events)
    try:
        return step(item)
    except Exception as exc:  # that item's alone: returned in its place, its events undone
        del tx.events[emitted:]
        return exc


def _saved(tx: Transaction, alone: Callable[[Item], Done]) -> Callable[[Item], Done]:
    def step(item: Item) -> Done:
        with tx.conn.begin_nested():
            return alone(item)

    return step


def _written(tx: Transaction, write: Callable[[list[Done]], None], planned: list[Done]) -> bool:
    """Whether ``write`` held; when it did not, it is undone (its savepoint rolled back)."""
    if not planned:
        return True
    try:
        with tx.conn.begin_nested():
            write(planned)
    except Exception:  # some row refused (by the database, or unencodable): found by going one by one
        return False
    return True
