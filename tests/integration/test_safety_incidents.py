"""Incidents on both databases: an officer contains a project or an artifact (jobs preempted, tokens
suspended, artifacts frozen, each step logged), two different officers lift it; details stay off the
log, which says they are withheld."""

from __future__ import annotations

import pytest

from pnyx.adapters import JobContainment, ProjectTeam
from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pnyx.safety.model import IncidentStatus, SubjectKind
from pnyx.safety.signing import public_artifact
from pnyx.wiring import Platform
from tests.integration.release_world import World, entries, refused


@pytest.fixture
def world(platform: Platform) -> World:
    world = World(platform)
    world.containment.jobs["p1"] = ["job_a", "job_b"]
    world.containment.tokens["p1"] = ["tok_1"]
    world.artifact("job_a/out.bin", 2, "p1")
    world.artifact("job_z/out.bin", 2, "p2")
    return world


def test_a_project_incident_contains_it_and_two_officers_lift_it(world: World, platform: Platform) -> None:
    incident = world.incidents.open(
        world.who("olga"), SubjectKind.PROJECT, "p1", "weights seen outside", True
    )
    assert incident.status is IncidentStatus.OPEN
    assert world.containment.preempted == ["job_a", "job_b"]
    assert world.containment.suspended == {"tok_1"}
    assert world.incidents.is_frozen("job_a/out.bin")
    assert not world.incidents.is_frozen("job_z/out.bin")
    assert world.incidents.frozen_projects() == {"p1"}
    assert world.incidents.actions(incident.id) == [
        ("freeze-artifact", "project:p1"),
        ("preempt-job", "job_a"),
        ("preempt-job", "job_b"),
        ("suspend-token", "tok_1"),
    ]
    lifting = world.incidents.propose_lift(world.who("olga"), incident.id)
    assert lifting.status is IncidentStatus.LIFTING
    assert world.incidents.is_frozen("job_a/out.bin")  # one officer is not enough
    lifted = world.incidents.agree_lift(world.who("omar"), incident.id)
    assert lifted.status is IncidentStatus.LIFTED
    assert lifted.lift_by == ("olga", "omar")
    assert not world.incidents.is_frozen("job_a/out.bin")
    assert world.containment.suspended == set()
    assert world.incidents.frozen_projects() == set()
    logged = [(e["type"], e["data"].get("action")) for e in entries(platform, "safety.incident.")]
    assert logged == [
        ("safety.incident.opened", None),
        ("safety.incident.action_taken", "freeze-artifact"),
        ("safety.incident.action_taken", "preempt-job"),
        ("safety.incident.action_taken", "preempt-job"),
        ("safety.incident.action_taken", "suspend-token"),
        ("safety.incident.lift_changed", "propose-lift"),
        ("safety.incident.lift_changed", "agree-lift"),
        ("safety.incident.action_taken", "thaw-artifact"),
        ("safety.incident.action_taken", "restore-token"),
    ]


def test_the_log_says_details_are_withheld_and_holds_none(world: World, platform: Platform) -> None:
    world.incidents.open(world.who("olga"), "artifact", "job_a/out.bin", "a dangerous capability", True)
    (opened,) = [e for e in entries(platform) if e["type"] == "safety.incident.opened"]
    assert opened["data"] == {
        "incident_id": opened["data"]["incident_id"],
        "subject_kind": "artifact",
        "subject": "job_a",  # the artifact's job and opaque reference: its path is not published
        "artifact_ref": public_artifact("job_a/out.bin")[1],
        "summary": "a dangerous capability",
        "details_withheld": True,
        "by": "olga",
    }


def test_an_artifact_incident_freezes_only_that_artifact(world: World) -> None:
    incident = world.incidents.open(world.who("olga"), SubjectKind.ARTIFACT, "job_a/out.bin", "leak", False)
    assert world.incidents.is_frozen("job_a/out.bin")
    assert world.containment.preempted == []
    assert world.incidents.actions(incident.id) == [("freeze-artifact", "job_a/out.bin")]
    assert world.incidents.incidents() == [incident]
    assert world.incidents.incident(incident.id) == incident


def test_lifting_takes_two_different_officers(world: World) -> None:
    incident = world.incidents.open(world.who("olga"), SubjectKind.PROJECT, "p1", "leak", False)
    p = world.platform
    refused(
        p,
        Conflict,
        "invalid_transition",
        "status",
        lambda: world.incidents.agree_lift(world.who("omar"), incident.id),
    )
    world.incidents.lift(world.who("olga"), incident.id)  # proposes
    refused(
        p,
        Conflict,
        "same_officer",
        "incident_id",
        lambda: world.incidents.lift(world.who("olga"), incident.id),
    )
    refused(p, Forbidden, "forbidden", None, lambda: world.incidents.lift(world.who("rita"), incident.id))
    assert world.incidents.lift(world.who("oona"), incident.id).status is IncidentStatus.LIFTED
    refused(
        p,
        Conflict,
        "invalid_transition",
        "status",
        lambda: world.incidents.lift(world.who("omar"), incident.id),
    )


def test_an_incident_on_an_unknown_subject_is_refused(world: World) -> None:
    p, olga = world.platform, world.who("olga")
    open_ = world.incidents.open
    refused(p, NotFound, "project_not_found", "subject", lambda: open_(olga, "project", "p9", "x", False))
    refused(
        p, NotFound, "artifact_not_found", "subject", lambda: open_(olga, "artifact", "job_9/x", "x", False)
    )
    refused(p, InvalidInput, "invalid_input", "subject_kind", lambda: open_(olga, "node", "n1", "x", False))
    refused(p, InvalidInput, "invalid_input", "summary", lambda: open_(olga, "project", "p1", "  ", False))
    refused(p, InvalidInput, "invalid_input", "subject", lambda: open_(olga, "project", "", "x", False))
    refused(p, Forbidden, "forbidden", None, lambda: open_(world.who("rita"), "project", "p1", "x", False))
    refused(
        p,
        NotFound,
        "incident_not_found",
        "incident_id",
        lambda: world.incidents.propose_lift(olga, "inc_missing"),
    )
    assert world.containment.preempted == []


@pytest.mark.parametrize(
    "summary",
    ["leak\u202e\u0007", "\u202egnp.exe", "two\nlines", "bell\u0007", "nul\x00", "zero\u200bwidth", "\u2028"],
)
def test_a_summary_with_control_or_bidi_characters_is_refused(world: World, summary: str) -> None:
    p, olga = world.platform, world.who("olga")
    open_ = world.incidents.open
    refused(p, InvalidInput, "invalid_input", "summary", lambda: open_(olga, "project", "p1", summary, False))
    assert world.containment.preempted == []


def test_a_failed_containment_step_leaves_the_incident_open_and_frozen(world: World) -> None:
    world.containment.fail_on_suspend = True
    with pytest.raises(RuntimeError):
        world.incidents.open(world.who("olga"), SubjectKind.PROJECT, "p1", "leak", False)
    (incident,) = world.incidents.incidents(status=IncidentStatus.OPEN)
    assert world.incidents.is_frozen("job_a/out.bin")
    assert [a for a, _ in world.incidents.actions(incident.id)] == [
        "freeze-artifact",
        "preempt-job",
        "preempt-job",
    ]


def test_the_platforms_own_adapters_know_no_such_subjects(world: World, platform: Platform) -> None:
    """The wiring's views of projects (awards), artifacts (job outputs) and motions (the council)."""
    olga = world.who("olga")
    refused(
        platform,
        NotFound,
        "project_not_found",
        "subject",
        lambda: platform.incidents.open(olga, "project", "p1", "leak", True),
    )
    refused(
        platform,
        NotFound,
        "artifact_not_found",
        "subject",
        lambda: platform.incidents.open(olga, "artifact", "job_none/out.bin", "leak", True),
    )
    assert platform.releases.motions.motion_state("mot_none") is None
    assert (
        list(
            JobContainment(platform.jobs, platform.identity, ProjectTeam(platform.uow)).preempt_jobs(
                "p1", "test"
            )
        )
        == []
    )
