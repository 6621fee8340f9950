"""Readings of a ledger's rows followed by each record's changes (``audit.mirror``) against the
rows read whole: the same readings in the same order, through changes, resets and records the
mirror skipped; and co-tenancy followed by the changes against co-tenancy followed whole."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.audit import invariants
from pnyx.audit.ledger import _keyed
from pnyx.audit.mirror import Changes, Mirror, changes
from pnyx.audit.wire import Json
from tests.unit.audit.test_invariants_tenancy import _TOPOLOGY, JOB, holder

IDS = st.integers(0, 29)
# a record: reset or not, ids dropped, ids set (placed anew or not), the mirror skips it or not
RECORD = st.tuples(
    st.booleans(),
    st.lists(IDS, max_size=4),
    st.lists(st.tuples(IDS, st.booleans()), max_size=6),
    st.booleans(),
)
Record = tuple[bool, list[int], list[tuple[int, bool]], bool]
Row = list[Json]


def _step(
    before: dict[str, Row], record: Record, jobs: list[tuple[int, int, int, bool, bool]]
) -> tuple[dict[str, Row], Changes | None]:
    """The rows after ``record`` and its changes, as ``ledger.follow`` and the replay make them."""
    reset, dropped, chosen, _skip = record
    drops = [] if reset else [f"j{i}" for i in dict.fromkeys(dropped) if f"j{i}" in before]
    rows = [holder(i, jobs[i], again) for i, again in chosen]
    body = {"reset": reset, "holding_set": rows, "holding_drop": drops}
    after = _keyed({} if reset else before, rows, drops, "holding")
    return after, changes(before, body, "holding_set", "holding_drop")


def _read(row: Sequence[Json]) -> tuple[str, int, bool]:
    return row[0], len(row[15][2]), bool(row[13])


@settings(deadline=None, max_examples=150)
@given(st.lists(JOB, min_size=30, max_size=30), st.lists(RECORD, min_size=1, max_size=12))
def test_readings_followed_by_changes_are_the_rows_read_whole(
    jobs: list[tuple[int, int, int, bool, bool]], records: list[Record]
) -> None:
    mirror: Mirror[tuple[str, int, bool]] = Mirror()
    rows: dict[str, Row] = {}
    for record in records:
        rows, change = _step(rows, record, jobs)
        if record[3]:
            continue  # a record the mirror is not followed to
        read = mirror.follow(rows, change, _read)
        assert list(read.items()) == [(k, _read(r)) for k, r in rows.items()]
        assert mirror.follow(rows, change, _read) is read  # the same rows again: not read again


@settings(deadline=None, max_examples=120)
@given(st.lists(JOB, min_size=30, max_size=30), st.lists(RECORD, min_size=1, max_size=12))
def test_tenancy_followed_by_changes_is_tenancy_followed_whole(
    jobs: list[tuple[int, int, int, bool, bool]], records: list[Record]
) -> None:
    by_changes, whole = invariants.Tenancy(_TOPOLOGY), invariants.Tenancy(_TOPOLOGY)
    rows: dict[str, Row] = {}
    for record in records:
        rows, change = _step(rows, record, jobs)
        if record[3]:
            continue
        outputs: dict[str, list[Json]] = {"preemptions": [[k, "x", 0.0] for k in list(rows)[:1]]}
        assert by_changes.may_break({}, rows, outputs, change) == whole.may_break({}, rows, outputs)
        assert by_changes.suspect == whole.suspect
        assert by_changes.usage == whole.usage
        assert by_changes.rows == whole.rows
