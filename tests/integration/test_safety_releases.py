"""Release decisions on both databases: k-of-n Ed25519 approvals by distinct people publish a new,
lower-labelled record; the log alone (with the public keys) proves it; every refusal changes nothing
and logs nothing."""

from __future__ import annotations

import contextlib
import json
from functools import partial

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pnyx.core.errors import Conflict, FacilityError, Forbidden, InvalidInput
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Release, ReleaseStatus, SubjectKind
from pnyx.safety.verify import PublicKey, parse_entries, verify_release
from pnyx.wiring import Platform
from tests.integration.release_world import POOL_SPLIT, SHA, World, entries, label, refused

PUBLIC = label(1)
EVALS_L2 = ("safety-suite", "capability-screening")


@pytest.fixture
def world(platform: Platform) -> World:
    return World(platform)


def test_two_distinct_officers_publish_a_new_lower_record(world: World, platform: Platform) -> None:
    release = world.request("job_1/model.bin", 2, PUBLIC)
    assert release.status is ReleaseStatus.REQUESTED
    assert len(world.releases.missing(release)) == 3  # two approvals, two evaluations (one line each)
    for name in EVALS_L2:
        release = world.releases.attach_evaluation(world.who("rita"), release.id, name)
    release = world.approve(release, "olga")
    assert release.status is ReleaseStatus.REQUESTED
    assert world.releases.missing(release) == ("1 more approval(s) by: safety-officer",)
    release = world.approve(release, "omar")
    assert release.status is ReleaseStatus.RELEASED
    assert [a.approver for a in release.approvals] == ["olga", "omar"]
    record = world.releases.released(release.id)
    assert record is not None
    assert (record.artifact, record.sha256, record.label) == ("job_1/model.bin", SHA, PUBLIC)
    assert world.artifacts.stored["job_1/model.bin"].label == label(2, "project:p1")  # never relabelled
    assert world.releases.release(release.id) == release
    types = [e["type"] for e in entries(platform, "safety.release.")]
    assert types == [
        "safety.release.requested",
        "safety.release.approved",
        "safety.release.approved",
        "safety.release.decided",
    ]


def test_the_log_and_the_public_keys_alone_prove_the_release(world: World, platform: Platform) -> None:
    release = world.request("job_1/model.bin", 2, PUBLIC, evaluations=EVALS_L2)
    world.approve(release, "olga")
    world.approve(release, "omar")
    platform.log.drain()
    exported = b"\n".join(e.data for e in platform.log.entries(0, platform.log.size()))
    registered = platform.safety.keys()
    keys = {k.key_id: PublicKey(user=k.user, key_id=k.key_id, public_key=k.public_key) for k in registered}
    verdict = verify_release(release.id, parse_entries(exported), keys)
    assert verdict.ok, verdict
    assert verdict.valid_approvers == ("olga", "omar")


def test_l1_needs_no_approval_only_its_evaluation(world: World) -> None:
    release = world.request("job_1/notes.txt", 1, PUBLIC, evaluations=["licence-provenance"])
    assert release.status is ReleaseStatus.RELEASED
    assert release.approvals == ()


# --- bad input: each refused with a clear error; nothing changes, nothing is logged --------------


def test_the_requester_never_approves(world: World) -> None:
    release = world.request("job_1/m", 2, PUBLIC, by="reza")  # reza is also a safety officer
    refused(
        world.platform, Forbidden, "requester_approval", "approver", lambda: world.approve(release, "reza")
    )


def test_a_second_approval_by_the_same_person(world: World) -> None:
    release = world.approve(world.request("job_1/m", 2, PUBLIC), "olga")
    refused(world.platform, Conflict, "duplicate", "approver", lambda: world.approve(release, "olga"))


def test_an_approval_with_a_key_that_is_not_the_officers(world: World) -> None:
    release = world.request("job_1/m", 2, PUBLIC)
    signed = world.sign(release, "omar")  # omar's key and signature, presented by olga
    refused(
        world.platform,
        Forbidden,
        "key_not_yours",
        "key_id",
        lambda: world.releases.approve(world.who("olga"), release.id, signed.key_id, signed.signature),
    )
    refused(
        world.platform,
        Forbidden,
        "key_not_yours",
        "key_id",
        lambda: world.releases.approve(world.who("olga"), release.id, "0" * 16, signed.signature),
    )


def test_an_approval_with_a_revoked_key(world: World) -> None:
    release = world.request("job_1/m", 2, PUBLIC)
    world.platform.safety.revoke_key(world.who("olga"), world.key_ids["olga"])
    refused(world.platform, Forbidden, "key_revoked", "key_id", lambda: world.approve(release, "olga"))


def test_an_approval_with_a_bad_signature(world: World) -> None:
    release = world.request("job_1/m", 2, PUBLIC)
    other = world.request("job_2/m", 2, PUBLIC)
    signed = world.sign(other, "olga")  # a valid signature, over another release
    for signature in (signed.signature, "not base64!", ""):
        refused(
            world.platform,
            InvalidInput,
            "signature_invalid",
            "signature",
            partial(world.releases.approve, world.who("olga"), release.id, world.key_ids["olga"], signature),
        )


def test_an_approval_after_the_decision(world: World) -> None:
    release = world.request("job_1/m", 2, PUBLIC, evaluations=EVALS_L2)
    release = world.approve(world.approve(release, "olga"), "omar")
    assert release.status is ReleaseStatus.RELEASED
    refused(world.platform, Conflict, "invalid_transition", "status", lambda: world.approve(release, "oona"))


def test_an_approval_by_someone_in_no_role_of_the_gate(world: World) -> None:
    release = world.request("job_1/m", 2, PUBLIC, by="reza")
    refused(
        world.platform,
        Forbidden,
        "not_an_approver",
        "approver",
        lambda: world.releases.approve(world.who("rita"), release.id, world.key_ids["olga"], "x"),
    )


def test_refuse_and_withdraw(world: World) -> None:
    first = world.request("job_1/m", 2, PUBLIC)
    refused(
        world.platform,
        Forbidden,
        "forbidden",
        None,
        lambda: world.releases.refuse(world.who("rita"), first.id),
    )
    refused(
        world.platform,
        Forbidden,
        "forbidden",
        "release_id",
        lambda: world.releases.withdraw(world.who("olga"), first.id),
    )
    assert world.releases.refuse(world.who("olga"), first.id).status is ReleaseStatus.REFUSED
    refused(world.platform, Conflict, "invalid_transition", "status", lambda: world.approve(first, "omar"))
    second = world.request("job_2/m", 2, PUBLIC)
    assert world.releases.withdraw(world.who("rita"), second.id).status is ReleaseStatus.WITHDRAWN
    refused(
        world.platform,
        Conflict,
        "release_decided",
        "release_id",
        lambda: world.releases.attach_evaluation(world.who("rita"), second.id, "safety-suite"),
    )
    statuses = {r.id: r.status for r in world.releases.releases()}
    assert statuses == {first.id: ReleaseStatus.REFUSED, second.id: ReleaseStatus.WITHDRAWN}
    assert world.releases.releases(status=ReleaseStatus.REQUESTED) == []


def test_a_frozen_artifact_is_not_released(world: World) -> None:
    release = world.request("job_1/m", 2, PUBLIC, evaluations=EVALS_L2)
    world.approve(release, "olga")
    world.incidents.open(world.who("oona"), SubjectKind.PROJECT, "p1", "suspected exfiltration", True)
    refused(world.platform, Conflict, "artifact_frozen", "artifact", lambda: world.approve(release, "omar"))
    refused(
        world.platform, Conflict, "artifact_frozen", "artifact", lambda: world.request("job_2/m", 2, PUBLIC)
    )


# --- property: no sequence of calls publishes without the gate's approvals ------------------------

PEOPLE = ("olga", "omar", "oona", "rita", "reza")
STEP = st.tuples(
    st.sampled_from(
        ["approve", "approve-with-omars-key", "evaluation", "motion", "council", "refuse", "withdraw"]
    ),
    st.sampled_from(PEOPLE),
    st.sampled_from(["safety-suite", "capability-screening", "independent-evaluation", "red-team"]),
)
SEQUENCE = st.tuples(st.sampled_from([2, 3]), st.sampled_from(["rita", "reza"]), st.lists(STEP, max_size=8))


def test_no_sequence_of_calls_publishes_without_the_gate(world: World, platform: Platform) -> None:
    unrelated = world.table(POOL_SPLIT)  # an adopted motion about something else
    counter = iter(range(10**6))

    outcomes: list[ReleaseStatus] = []

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(SEQUENCE)
    @example(
        (
            2,
            "rita",
            [
                ("evaluation", "rita", "safety-suite"),
                ("evaluation", "olga", "capability-screening"),
                ("approve", "olga", ""),
                ("approve", "olga", ""),
                ("approve", "omar", ""),
            ],
        )
    )
    def run(sequence: tuple[int, str, list[tuple[str, str, str]]]) -> None:
        level, requester, steps = sequence
        release = world.request(f"job_{next(counter)}/w.bin", level, PUBLIC, by=requester)
        for op, who, name in steps:
            with contextlib.suppress(FacilityError):
                release = _step(world, release, op, who, name, unrelated)
        outcomes.append(_check(world, platform, world.releases.release(release.id)))

    run()
    assert ReleaseStatus.RELEASED in outcomes


def _step(world: World, release: Release, op: str, who: str, name: str, unrelated: str) -> Release:
    person = world.who(who)
    if op == "approve":  # rita has no key: she presents olga's
        return world.approve(release, who, key_of=who if who in world.private else "olga")
    if op == "approve-with-omars-key":
        signed = world.sign(release, "omar")
        return world.releases.approve(person, release.id, signed.key_id, signed.signature)
    if op == "evaluation":
        return world.releases.attach_evaluation(person, release.id, name)
    if op == "motion":  # refused: the motion did not decide this release
        return world.releases.attach_motion(person, release.id, unrelated)
    if op == "council":  # the council adopts a motion approving this release
        return world.releases.attach_motion(person, release.id, world.adopt_approval(release))
    if op == "refuse":
        return world.releases.refuse(person, release.id)
    return world.releases.withdraw(person, release.id)


def _check(world: World, platform: Platform, release: Release) -> ReleaseStatus:
    controls = DEFAULT_POLICY.of(release.from_label.level)
    record = world.releases.released(release.id)
    approvers = [a.approver for a in release.approvals]
    assert len(approvers) == len(set(approvers))  # distinct people
    assert release.requester not in approvers
    assert world.artifacts.stored[release.artifact].label == release.from_label  # never relabelled
    if record is None:
        assert release.status is not ReleaseStatus.RELEASED
        return release.status
    assert release.status is ReleaseStatus.RELEASED
    assert len(approvers) >= controls.release.approvals
    assert set(controls.evaluations) <= set(release.evaluations)
    if controls.release.council_motion:
        assert release.motion_id is not None
        assert world.motions.approves_release(release.motion_id, release.id)
    registered = platform.safety.keys()
    keys = {k.key_id: PublicKey(user=k.user, key_id=k.key_id, public_key=k.public_key) for k in registered}
    logged = b"\n".join(json.dumps(e).encode() for e in entries(platform, "safety."))
    assert verify_release(release.id, parse_entries(logged), keys).ok
    return release.status
