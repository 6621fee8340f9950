"""Labels and clearance on the jobs side: jobs run at their project's level or above, outputs carry
the job's label joined with its inputs', and nobody reads above their clearance (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import Forbidden, InvalidInput
from pnyx.core.ids import UserId
from pnyx.identity.model import Principal, Role
from pnyx.jobs.clearance import (
    ProjectInfo,
    check_read,
    clearance,
    job_label,
    may_see,
    outputs_label,
    project_label,
)
from pnyx.jobs.model import InvalidJobTransition, JobAction, JobRecord, JobStatus
from pnyx.jobs.rules import to_scheduler_job, transition
from pnyx.jobs.submission import Submission, draft, released_reason
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, Readers, SafetyLevel

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CATEGORIES = ("bio", "cyber", "sme:acme")
levels = st.sampled_from(list(SafetyLevel))
categories = st.frozensets(st.sampled_from(CATEGORIES))


def person(name: str, *roles: Role) -> Principal:
    return Principal(user_id=UserId(f"usr_{name}"), name=name, roles=frozenset(roles))


ADA = person("ada", Role.RESEARCHER)  # member of p1
BOB = person("bob", Role.RESEARCHER)  # member of p2
AUDITOR = person("aud", Role.AUDITOR)
OPERATOR = person("olga", Role.OPERATOR)
OFFICER = person("sofia", Role.SAFETY_OFFICER)
REVIEWER = person("rex", Role.REVIEWER)
EVERYONE = (ADA, BOB, AUDITOR, OPERATOR, OFFICER, REVIEWER)


def project(
    pid: str = "p1",
    level: SafetyLevel = SafetyLevel.L1,
    cats: frozenset[str] = frozenset(),
    *,
    members: frozenset[str] | None = None,
    over_budget: bool = False,
    holds_jobs: bool = False,
) -> ProjectInfo:
    """p1's member is ada, p2's is bob."""
    team = frozenset({"usr_ada" if pid == "p1" else "usr_bob"}) if members is None else members
    return ProjectInfo(
        id=pid,
        member_state="DE",
        members=team,
        over_budget=over_budget,
        label=Label(level=level, categories=cats),
        holds_jobs=holds_jobs,
    )


def submission(label: SafetyLevel | None = None) -> Submission:
    return Submission(name="j", project="p1", accelerators=1, estimate_s=60, command=("true",), label=label)


def job_in(p: ProjectInfo, label: SafetyLevel | None = None) -> JobRecord:
    return draft(ADA, submission(label), job_id="job_1", engine="fake", project=p, now=NOW)


# --- the level a job runs at ---------------------------------------------------------------------


def test_a_job_without_a_label_runs_at_its_projects_level_with_its_categories() -> None:
    p = project(level=SafetyLevel.L2, cats=frozenset({"bio"}))
    assert job_label(p, None) == Label(level=SafetyLevel.L2, categories=frozenset({"bio", "project:p1"}))


def test_a_job_may_run_above_its_projects_level_never_below() -> None:
    p = project(level=SafetyLevel.L2)
    assert job_label(p, SafetyLevel.L3).level is SafetyLevel.L3
    with pytest.raises(InvalidInput) as refused:
        job_label(p, SafetyLevel.L1)
    assert (refused.value.field, refused.value.code) == ("label", "below_project_level")
    assert "L2" in refused.value.message
    assert "L1" in refused.value.message


@given(levels, st.one_of(st.none(), levels), categories)
def test_a_jobs_label_dominates_its_projects(
    project_level: SafetyLevel, asked: SafetyLevel | None, cats: frozenset[str]
) -> None:
    p = project(level=project_level, cats=cats)
    if asked is not None and asked < project_level:
        with pytest.raises(InvalidInput):
            job_label(p, asked)
        return
    label = job_label(p, asked)
    assert label.level >= project_level
    assert label.categories == cats | {"project:p1"}


def test_the_project_category_is_added_whatever_the_project_info_says() -> None:
    assert project_label(project()) == Label(level=SafetyLevel.L1, categories=frozenset({"project:p1"}))


# --- submissions ---------------------------------------------------------------------------------


def test_a_project_that_holds_jobs_gets_its_new_jobs_held_and_says_why() -> None:
    held = draft(
        ADA,
        submission(),
        job_id="job_1",
        engine="fake",
        project=project(level=SafetyLevel.L2, holds_jobs=True),
        now=NOW,
    )
    assert held.status is JobStatus.HELD_FOR_SAFETY
    assert "awaits an officer" in held.reason
    free = draft(
        ADA, submission(), job_id="job_2", engine="fake", project=project(level=SafetyLevel.L2), now=NOW
    )
    assert (free.status, free.reason) == (JobStatus.PENDING, "")


def test_an_over_budget_held_job_gets_both_notes_and_keeps_the_first_when_released() -> None:
    p = project(over_budget=True, holds_jobs=True)
    job = draft(ADA, submission(), job_id="job_1", engine="fake", project=p, now=NOW)
    released = released_reason(job)
    assert "opportunistically" in released
    assert "confirmed: released to the queue" in released
    assert "awaits" not in released
    assert "opportunistically" in job.reason
    assert "awaits an officer" in job.reason


def test_the_scheduler_sees_the_level_and_places_l2_and_up_exclusively() -> None:
    for level, exclusive in ((SafetyLevel.L1, False), (SafetyLevel.L2, True), (SafetyLevel.L3, True)):
        job = draft(ADA, submission(), job_id="j", engine="fake", project=project(level=level), now=NOW)
        seen = to_scheduler_job(job)
        assert (seen.label, seen.exclusive) == (level, exclusive)
        assert seen.exclusive is DEFAULT_POLICY.of(level).exclusive_nodes  # the policy agrees


# --- the held state ------------------------------------------------------------------------------


def test_a_held_job_is_released_to_the_queue_or_cancelled_and_nothing_else() -> None:
    assert transition(JobStatus.HELD_FOR_SAFETY, JobAction.RELEASE_HOLD) is JobStatus.PENDING
    assert transition(JobStatus.HELD_FOR_SAFETY, JobAction.CANCEL) is JobStatus.CANCELLED
    for action in set(JobAction) - {JobAction.RELEASE_HOLD, JobAction.CANCEL}:
        with pytest.raises(InvalidJobTransition):
            transition(JobStatus.HELD_FOR_SAFETY, action)
    for status in set(JobStatus) - {JobStatus.HELD_FOR_SAFETY}:
        with pytest.raises(InvalidJobTransition):
            transition(status, JobAction.RELEASE_HOLD)


# --- outputs and clearance -----------------------------------------------------------------------


def test_outputs_carry_the_jobs_label_joined_with_their_inputs() -> None:
    job = draft(ADA, submission(SafetyLevel.L2), job_id="j", engine="fake", project=project(), now=NOW)
    assert outputs_label(job) == job.label
    cyber = Label(level=SafetyLevel.L3, categories=frozenset({"cyber"}))
    assert outputs_label(job, [cyber]) == Label(
        level=SafetyLevel.L3, categories=frozenset({"cyber", "project:p1"})
    )


def test_members_hold_their_projects_label_staff_l1_others_nothing() -> None:
    p = project(level=SafetyLevel.L2, cats=frozenset({"bio"}))
    assert clearance(ADA, p) == Label(level=SafetyLevel.L2, categories=frozenset({"bio", "project:p1"}))
    for staff in (AUDITOR, OPERATOR, OFFICER):
        assert clearance(staff, p) == Label(level=SafetyLevel.L1, categories=frozenset({"bio", "project:p1"}))
    assert clearance(BOB, p) is None
    assert clearance(REVIEWER, p) is None


def test_a_project_naming_no_members_admits_any_researcher() -> None:
    open_project = ProjectInfo(id="open", member_state=None, members=frozenset(), over_budget=False)
    assert clearance(BOB, open_project) == Label(level=SafetyLevel.L1, categories=frozenset({"project:open"}))
    assert clearance(REVIEWER, open_project) is None


def test_a_refusal_names_the_label_and_what_the_reader_holds() -> None:
    label = Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"}))
    with pytest.raises(Forbidden) as refused:
        check_read(AUDITOR, project(level=SafetyLevel.L2), label, DEFAULT_POLICY)
    assert refused.value.code == "clearance_insufficient"
    assert "L2+project:p1" in refused.value.message
    assert "L1+project:p1" in refused.value.message
    with pytest.raises(Forbidden, match="at L3 only jobs read outputs"):
        check_read(
            ADA,
            project(level=SafetyLevel.L3),
            Label(level=SafetyLevel.L3, categories=label.categories),
            DEFAULT_POLICY,
        )


def test_records_are_seen_by_owner_members_and_staff() -> None:
    job = draft(ADA, submission(), job_id="j", engine="fake", project=project(), now=NOW)
    assert may_see(ADA, job, None)
    assert may_see(AUDITOR, job, None)
    assert may_see(OFFICER, job, None)
    assert not may_see(BOB, job, None)
    assert not may_see(BOB, job, project())
    teammate = person("tom", Role.RESEARCHER)
    assert may_see(teammate, job, project(members=frozenset({"usr_tom"})))


def _dominates(high: Label, low: Label) -> bool:
    """The lattice order, written out here rather than taken from the code under test."""
    return low.level <= high.level and low.categories <= high.categories


@given(
    reader=st.sampled_from(EVERYONE),
    home=st.sampled_from(["p1", "p2"]),
    project_level=levels,
    project_cats=categories,
    job_level=levels,
    extra=categories,
)
def test_nobody_reads_above_their_clearance(
    reader: Principal,
    home: str,
    project_level: SafetyLevel,
    project_cats: frozenset[str],
    job_level: SafetyLevel,
    extra: frozenset[str],
) -> None:
    """Whatever the project's label and the outputs' label: a read succeeds only where the reader is
    a member (the project's label dominates) or staff (L1 dominates), and never where only jobs read."""
    p = project(home, level=project_level, cats=project_cats)
    label = Label(level=job_level, categories=project_cats | extra | {f"project:{home}"})
    try:
        check_read(reader, p, label, DEFAULT_POLICY)
    except Forbidden:
        return
    assert DEFAULT_POLICY.of(label.level).readers is not Readers.JOBS_ONLY
    member = reader.user_id in p.members
    ceiling = Label(
        level=project_level if member else SafetyLevel.L1, categories=project_cats | {f"project:{home}"}
    )
    assert member or reader.roles & {Role.OPERATOR, Role.AUDITOR, Role.SAFETY_OFFICER}
    assert _dominates(ceiling, label)


@given(level=levels, cats=categories, other_level=levels, other_cats=categories)
def test_another_projects_member_never_reads_a_projects_outputs(
    level: SafetyLevel, cats: frozenset[str], other_level: SafetyLevel, other_cats: frozenset[str]
) -> None:
    """Bob is cleared for p2 at any level; p1's outputs carry project:p1, which p2's label lacks."""
    outputs = outputs_label(job_in(project("p1", level, cats)))
    bobs = clearance(BOB, project("p2", other_level, other_cats))
    assert bobs is not None
    assert not _dominates(bobs, outputs)
    with pytest.raises(Forbidden):
        check_read(BOB, project("p1", level, cats), outputs, DEFAULT_POLICY)
