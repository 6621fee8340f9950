"""Who may ask for a release, and what the public learns, on both databases: only a member of the
artifact's project cleared for its label, or a safety officer, asks; anyone else gets the answer an
unknown artifact gets; refusals never echo what is stored; public entries name an unreleased artifact
by its job and an opaque reference, never by its path."""

from __future__ import annotations

import json
from functools import partial

import pytest

from pnyx.core.errors import InvalidInput, NotFound, Unauthenticated
from pnyx.identity.model import ANONYMOUS
from pnyx.safety.model import Label, ReleaseStatus, SubjectKind
from pnyx.safety.signing import public_artifact
from pnyx.wiring import Platform
from tests.integration.release_world import SHA, World, entries, label, refused

PUBLIC = label(1)
EVALS_L2 = ("safety-suite", "capability-screening")


@pytest.fixture
def world(platform: Platform) -> World:
    return World(platform)


def test_requests_are_checked_against_the_stored_artifact(world: World) -> None:
    stored = world.artifact("job_1/m", 2)
    rita = world.who("rita")

    def request(
        artifact: str = "job_1/m", sha256: str = SHA, from_label: Label = stored, to_label: Label = PUBLIC
    ) -> object:
        return world.releases.request(
            rita, artifact=artifact, sha256=sha256, from_label=from_label, to_label=to_label
        )

    p = world.platform
    refused(p, NotFound, "artifact_not_found", "artifact", lambda: request("job_9/x"))
    digest = refused(p, InvalidInput, "digest_mismatch", "sha256", lambda: request(sha256="ab" * 32))
    refused(p, InvalidInput, "invalid_input", "sha256", lambda: request(sha256="AB" * 32))
    labelled = refused(p, InvalidInput, "label_mismatch", "from_label", lambda: request(from_label=label(3)))
    for error in (digest, labelled):  # what is stored is never echoed
        for held in (SHA, str(stored), "project:p1", "job_1/m"):
            assert held not in error.message, error.message
    refused(p, InvalidInput, "not_lower", "to_label", lambda: request(to_label=stored))
    refused(p, InvalidInput, "not_lower", "to_label", lambda: request(to_label=label(1, "bio")))
    refused(
        p,
        InvalidInput,
        "invalid_input",
        "evaluations",
        lambda: world.releases.request(
            rita, artifact="job_1/m", sha256=SHA, from_label=stored, to_label=PUBLIC, evaluations=["Bad Name"]
        ),
    )
    refused(
        p,
        Unauthenticated,
        "unauthenticated",
        None,
        lambda: world.releases.request(
            ANONYMOUS, artifact="job_1/m", sha256=SHA, from_label=stored, to_label=PUBLIC
        ),
    )
    refused(
        p,
        NotFound,
        "release_not_found",
        "release_id",
        lambda: world.releases.approve(world.who("olga"), "rel_missing", world.key_ids["olga"], "x"),
    )


# --- who may ask: the project's cleared members and safety officers; nobody else learns anything -----


def test_only_a_cleared_member_or_an_officer_asks_anyone_else_finds_nothing(world: World) -> None:
    stored = world.artifact("job_1/m", 2)  # p1's output
    unknown = refused(
        world.platform,
        NotFound,
        "artifact_not_found",
        "artifact",
        lambda: world.releases.request(
            world.who("rudi"), artifact="job_1/x", sha256=SHA, from_label=stored, to_label=PUBLIC
        ),
    )
    world.platform.identity.register_user(name="otto", roles=["operator"])
    for outsider, sha256, from_label in [
        ("rudi", SHA, stored),  # a researcher of another project, naming it exactly
        ("rudi", "ab" * 32, label(3)),  # ... or guessing: no oracle for the digest or the label
        ("otto", SHA, stored),  # an operator is staff, not the project's
    ]:
        error = refused(
            world.platform,
            NotFound,
            "artifact_not_found",
            "artifact",
            partial(
                world.releases.request,
                world.who(outsider),
                artifact="job_1/m",
                sha256=sha256,
                from_label=from_label,
                to_label=PUBLIC,
            ),
        )
        assert error.message == unknown.message.replace("job_1/x", "job_1/m")  # the same answer
    world.members.labels["p1"] = label(2, "project:p1")  # a member cleared only up to L2
    world.artifact("job_3/w.bin", 3)
    refused(
        world.platform,
        NotFound,
        "artifact_not_found",
        "artifact",
        lambda: world.request("job_3/w.bin", 3, label(1, "project:p1"), by="rita"),
    )
    assert world.request("job_1/m", 2, PUBLIC, by="rita").requester == "rita"  # covered: L2
    assert world.request("job_3/w.bin", 3, PUBLIC, by="olga").requester == "olga"  # an officer


def test_a_project_asks_to_release_its_own_l3_output(world: World) -> None:
    """Asking reads nothing: the rule that no person reads at L3 plays no part in who may ask."""
    release = world.request("job_3/w.bin", 3, label(1, "project:p1"), by="rita")
    assert release.status is ReleaseStatus.REQUESTED


def test_an_l1_release_is_decided_by_its_own_project_only(world: World, platform: Platform) -> None:
    """At L1 no approval is needed: that the requester is a member (its PI) is the gate."""
    stored = world.artifact("job_1/notes.txt", 1)
    refused(
        platform,
        NotFound,
        "artifact_not_found",
        "artifact",
        lambda: world.releases.request(
            world.who("rudi"),
            artifact="job_1/notes.txt",
            sha256=SHA,
            from_label=stored,
            to_label=PUBLIC,
            evaluations=["licence-provenance"],
        ),
    )
    assert world.releases.released_of("job_1/notes.txt") == []
    release = world.request("job_1/notes.txt", 1, PUBLIC, evaluations=["licence-provenance"])
    assert release.status is ReleaseStatus.RELEASED


# --- public entries name an unreleased artifact by job and opaque reference, never by its path ------


def test_the_log_names_no_path_until_the_release_is_decided_released(
    world: World, platform: Platform
) -> None:
    job, ref = public_artifact("job_1/sme_customer_list.csv")
    refused_release = world.request("job_1/sme_customer_list.csv", 2, PUBLIC, evaluations=EVALS_L2)
    world.approve(refused_release, "olga")
    world.releases.refuse(world.who("oona"), refused_release.id)
    world.incidents.open(world.who("oona"), SubjectKind.ARTIFACT, "job_1/sme_customer_list.csv", "x", True)
    logged = entries(platform)
    assert "sme_customer_list" not in json.dumps(logged)
    requested = next(e["data"] for e in logged if e["type"] == "safety.release.requested")
    assert (requested["job"], requested["artifact_ref"]) == (job, ref)
    opened = next(e["data"] for e in logged if e["type"] == "safety.incident.opened")
    assert (opened["subject"], opened["artifact_ref"]) == (job, ref)
    frozen = next(e["data"] for e in logged if e["type"] == "safety.incident.action_taken")
    assert (frozen["action"], frozen["target"], frozen["artifact_ref"]) == ("freeze-artifact", job, ref)
    decided = next(e["data"] for e in logged if e["type"] == "safety.release.decided")
    assert (decided["status"], decided["artifact"]) == ("refused", None)

    released = world.approve(
        world.approve(world.request("job_2/m.bin", 2, PUBLIC, evaluations=EVALS_L2), "olga"), "omar"
    )
    (decision,) = [
        e["data"]
        for e in entries(platform, "safety.release.decided")
        if e["data"]["release_id"] == released.id
    ]
    assert (decision["status"], decision["artifact"]) == ("released", "job_2/m.bin")
