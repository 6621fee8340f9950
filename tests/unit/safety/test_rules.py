"""Examples of the pure safety rules: clearance, metering, classification, lifecycles, releases."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pnyx.core.errors import Conflict, Forbidden, InvalidInput
from pnyx.safety import rules, signing
from pnyx.safety.defaults import DEFAULT_POLICY, SOURCES, THRESHOLD_NAMES
from pnyx.safety.model import (
    Approval,
    Classification,
    ClassificationAction,
    ClassificationStatus,
    Egress,
    IncidentAction,
    IncidentStatus,
    Label,
    Readers,
    Release,
    ReleaseAction,
    ReleaseGate,
    ReleaseStatus,
    SafetyLevel,
    SafetyPolicy,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
L1, L2, L3, L4 = SafetyLevel
OFFICER = frozenset({"safety-officer"})
GATE_L2 = DEFAULT_POLICY.of(L2).release


def label(level: SafetyLevel, *categories: str) -> Label:
    return Label(level=level, categories=frozenset(categories))


def a_release(**changes: object) -> Release:
    release = Release(
        id="r1",
        artifact="job-7/weights.safetensors",
        sha256="ab" * 32,
        from_label=label(L2, "project:p1"),
        to_label=label(L1),
        requester="pi",
        status=ReleaseStatus.REQUESTED,
        approvals=(),
        motion_id=None,
        evaluations=(),
        requested_at=NOW,
    )
    return replace(release, **changes)  # type: ignore[arg-type]


def an_approval(approver: str, role: str = "safety-officer") -> Approval:
    return Approval(approver=approver, role=role, key_id="0" * 16, signature="", at=NOW)


def a_classification(level: SafetyLevel, status: ClassificationStatus, **changes: object) -> Classification:
    c = Classification(
        project="p1",
        level=level,
        status=status,
        basis="",
        categories=frozenset(),
        metered_flop=Decimal(0),
        decided_by=(),
        pending_level=None,
        pending_by=None,
        updated_at=NOW,
    )
    return replace(c, **changes)  # type: ignore[arg-type]


# --- defaults ------------------------------------------------------------------------------------


def test_defaults_follow_the_anchor_table() -> None:
    assert [c.level for c in DEFAULT_POLICY.controls] == list(SafetyLevel)
    assert [c.threshold_flop for c in DEFAULT_POLICY.controls] == [0, Decimal("1e23"), Decimal("1e25"), None]
    assert [c.exclusive_nodes for c in DEFAULT_POLICY.controls] == [False, True, True, True]
    assert [c.egress for c in DEFAULT_POLICY.controls] == [
        Egress.PROXY_ALLOWLIST,
        Egress.LOGGED_ALLOWLIST,
        Egress.NONE,
        Egress.NONE,
    ]
    assert DEFAULT_POLICY.of(L2).readers is Readers.NAMED_MEMBERS
    assert DEFAULT_POLICY.of(L3).readers is Readers.JOBS_ONLY
    assert [c.release.approvals for c in DEFAULT_POLICY.controls] == [0, 2, 2, 3]
    assert [c.release.council_motion for c in DEFAULT_POLICY.controls] == [False, False, True, True]
    assert [c.release.public for c in DEFAULT_POLICY.controls] == [True, True, True, False]
    assert DEFAULT_POLICY.efficiency == Decimal("0.4")


def test_every_control_names_its_source() -> None:
    for control in ("levels", "exclusive_nodes", "egress", "readers", "release", "evaluations", "efficiency"):
        assert SOURCES[control]
    for level in THRESHOLD_NAMES:
        assert SOURCES[f"threshold_flop.{level.name}"]
    assert THRESHOLD_NAMES[L2] == "L2_training_flop"


# --- clearance -----------------------------------------------------------------------------------


def test_project_label_adds_its_compartment() -> None:
    assert rules.project_label("p1", L2, frozenset({"bio"})) == label(L2, "bio", "project:p1")
    with pytest.raises(InvalidInput) as e:
        rules.project_label("", L2, frozenset())
    assert e.value.field == "project"


def test_an_l1_project_cannot_read_an_l2_output() -> None:
    out = rules.output_label(rules.project_label("p1", L2, frozenset()), [label(L1)])
    assert not rules.may_read(rules.project_label("p2", L1, frozenset()), out, DEFAULT_POLICY, human=False)
    assert not rules.may_read(rules.project_label("p2", L4, frozenset()), out, DEFAULT_POLICY, human=False)
    assert rules.may_read(rules.project_label("p1", L2, frozenset()), out, DEFAULT_POLICY, human=True)


def test_humans_are_refused_at_jobs_only_levels() -> None:
    clearance = label(L4, "project:p1")
    assert not rules.may_read(clearance, label(L3, "project:p1"), DEFAULT_POLICY, human=True)
    assert rules.may_read(clearance, label(L3, "project:p1"), DEFAULT_POLICY, human=False)


def test_jobs_run_at_their_projects_level_or_above() -> None:
    rules.check_job_level(L2, L2)
    rules.check_job_level(L3, L2)
    with pytest.raises(InvalidInput) as e:
        rules.check_job_level(L1, L2)
    assert e.value.field == "label"
    assert "L2" in e.value.message


# --- metering and classification -----------------------------------------------------------------


def test_job_flop_is_seconds_times_peak_times_efficiency() -> None:
    # One H100-hour at 989 dense bf16 TFLOPS and 40%: 3600 x 989e12 x 0.4.
    assert rules.job_flop(Decimal(3600), Decimal(989), DEFAULT_POLICY) == Decimal("1.42416e18")
    with pytest.raises(InvalidInput) as e:
        rules.job_flop(Decimal(-1), Decimal(989), DEFAULT_POLICY)
    assert e.value.field == "accelerator_seconds"
    with pytest.raises(InvalidInput):
        rules.job_flop(Decimal(1), Decimal(-1), DEFAULT_POLICY)


@pytest.mark.parametrize(
    ("flop", "level"),
    [("0", L1), ("9.99e22", L1), ("1e23", L2), ("9e24", L2), ("1e25", L3), ("1e30", L3)],
)
def test_level_for_compute(flop: str, level: SafetyLevel) -> None:
    assert rules.level_for_compute(Decimal(flop), DEFAULT_POLICY) is level


def classify(
    planned: str = "0",
    requested: str = "0",
    *,
    gp: bool = False,
    dual: bool = False,
    policy: SafetyPolicy = DEFAULT_POLICY,
) -> tuple[SafetyLevel, str]:
    return rules.classify(
        planned_flop=Decimal(planned),
        requested_flop=Decimal(requested),
        general_purpose=gp,
        dual_use_data=dual,
        policy=policy,
    )


def test_self_assessed_l1_with_compute_above_the_l2_threshold_is_l2() -> None:
    level, basis = classify("1e20", "2e23")
    assert level is L2
    assert "2e23" in basis
    assert "L2 threshold" in basis


def test_negative_compute_is_refused() -> None:
    with pytest.raises(InvalidInput) as e:
        classify("0", "-1")
    assert e.value.field == "requested_flop"


def test_narrow_small_projects_are_l1() -> None:
    level, basis = classify("1e20", "1e21")
    assert level is L1
    assert "narrow" in basis
    assert "below" in basis


def test_the_self_assessment_raises_the_level() -> None:
    assert classify(gp=True) == (L2, "L2 because the self-assessment declares a general-purpose model.")
    level, basis = classify("3e25", gp=True, dual=True)
    assert level is L3
    assert "dual-use" in basis
    assert "L3 threshold" in basis
    assert "general-purpose" not in basis


def test_a_lowered_l2_threshold_changes_the_classification() -> None:
    lowered = rules.policy_with_thresholds(DEFAULT_POLICY, {L2: Decimal("1e21")})
    assert classify("5e21")[0] is L1
    assert classify("5e21", policy=lowered)[0] is L2
    assert lowered.of(L3) == DEFAULT_POLICY.of(L3)


def test_adopted_thresholds_override_and_may_arm_l4() -> None:
    policy = rules.policy_with_thresholds(DEFAULT_POLICY, {L4: Decimal("1e27")})
    assert rules.level_for_compute(Decimal("1e27"), policy) is L4
    with pytest.raises(InvalidInput) as e:
        rules.policy_with_thresholds(DEFAULT_POLICY, {L2: Decimal(-1)})
    assert e.value.field == "threshold_flop"


def test_adopted_threshold_names_map_to_levels() -> None:
    adopted = {"L2_training_flop": Decimal("1e22"), "L3_training_flop": Decimal("1e24"), "other": Decimal(1)}
    assert rules.thresholds_by_level(adopted) == {L2: Decimal("1e22"), L3: Decimal("1e24")}


def test_escalation_when_metered_compute_crosses_a_higher_threshold() -> None:
    confirmed = a_classification(L2, ClassificationStatus.CONFIRMED)
    assert rules.escalation(confirmed, Decimal("5e24"), DEFAULT_POLICY) is None
    assert rules.escalation(confirmed, Decimal("1e25"), DEFAULT_POLICY) is L3
    escalated = a_classification(L2, ClassificationStatus.ESCALATED, pending_level=L3)
    assert rules.escalation(escalated, Decimal("2e25"), DEFAULT_POLICY) is None
    assert (
        rules.escalation(
            a_classification(L3, ClassificationStatus.CONFIRMED), Decimal("1e26"), DEFAULT_POLICY
        )
        is None
    )


# --- lifecycles ----------------------------------------------------------------------------------

CS, CA = ClassificationStatus, ClassificationAction
CLASSIFICATION_CASES = [
    (CS.PROPOSED, CA.CONFIRM, CS.CONFIRMED),
    (CS.PROPOSED, CA.PROPOSE_LOWER, CS.LOWERING),
    (CS.PROPOSED, CA.ESCALATE, CS.ESCALATED),
    (CS.CONFIRMED, CA.ESCALATE, CS.ESCALATED),
    (CS.CONFIRMED, CA.PROPOSE_LOWER, CS.LOWERING),
    (CS.ESCALATED, CA.CONFIRM, CS.CONFIRMED),
    (CS.LOWERING, CA.AGREE_LOWER, CS.CONFIRMED),
    (CS.LOWERING, CA.REFUSE_LOWER, CS.CONFIRMED),
    (CS.LOWERING, CA.ESCALATE, CS.ESCALATED),
]
RS, RA = ReleaseStatus, ReleaseAction
RELEASE_CASES = [
    (RS.REQUESTED, RA.APPROVE, RS.REQUESTED),
    (RS.REQUESTED, RA.DECIDE, RS.RELEASED),
    (RS.REQUESTED, RA.REFUSE, RS.REFUSED),
    (RS.REQUESTED, RA.WITHDRAW, RS.WITHDRAWN),
]
INCIDENT_CASES = [
    (IncidentStatus.OPEN, IncidentAction.PROPOSE_LIFT, IncidentStatus.LIFTING),
    (IncidentStatus.LIFTING, IncidentAction.AGREE_LIFT, IncidentStatus.LIFTED),
]


@pytest.mark.parametrize(("status", "action", "target"), CLASSIFICATION_CASES)
def test_classification_transitions(
    status: ClassificationStatus, action: ClassificationAction, target: ClassificationStatus
) -> None:
    assert rules.classification_next(status, action) is target


@pytest.mark.parametrize(("status", "action", "target"), RELEASE_CASES)
def test_release_transitions(status: ReleaseStatus, action: ReleaseAction, target: ReleaseStatus) -> None:
    assert rules.release_next(status, action) is target


@pytest.mark.parametrize(("status", "action", "target"), INCIDENT_CASES)
def test_incident_transitions(status: IncidentStatus, action: IncidentAction, target: IncidentStatus) -> None:
    assert rules.incident_next(status, action) is target


def test_the_tables_hold_exactly_the_listed_transitions() -> None:
    assert dict(rules.CLASSIFICATION_TRANSITIONS) == {(s, a): t for s, a, t in CLASSIFICATION_CASES}
    assert dict(rules.RELEASE_TRANSITIONS) == {(s, a): t for s, a, t in RELEASE_CASES}
    assert dict(rules.INCIDENT_TRANSITIONS) == {(s, a): t for s, a, t in INCIDENT_CASES}


def test_every_other_transition_is_refused_with_a_conflict() -> None:
    refused = 0
    for status in CS:
        for action in CA:
            if (status, action) not in rules.CLASSIFICATION_TRANSITIONS:
                with pytest.raises(Conflict):
                    rules.classification_next(status, action)
                refused += 1
    for rstatus in RS:
        for raction in RA:
            if (rstatus, raction) not in rules.RELEASE_TRANSITIONS:
                with pytest.raises(Conflict):
                    rules.release_next(rstatus, raction)
                refused += 1
    for istatus in IncidentStatus:
        for iaction in IncidentAction:
            if (istatus, iaction) not in rules.INCIDENT_TRANSITIONS:
                with pytest.raises(Conflict):
                    rules.incident_next(istatus, iaction)
                refused += 1
    assert refused == 20 - 9 + 16 - 4 + 6 - 2


def test_a_refused_transition_says_what_is_allowed() -> None:
    with pytest.raises(Conflict) as e:
        rules.classification_next(CS.CONFIRMED, CA.AGREE_LOWER)
    assert e.value.field == "status"
    assert "confirmed" in e.value.message
    assert "escalate" in e.value.message
    with pytest.raises(Conflict) as e:
        rules.release_next(RS.RELEASED, RA.APPROVE)
    assert "released" in e.value.message
    assert "closed" in e.value.message


# --- signatures ----------------------------------------------------------------------------------


def keypair() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, base64.b64encode(raw).decode()


def sign(private: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(private.sign(message)).decode()


def test_approval_message_binds_release_artifact_content_and_labels() -> None:
    text = signing.approval_message(a_release()).decode()
    assert text == (
        "pnyx-release-approval v1\nrelease r1\njob job-7\nartifact-ref 24cd0012a33e3f10\n"
        f"sha256 {'ab' * 32}\nfrom L2+project:p1\nto L1\n"
    )
    assert "weights" not in text  # it is published: it names the artifact by reference, not by path
    for changed in (
        a_release(sha256="cd" * 32),
        a_release(to_label=label(L1, "bio")),
        a_release(artifact="job-7/weights2.safetensors"),
    ):
        assert signing.approval_message(changed) != signing.approval_message(a_release())


def test_an_artifact_is_named_in_public_by_its_job_and_an_opaque_reference() -> None:
    job, ref = signing.public_artifact("job_1/sme_customer_list.csv")
    expected = hashlib.sha256(b"pnyx-artifact-ref\njob_1/sme_customer_list.csv").hexdigest()[:16]
    assert (job, ref) == ("job_1", expected)
    assert signing.public_artifact("job_1/other.csv")[1] != ref


def test_an_ed25519_round_trip_verifies() -> None:
    private, public = keypair()
    message = signing.approval_message(a_release())
    assert signing.verify_signature(public, message, sign(private, message))


def test_tampered_message_signature_or_key_does_not_verify() -> None:
    private, public = keypair()
    _, other = keypair()
    message = signing.approval_message(a_release())
    signature = sign(private, message)
    flipped = bytearray(base64.b64decode(signature))
    flipped[0] ^= 1
    assert not signing.verify_signature(
        public, signing.approval_message(a_release(sha256="00" * 32)), signature
    )
    assert not signing.verify_signature(public, message, base64.b64encode(bytes(flipped)).decode())
    assert not signing.verify_signature(other, message, signature)


MALFORMED = [
    "not base64!",
    "",
    "ключ",
    base64.b64encode(b"short").decode(),
    base64.b64encode(b"x" * 63).decode(),
]


@pytest.mark.parametrize("public", MALFORMED)
def test_malformed_keys_return_false(public: str) -> None:
    private, _ = keypair()
    assert not signing.verify_signature(public, b"m", sign(private, b"m"))


@pytest.mark.parametrize("signature", MALFORMED)
def test_malformed_signatures_return_false(signature: str) -> None:
    _, public = keypair()
    assert not signing.verify_signature(public, b"m", signature)


def test_key_id_is_the_first_16_hex_digits_of_sha256() -> None:
    _, public = keypair()
    raw = signing.decode_public_key(public)
    kid = signing.key_id(raw)
    assert len(kid) == 16
    assert int(kid, 16) >= 0
    with pytest.raises(InvalidInput):
        signing.key_id(b"x" * 31)
    with pytest.raises(InvalidInput) as e:
        signing.decode_public_key("not a key")
    assert e.value.field == "public_key"


# --- approvals and the gate ----------------------------------------------------------------------


def test_an_officer_approves_under_the_gate_role() -> None:
    assert (
        rules.check_approval(a_release(), "officer-a", OFFICER | {"member"}, GATE_L2, now=NOW)
        == "safety-officer"
    )


def test_the_requester_never_approves() -> None:
    with pytest.raises(Forbidden) as e:
        rules.check_approval(a_release(), "pi", OFFICER, GATE_L2, now=NOW)
    assert e.value.field == "approver"


def test_the_same_approver_counts_once() -> None:
    release = a_release(approvals=(an_approval("officer-a"),))
    with pytest.raises(Conflict):
        rules.check_approval(release, "officer-a", OFFICER, GATE_L2, now=NOW)


def test_an_approver_needs_a_role_of_the_gate() -> None:
    with pytest.raises(Forbidden) as e:
        rules.check_approval(a_release(), "someone", frozenset({"member"}), GATE_L2, now=NOW)
    assert "safety-officer" in e.value.message


@pytest.mark.parametrize("status", [RS.RELEASED, RS.REFUSED, RS.WITHDRAWN])
def test_no_approval_after_the_decision(status: ReleaseStatus) -> None:
    with pytest.raises(Conflict):
        rules.check_approval(a_release(status=status), "officer-a", OFFICER, GATE_L2, now=NOW)


def test_release_missing_lists_approvals_motion_and_evaluations() -> None:
    gate = DEFAULT_POLICY.of(L3).release
    required = DEFAULT_POLICY.of(L3).evaluations
    release = a_release(from_label=label(L3), approvals=(an_approval("officer-a"),))
    missing = rules.release_missing(release, gate, evaluations=required)
    assert missing == (
        "1 more approval(s) by: safety-officer",
        "an adopted council motion",
        "evaluation: independent-evaluation",
        "evaluation: red-team",
    )
    complete = replace(
        release,
        approvals=(an_approval("officer-a"), an_approval("officer-b")),
        motion_id="m1",
        evaluations=required,
    )
    assert rules.release_missing(complete, gate, evaluations=required) == ()


def test_approvals_outside_the_gate_roles_do_not_count() -> None:
    release = a_release(approvals=(an_approval("a", role="member"), an_approval("b")))
    assert rules.release_missing(release, GATE_L2) == ("1 more approval(s) by: safety-officer",)


def test_an_l1_release_needs_nothing() -> None:
    assert rules.release_missing(a_release(from_label=label(L1)), DEFAULT_POLICY.of(L1).release) == ()


def test_a_release_goes_strictly_down() -> None:
    rules.check_release_target(label(L2, "project:p1"), label(L1), GATE_L2, public=True)
    rules.check_release_target(label(L2, "project:p1"), label(L2), GATE_L2, public=False)
    for to in (label(L2, "project:p1"), label(L3), label(L1, "bio")):
        with pytest.raises(InvalidInput) as e:
            rules.check_release_target(label(L2, "project:p1"), to, GATE_L2, public=False)
        assert e.value.field == "to_label"


def test_no_public_release_where_the_gate_bars_it() -> None:
    gate = DEFAULT_POLICY.of(L4).release
    rules.check_release_target(label(L4, "project:p1"), label(L4), gate, public=False)
    with pytest.raises(Forbidden):
        rules.check_release_target(label(L4, "project:p1"), label(L1), gate, public=True)
    open_gate = ReleaseGate(approvals=3, roles=("safety-officer",), council_motion=True, public=True)
    rules.check_release_target(label(L4, "project:p1"), label(L1), open_gate, public=True)
