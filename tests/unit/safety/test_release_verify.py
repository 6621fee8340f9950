"""Offline verification of a release from log entries and public keys (pure, no database)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import InvalidInput
from pnyx.core.events import DomainEvent, format_time
from pnyx.governance.policy import PolicyAdopted
from pnyx.safety.events import OfficerKeyRevoked, ReleaseApproved, ReleaseDecided, ReleaseRequested
from pnyx.safety.model import Label, Release, ReleaseStatus, SafetyLevel
from pnyx.safety.signing import approval_message, public_artifact
from pnyx.safety.verify import (
    LoggedEvent,
    PublicKey,
    load_private_key,
    parse_entries,
    parse_keys,
    parse_label,
    sign_approval,
    verify_release,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SHA = "ab" * 32
RELEASE = Release(
    id="rel_000000000001",
    artifact="job_1/model.safetensors",
    sha256=SHA,
    from_label=Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"})),
    to_label=Label(level=SafetyLevel.L1),
    requester="rita",
    status=ReleaseStatus.REQUESTED,
    approvals=(),
    motion_id=None,
    evaluations=(),
    requested_at=T0,
)
EVALUATIONS = ["safety-suite", "capability-screening"]
JOB, REF = public_artifact(RELEASE.artifact)
PRIVATE = {name: Ed25519PrivateKey.generate() for name in ("olga", "omar", "oona", "rita")}


def _key(user: str) -> PublicKey:
    signed = sign_approval(PRIVATE[user], b"")
    return PublicKey(user=user, key_id=signed.key_id, public_key=signed.public_key)


KEYS = {k.key_id: k for k in (_key(u) for u in PRIVATE)}


class Log:
    """A log export under construction: events in order, a second apart."""

    def __init__(self) -> None:
        self.events: list[LoggedEvent] = []

    def add(self, event: DomainEvent) -> Log:
        at = format_time(T0 + timedelta(seconds=len(self.events)))
        self.events.append(LoggedEvent(type=event.event_type, occurred_at=at, data=event.payload()))
        return self

    def request(self, release: Release = RELEASE, approvals: int = 2, motion: bool = False) -> Log:
        return self.add(
            ReleaseRequested(
                release_id=release.id,
                job=JOB,
                artifact_ref=REF,
                sha256=release.sha256,
                from_label=str(release.from_label),
                to_label=str(release.to_label),
                requester=release.requester,
                required_approvals=approvals,
                required_roles=["safety-officer"],
                motion_required=motion,
                evaluations_required=EVALUATIONS,
            )
        )

    def approve(self, user: str, *, key_of: str | None = None, message: bytes | None = None) -> Log:
        signed = sign_approval(PRIVATE[key_of or user], message or approval_message(RELEASE))
        return self.add(
            ReleaseApproved(
                release_id=RELEASE.id,
                approver=user,
                role="safety-officer",
                key_id=signed.key_id,
                signature=signed.signature,
                message=approval_message(RELEASE).decode(),
            )
        )

    def council(self, motion_id: str, release_id: str = RELEASE.id) -> Log:
        """The council adopts ``motion_id`` approving ``release_id``: its policy's entry."""
        content = {"type": "approve_release", "release_id": release_id}
        return self.add(
            PolicyAdopted(
                policy_id="pol_1",
                kind="release_approval",
                subject=release_id,
                version=1,
                effective_from=T0,
                content=content,
                motion_id=motion_id,
            )
        )

    def decide(
        self,
        *approvers: str,
        status: str = "released",
        motion_id: str | None = None,
        artifact: str | None = RELEASE.artifact,
    ) -> Log:
        return self.add(
            ReleaseDecided(
                release_id=RELEASE.id,
                status=status,
                job=JOB,
                artifact_ref=REF,
                artifact=artifact if status == "released" else None,
                sha256=SHA,
                to_label="L1",
                by=approvers[-1] if approvers else "rita",
                motion_id=motion_id,
                evaluations=EVALUATIONS,
                approvers=list(approvers),
            )
        )


def _problems(events: Sequence[LoggedEvent], keys: dict[str, PublicKey] = KEYS) -> list[str]:
    verdict = verify_release(RELEASE.id, events, keys)
    return [*verdict.problems, *(a.problem for a in verdict.approvals if not a.ok)]


def test_two_distinct_officers_verify() -> None:
    log = Log().request().approve("olga").approve("omar").decide("olga", "omar")
    verdict = verify_release(RELEASE.id, log.events, KEYS)
    assert verdict.ok, verdict
    assert verdict.status == "released"
    assert verdict.valid_approvers == ("olga", "omar")
    assert verdict.required == 2


def test_a_forged_signature_fails() -> None:
    log = Log().request().approve("olga").approve("omar", key_of="oona").decide("olga", "omar")
    log.events[2] = _with(log.events[2], key_id=_key("omar").key_id)  # claims omar's key, oona signed
    problems = _problems(log.events)
    assert any("does not verify" in p for p in problems)
    assert any("1 valid approval(s)" in p for p in problems)


def test_a_signature_over_another_message_fails() -> None:
    other = approval_message(RELEASE).replace(SHA.encode(), b"cd" * 32)
    log = Log().request().approve("olga").approve("omar", message=other).decide("olga", "omar")
    assert any("does not verify" in p for p in _problems(log.events))


def test_a_duplicated_approver_counts_once() -> None:
    log = Log().request().approve("olga").approve("olga").decide("olga", "olga")
    verdict = verify_release(RELEASE.id, log.events, KEYS)
    assert not verdict.ok
    assert verdict.valid_approvers == ("olga",)
    assert any("second time" in a.problem for a in verdict.approvals)
    assert any("1 valid approval(s) by distinct people; the gate needs 2" in p for p in verdict.problems)


def test_the_requester_never_counts() -> None:
    log = Log().request().approve("rita").approve("olga").decide("rita", "olga")
    assert "the requester approved their own release" in _problems(log.events)


def test_a_key_of_someone_else_fails() -> None:
    log = Log().request().approve("olga").approve("omar", key_of="oona").decide("olga", "omar")
    assert any("belongs to oona" in p for p in _problems(log.events))


def test_an_unknown_key_fails() -> None:
    log = Log().request().approve("olga").approve("omar").decide("olga", "omar")
    keys = {k: v for k, v in KEYS.items() if v.user != "omar"}
    assert any("not among the public keys" in p for p in _problems(log.events, keys))


def test_a_key_revoked_before_the_approval_fails() -> None:
    log = Log().request().approve("olga")
    log.add(OfficerKeyRevoked(user="omar", key_id=_key("omar").key_id))
    log.approve("omar").decide("olga", "omar")
    assert any("revoked before" in p for p in _problems(log.events))


def test_an_approval_after_the_decision_fails() -> None:
    log = Log().request().approve("olga").approve("omar").decide("olga", "omar").approve("oona")
    assert "it comes after the decision" in _problems(log.events)


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (Log().request().approve("olga").approve("omar"), "still requested"),
        (Log().request().approve("olga").decide(status="refused"), "was refused, not released"),
        (Log().approve("olga"), "no request for release"),
        (
            Log().request(motion=True).approve("olga").approve("omar").decide("olga", "omar"),
            "motion approving this release",
        ),
    ],
)
def test_what_is_not_a_valid_release(log: Log, expected: str) -> None:
    assert any(expected in p for p in _problems(log.events))


def test_a_decision_for_other_content_fails() -> None:
    log = Log().request().approve("olga").approve("omar").decide("olga", "omar")
    log.events[-1] = _with(log.events[-1], sha256="cd" * 32)
    assert any("another artifact, digest or label" in p for p in _problems(log.events))


@pytest.mark.parametrize("artifact", [None, "job_1/other.bin", "job_2/model.safetensors"])
def test_a_released_decision_names_the_artifact_the_request_referred_to(artifact: str | None) -> None:
    log = Log().request().approve("olga").approve("omar").decide("olga", "omar", artifact=artifact)
    assert any("does not name the released artifact" in p for p in _problems(log.events))


def test_the_request_and_the_approvals_name_no_path() -> None:
    log = Log().request().approve("olga").approve("omar").decide("olga", "omar", status="refused")
    assert "model.safetensors" not in json.dumps([e.data for e in log.events], default=str)
    assert approval_message(RELEASE).decode().splitlines()[2:4] == [f"job {JOB}", f"artifact-ref {REF}"]


@pytest.mark.parametrize(
    ("council", "motion_id"),
    [
        (None, "mot_1"),  # no council entry at all
        (("mot_1", "rel_000000000002"), "mot_1"),  # it approved another release
        (("mot_2", RELEASE.id), "mot_1"),  # another motion approved it, not the one named
        (("mot_1", RELEASE.id), None),  # the decision names none
    ],
)
def test_a_motion_counts_only_if_the_log_shows_the_council_approved_this_release(
    council: tuple[str, str] | None, motion_id: str | None
) -> None:
    log = Log() if council is None else Log().council(*council)
    log.request(motion=True).approve("olga").approve("omar").decide("olga", "omar", motion_id=motion_id)
    assert any("motion approving this release" in p for p in _problems(log.events))


def test_the_councils_approval_counts_only_before_the_decision() -> None:
    log = Log().council("mot_1").request(motion=True).approve("olga").approve("omar")
    assert verify_release(RELEASE.id, log.decide("olga", "omar", motion_id="mot_1").events, KEYS).ok
    late = (
        Log().request(motion=True).approve("olga").approve("omar").decide("olga", "omar", motion_id="mot_1")
    )
    assert any("motion approving this release" in p for p in _problems(late.council("mot_1").events))


def _with(event: LoggedEvent, **changes: object) -> LoggedEvent:
    return LoggedEvent(type=event.type, occurred_at=event.occurred_at, data={**event.data, **changes})


# --- reading exports -----------------------------------------------------------------------------


def _canonical(e: LoggedEvent) -> bytes:
    return canonical_json({"type": e.type, "occurred_at": e.occurred_at, "data": dict(e.data)})


def test_entries_parse_from_the_api_json_lines_and_tile_bundles() -> None:
    events = Log().request().approve("olga").approve("omar").decide("olga", "omar").events
    api = json.dumps([{"index": i, "canonical": _canonical(e).decode()} for i, e in enumerate(events)])
    lines = b"\n".join(_canonical(e) for e in events)
    bundle = b"".join(len(_canonical(e)).to_bytes(2, "big") + _canonical(e) for e in events)
    for raw in (api.encode(), lines, bundle):
        parsed = parse_entries(raw)
        assert [p.type for p in parsed] == [e.type for e in events]
        assert verify_release(RELEASE.id, parsed, KEYS).ok


def test_a_bundle_twice_counts_once() -> None:
    events = Log().request().approve("olga").approve("omar").decide("olga", "omar").events
    bundle = b"".join(len(_canonical(e)).to_bytes(2, "big") + _canonical(e) for e in events)
    assert len(parse_entries(bundle + bundle)) == len(events)


@pytest.mark.parametrize("raw", [b"[1, 2]", b'{"type": 1}', b"\x00\x05ab", b"[", b'{"x": 1}'])
def test_a_malformed_export_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_entries(raw)
    assert caught.value.field == "log"


def test_keys_parse_from_json_and_text_lines() -> None:
    olga = _key("olga")
    as_json = json.dumps([{"user": "olga", "public_key": olga.public_key, "key_id": olga.key_id}])
    wrapped = json.dumps({"keys": [{"user": "olga", "public_key": olga.public_key}]})
    text = f"# officers\nolga {olga.public_key}  # laptop\n"
    listed = f"{olga.key_id} olga {olga.public_key} revoked 2026-11-25 09:00\n"
    for raw in (as_json, wrapped, text, listed):
        assert parse_keys(raw.encode()) == {olga.key_id: olga}


@pytest.mark.parametrize(
    "raw",
    ['[{"user": "olga"}]', '[{"user": "olga", "public_key": "AAAA"}]', "olga", '{"keys": 3}'],
)
def test_bad_keys_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_keys(raw.encode())
    assert caught.value.field in {"keys", "public_key"}


def test_a_key_id_that_is_not_its_keys_is_refused() -> None:
    olga = _key("olga")
    raw = json.dumps([{"user": "olga", "public_key": olga.public_key, "key_id": "0" * 16}])
    with pytest.raises(InvalidInput, match="not its key's id"):
        parse_keys(raw.encode())


# --- labels and private keys ---------------------------------------------------------------------

labels = st.builds(
    Label,
    level=st.sampled_from(list(SafetyLevel)),
    categories=st.frozensets(st.sampled_from(["bio", "cyber", "project:p-1", "sme:p_2.x"])),
)


@given(labels)
def test_a_label_reads_back_as_written(label: Label) -> None:
    assert parse_label(str(label)) == label


@pytest.mark.parametrize("text", ["", "L5", "l2", "L2+", "L2+bad category", "L2+a+b\x00"])
def test_a_bad_label_names_its_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_label(text, "to_label")
    assert caught.value.field == "to_label"


def test_private_keys_load_from_pem_openssh_and_a_raw_seed() -> None:
    key = PRIVATE["olga"]
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ssh = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    seed = base64.b64encode(
        key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
    )
    for raw in (pem, ssh, seed + b"\n"):
        assert sign_approval(load_private_key(raw), b"m").key_id == _key("olga").key_id


@pytest.mark.parametrize(
    "raw", [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"]
)
def test_a_bad_private_key_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_private_key(raw)
    assert caught.value.field == "key_file"
