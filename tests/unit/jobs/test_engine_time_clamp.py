"""Engine-reported times are bounded to [the job's placement, now] before they are stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pnyx.jobs.model import JobRecord, JobStatus
from pnyx.jobs.rules import clamp_engine_times
from pnyx.safety.model import Label, SafetyLevel
from pnyx.scheduler.model import PriorityClass

SUBMITTED = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
PLACED = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CONFIRMED = PLACED + timedelta(seconds=2)
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _job(*, dispatched_at: datetime | None = PLACED, started_at: datetime | None = CONFIRMED) -> JobRecord:
    return JobRecord(
        id="job_1",
        name="j",
        project="p",
        user="ada",
        engine="fake",
        accelerator_type=None,
        accelerators=1,
        estimate_s=60,
        checkpoint_s=0,
        priority_class=PriorityClass.ENTITLED,
        label=Label(level=SafetyLevel.L1, categories=frozenset({"project:p"})),
        status=JobStatus.RUNNING,
        submitted_at=SUBMITTED,
        dispatched_at=dispatched_at,
        started_at=started_at,
    )


def test_times_within_bounds_are_kept() -> None:
    start, end = PLACED + timedelta(seconds=1), NOW - timedelta(minutes=1)
    assert clamp_engine_times(_job(started_at=None), start, end, now=NOW) == (start, end)


def test_a_start_before_placement_and_an_end_in_the_future_are_clamped() -> None:
    start, end = clamp_engine_times(
        _job(started_at=None), datetime(1970, 1, 1, tzinfo=UTC), NOW + timedelta(days=400), now=NOW
    )
    assert (start, end) == (PLACED, NOW)


def test_the_end_never_precedes_the_start() -> None:
    assert clamp_engine_times(_job(started_at=None), PLACED + timedelta(minutes=30), PLACED, now=NOW) == (
        PLACED + timedelta(minutes=30),
        PLACED + timedelta(minutes=30),
    )


def test_without_a_reported_start_the_end_is_bounded_by_the_stored_start() -> None:
    assert clamp_engine_times(_job(), None, PLACED, now=NOW) == (None, CONFIRMED)
    assert clamp_engine_times(_job(started_at=None), None, SUBMITTED, now=NOW) == (None, PLACED)


def test_missing_times_stay_missing() -> None:
    assert clamp_engine_times(_job(), None, None, now=NOW) == (None, None)


def test_a_job_never_dispatched_is_bounded_by_its_submission() -> None:
    assert clamp_engine_times(
        _job(dispatched_at=None, started_at=None), SUBMITTED - timedelta(hours=1), None, now=NOW
    ) == (
        SUBMITTED,
        None,
    )


def test_a_time_without_a_zone_is_read_as_utc() -> None:
    naive = (PLACED + timedelta(minutes=5)).replace(tzinfo=None)
    assert (
        clamp_engine_times(_job(started_at=None), naive, naive, now=NOW)
        == (PLACED + timedelta(minutes=5),) * 2
    )


def test_a_stored_start_is_kept_whatever_the_engine_says_later() -> None:
    later = CONFIRMED + timedelta(minutes=10)
    assert clamp_engine_times(_job(), later, NOW, now=NOW) == (None, NOW)  # None: keep the stored start
    assert clamp_engine_times(_job(), PLACED, CONFIRMED - timedelta(seconds=1), now=NOW) == (None, CONFIRMED)


_times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
)


@given(started=_times, ended=_times, stored=st.booleans())
def test_stored_times_are_always_ordered_and_within_placement_and_now(
    started: datetime | None, ended: datetime | None, stored: bool
) -> None:
    start, end = clamp_engine_times(_job(started_at=CONFIRMED if stored else None), started, ended, now=NOW)
    assert (start is None) == (started is None or stored)
    assert (end is None) == (ended is None)
    if start is not None:
        assert PLACED <= start <= NOW
    if end is not None:
        assert (start or (CONFIRMED if stored else PLACED)) <= end <= NOW
