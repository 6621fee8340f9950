"""The dispatcher's metering on both databases: a cycle's projects metered together, their usage read
in one grouped query and their classifications locked and saved in one transaction, in a number of
statements that does not grow with the projects; each project's result as ``meter_from_usage``'s."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from pnyx.adapters import MeteredUsage
from pnyx.core.errors import NotFound
from pnyx.safety.model import Classification, ClassificationStatus, SafetyLevel
from pnyx.wiring import Platform
from tests.integration.test_safety_classification import H100_FLOP_PER_HOUR, Facility, entries
from tests.unit.allocation.allocation_builders import DAY

START = datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture
def facility(platform: Platform) -> Facility:
    return Facility(platform)


def used(platform: Platform, project: str, hours: int, kind: str = "H100-SXM", accelerators: int = 8) -> None:
    """A job's use recorded with accounting alone (unmetered, as the dispatcher records it)."""
    platform.accounting.record_usage(
        job_id=f"{project}-{kind}-{hours}",
        project_id=project,
        accelerator_type=kind,
        accelerators=accelerators,
        started_at=START,
        ended_at=START + hours * DAY / 24,
    )


@contextmanager
def statements(platform: Platform) -> Iterator[list[str]]:
    """The SQL statements the platform's engine runs meanwhile (an executemany counts once)."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    sa.event.listen(platform.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(platform.engine, "before_cursor_execute", count)


def metered(platform: Platform, projects: Sequence[str]) -> tuple[Sequence[object], list[str]]:
    meter: Callable[[Sequence[str]], Sequence[object]]
    with statements(platform) as seen:
        meter = MeteredUsage(platform.accounting, platform.safety).metering()
        results = meter(projects)
    return results, seen


def classified(facility: Facility, n: int) -> list[str]:
    projects = [facility.project() for _ in range(n)]
    for hours, project in enumerate(projects, start=1):
        facility.platform.safety.ensure_classified(project)
        used(facility.platform, project, hours)
    return projects


def test_metering_a_cycles_projects_takes_the_same_statements_for_two_or_eight(
    facility: Facility, platform: Platform
) -> None:
    projects = classified(facility, 10)
    _, two = metered(platform, projects[:2])
    results, eight = metered(platform, projects[2:])
    assert len(eight) == len(two) <= 12, eight
    for hours, (project, result) in enumerate(zip(projects[2:], results, strict=True), start=3):
        assert isinstance(result, Classification)
        assert result.metered_flop == 8 * hours * H100_FLOP_PER_HOUR
        assert platform.safety.classification(project) == result


def test_metering_together_is_metering_each_alone(facility: Facility, platform: Platform) -> None:
    projects = classified(facility, 3)
    used(platform, projects[1], 24 * 10, kind="GB200", accelerators=4096)  # crosses the L2 threshold
    results, _ = metered(platform, projects)
    logged = entries(platform, "safety.classification.")
    assert [(e["data"]["project"], e["data"]["pending_level"]) for e in logged] == [(projects[1], "L2")]
    escalated = results[1]
    assert isinstance(escalated, Classification)
    assert (escalated.status, escalated.pending_level) == (ClassificationStatus.ESCALATED, SafetyLevel.L2)
    assert [platform.safety.meter_from_usage(p) for p in projects] == list(results)  # again: the same
    assert entries(platform, "safety.classification.") == logged  # and nothing new to log
    again, seen = metered(platform, projects)
    assert again == results
    assert not [s for s in seen if s.lstrip().upper().startswith("UPDATE")]  # nothing changed: no save


def test_a_project_not_classified_yet_is_classified_and_one_that_fails_fails_alone(
    facility: Facility, platform: Platform
) -> None:
    known = classified(facility, 1)[0]
    new = facility.project()
    used(platform, new, 5)
    results = metered(platform, [known, "no-such-project", new])[0]
    assert isinstance(results[1], NotFound)
    assert [r.metered_flop for r in (results[0], results[2]) if isinstance(r, Classification)] == [
        8 * H100_FLOP_PER_HOUR,
        8 * 5 * H100_FLOP_PER_HOUR,
    ]
    assert platform.safety.classification(new).metered_flop == 8 * 5 * H100_FLOP_PER_HOUR
    assert [e["data"]["project"] for e in entries(platform, "safety.project.")][-1] == new
    with pytest.raises(NotFound):
        platform.safety.meter_from_usage("no-such-project")


def test_a_project_without_usage_meters_nothing(facility: Facility, platform: Platform) -> None:
    project = facility.project()
    result = metered(platform, [project])[0][0]
    assert isinstance(result, Classification)
    assert result.metered_flop == Decimal(0)
