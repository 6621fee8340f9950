"""The council's motion in a release gate, on both databases: only an adopted motion whose effect
approves that very release (``approve_release``) opens an L3 gate or makes an L4 artifact public, and
the log alone shows it did."""

from __future__ import annotations

import json
from functools import partial

import pytest

from pnyx.core.errors import InvalidInput, NotFound
from pnyx.safety.model import ReleaseStatus
from pnyx.safety.verify import LoggedEvent, PublicKey, parse_entries, verify_release
from pnyx.wiring import Platform
from tests.integration.release_world import POOL_SPLIT, World, entries, label, refused

PUBLIC = label(1)
EVALS_L3 = ("independent-evaluation", "red-team")


@pytest.fixture
def world(platform: Platform) -> World:
    return World(platform)


def test_l3_needs_the_councils_motion_approving_that_release(world: World) -> None:
    release = world.request("job_3/w.bin", 3, label(1, "project:p1"), evaluations=EVALS_L3)
    release = world.approve(world.approve(release, "olga"), "omar")
    assert release.status is ReleaseStatus.REQUESTED
    assert world.releases.missing(release) == ("an adopted council motion",)
    other = world.request("job_5/w.bin", 3, label(1, "project:p1"))
    unrelated = world.table(POOL_SPLIT)  # adopted, about something else
    for_another = world.adopt_approval(other)  # adopted, approving another release
    voting = world.table({"type": "approve_release", "release_id": release.id}, vote=False)
    rita = world.who("rita")
    for motion, code, error in [
        (unrelated, "motion_not_for_release", InvalidInput),
        (for_another, "motion_not_for_release", InvalidInput),
        (voting, "motion_not_adopted", InvalidInput),
        ("mot_none", "motion_not_found", NotFound),
    ]:
        refused(
            world.platform,
            error,
            code,
            "motion_id",
            partial(world.releases.attach_motion, rita, release.id, motion),
        )
    assert world.releases.release(release.id).motion_id is None
    approving = world.adopt_approval(release)
    release = world.releases.attach_motion(rita, release.id, approving)
    assert release.status is ReleaseStatus.RELEASED
    assert release.motion_id == approving


def test_l4_is_never_public_unless_the_council_decided_it(world: World) -> None:
    release = world.request("job_4/w.bin", 4, PUBLIC, evaluations=["safety-case"])
    assert release.status is ReleaseStatus.REQUESTED
    assert world.releases.missing(release) == (
        "3 more approval(s) by: safety-officer",
        "an adopted council motion",
    )
    unrelated = world.table(POOL_SPLIT)
    refused(
        world.platform,
        InvalidInput,
        "motion_not_for_release",
        "motion_id",
        lambda: world.releases.attach_motion(world.who("rita"), release.id, unrelated),
    )
    for officer in ("olga", "omar", "oona"):
        release = world.approve(release, officer)
    assert release.status is ReleaseStatus.REQUESTED  # three officers alone never make L4 public
    release = world.releases.attach_motion(world.who("rita"), release.id, world.adopt_approval(release))
    assert release.status is ReleaseStatus.RELEASED


def test_the_log_proves_the_councils_motion_approved_the_release(world: World, platform: Platform) -> None:
    release = world.request("job_3/w.bin", 3, label(1, "project:p1"), evaluations=EVALS_L3)
    release = world.approve(world.approve(release, "olga"), "omar")
    release = world.releases.attach_motion(world.who("rita"), release.id, world.adopt_approval(release))
    assert release.status is ReleaseStatus.RELEASED
    keys = _public_keys(platform)
    assert verify_release(release.id, _log(platform), keys).ok
    verdict = verify_release(release.id, _log(platform, without="governance.policy.adopted"), keys)
    assert any("motion approving this release" in p for p in verdict.problems)


def _public_keys(platform: Platform) -> dict[str, PublicKey]:
    registered = platform.safety.keys()
    return {k.key_id: PublicKey(user=k.user, key_id=k.key_id, public_key=k.public_key) for k in registered}


def _log(platform: Platform, without: str = "") -> list[LoggedEvent]:
    """The log's entries so far (less those of type ``without``), as an export reads back."""
    kept = [e for e in entries(platform, "") if e["type"] != without]
    return parse_entries(b"\n".join(json.dumps(e).encode() for e in kept))
