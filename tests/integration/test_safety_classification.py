"""Classification on both databases: derived from the proposal under the thresholds in force, officers'
acts, metering and escalation, approvers' keys; every refusal leaves everything as it was."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pnyx.adapters import MeteredUsage
from pnyx.core.errors import Conflict, FacilityError, Forbidden, InvalidInput, NotFound, Unauthenticated
from pnyx.identity.model import ANONYMOUS, LOCAL_CONSOLE, Principal
from pnyx.safety import signing
from pnyx.safety.model import ClassificationStatus, SafetyLevel
from pnyx.safety.store import ClassificationRepository, OfficerKeyRepository
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import DAY, World

NARROW = {"planned_training_flop": 10**21, "general_purpose": False, "dual_use_data": False}
H100_FLOP_PER_HOUR = Decimal(3600) * Decimal(989) * Decimal(10) ** 12 * Decimal("0.4")  # 1.424e18


def public_key() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


class Facility:
    """A platform with a researcher, two safety officers and an open call; projects on demand."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.world = World(platform)
        self.pi = self.world.user("alice", ["researcher"])
        self.officer = self.world.user("sofia", ["safety-officer"])
        self.second = self.world.user("omar", ["safety-officer"])
        self.call = self.world.call()
        platform.allocation.open_call(self.call.id)

    def project(self, hours: int = 1000, **safety: Any) -> str:
        """An awarded project whose proposal asked ``hours`` of H100 with this self-assessment."""
        assessment = {**NARROW, "open_weights_planned": True, **safety}
        proposal = self.world.propose(self.call, "alice", requested_hours={"H100": hours}, safety=assessment)
        return self.world.award(self.call, proposal)


@pytest.fixture
def facility(platform: Platform) -> Facility:
    return Facility(platform)


def entries(platform: Platform, prefix: str = "safety.") -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        found = [json.loads(r) for r in rows]
    return [e for e in found if e["type"].startswith(prefix)]


def snapshot(platform: Platform) -> tuple[object, ...]:
    """Everything a refused request must leave untouched."""
    with platform.engine.connect() as conn:
        return tuple(
            tuple(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")))
            for table in ("safety_classifications", "safety_officer_keys", "outbox")
        )


def refused(
    platform: Platform, error: type[FacilityError], field: str | None, call: Callable[[], object]
) -> None:
    before = snapshot(platform)
    with pytest.raises(error) as info:
        call()
    assert info.value.field == field, info.value
    assert snapshot(platform) == before


# --- derived classification ----------------------------------------------------------------------


def test_a_narrow_small_project_is_l1_and_confirmed_at_once(facility: Facility, platform: Platform) -> None:
    project = facility.project()
    c = platform.safety.ensure_classified(project)
    assert (c.level, c.status, c.holds_jobs) == (SafetyLevel.L1, ClassificationStatus.CONFIRMED, False)
    assert c.basis.startswith("L1 because")
    assert platform.safety.ensure_classified(project) == c
    assert platform.safety.classification(project) == c
    [logged] = entries(platform)
    assert logged["type"] == "safety.project.classified"
    assert logged["data"] | {"basis": ""} == {
        "project": project,
        "level": "L1",
        "status": "confirmed",
        "basis": "",
        "planned_flop": "1000000000000000000000",
    }
    assert platform.safety.queue() == []


def test_self_assessed_l1_requesting_compute_above_l2_is_l2_and_waits_for_an_officer(
    facility: Facility, platform: Platform
) -> None:
    """100,000 H100-hours at 40% of 989 TFLOPS is 1.4e23 FLOP: above the L2 threshold of 1e23."""
    project = facility.project(hours=100_000)
    c = platform.safety.ensure_classified(project)
    assert (c.level, c.status, c.holds_jobs) == (SafetyLevel.L2, ClassificationStatus.PROPOSED, True)
    assert "1.42e23" in c.basis
    assert [q.project for q in platform.safety.queue()] == [project]
    assert platform.safety.levels()[SafetyLevel.L2] == [project]


@pytest.mark.parametrize(
    ("safety", "level"),
    [({"general_purpose": True}, SafetyLevel.L2), ({"dual_use_data": True}, SafetyLevel.L3)],
)
def test_the_self_assessment_raises_the_level(
    facility: Facility, platform: Platform, safety: dict[str, bool], level: SafetyLevel
) -> None:
    assert platform.safety.ensure_classified(facility.project(**safety)).level is level


def test_an_unknown_project_is_refused(facility: Facility, platform: Platform) -> None:
    refused(platform, NotFound, "project_id", lambda: platform.safety.ensure_classified("prj_nothing"))
    refused(platform, NotFound, "project_id", lambda: platform.safety.classification("prj_nothing"))


def test_a_motion_lowering_the_l2_threshold_changes_the_next_classification(
    facility: Facility, platform: Platform
) -> None:
    before = facility.project(hours=10, planned_training_flop=5 * 10**22)
    assert platform.safety.ensure_classified(before).level is SafetyLevel.L1
    adopt(platform, {"type": "set_safety_threshold", "name": "L2_training_flop", "value": "1e22"})
    assert platform.safety.policy().of(SafetyLevel.L2).threshold_flop == Decimal("1e22")
    after = facility.project(hours=10, planned_training_flop=5 * 10**22)
    c = platform.safety.ensure_classified(after)
    assert (c.level, c.status) == (SafetyLevel.L2, ClassificationStatus.PROPOSED)
    assert "L2 threshold of 1e22" in c.basis
    assert platform.safety.classification(before).level is SafetyLevel.L1  # stored, not re-derived


def adopt(platform: Platform, effect: dict[str, str]) -> None:
    """The council adopts ``effect`` (two member states, both voting yes)."""
    delegates = {}
    for code in ("DE", "FR"):
        platform.member_states.admit(code=code, name=code, contribution_minor_units=100, population=10)
        user = platform.identity.register_user(
            name=f"del{code.lower()}", roles=["delegate"], member_state=code
        )
        delegates[code] = Principal(user_id=user.id, name=user.name, roles=user.roles)
    motion = platform.council.table(
        title="threshold", text="t", decision_type="ordinary", effect=effect, by=delegates["DE"]
    )
    platform.votes.open(motion.id, by=LOCAL_CONSOLE)
    for who in delegates.values():
        platform.votes.cast(motion.id, "yes", by=who)
    platform.votes.close(motion.id, by=LOCAL_CONSOLE)


# --- officers' acts ------------------------------------------------------------------------------


def test_an_officer_confirms_or_raises(facility: Facility, platform: Platform) -> None:
    project = facility.project(general_purpose=True)
    platform.safety.ensure_classified(project)
    refused(platform, Forbidden, None, lambda: platform.safety.confirm(project, by=facility.pi))
    refused(platform, Unauthenticated, None, lambda: platform.safety.confirm(project, by=ANONYMOUS))
    c = platform.safety.confirm(project, by=facility.officer)
    assert (c.level, c.status, c.decided_by) == (SafetyLevel.L2, ClassificationStatus.CONFIRMED, ("sofia",))
    refused(platform, Conflict, "status", lambda: platform.safety.confirm(project, by=facility.officer))
    c = platform.safety.raise_level(project, "L3", by=facility.second)
    assert (c.level, c.status, c.decided_by) == (
        SafetyLevel.L3,
        ClassificationStatus.CONFIRMED,
        ("sofia", "omar"),
    )
    assert [(e["data"]["action"], e["data"]["level"]) for e in entries(platform)[1:]] == [
        ("confirm", "L2"),
        ("raise", "L3"),
    ]


def test_bad_officer_input_is_refused_naming_the_field(facility: Facility, platform: Platform) -> None:
    project = facility.project(general_purpose=True)
    platform.safety.ensure_classified(project)
    officer = facility.officer
    refused(platform, InvalidInput, "level", lambda: platform.safety.raise_level(project, "L1", by=officer))
    refused(platform, InvalidInput, "level", lambda: platform.safety.raise_level(project, "L2", by=officer))
    refused(platform, InvalidInput, "level", lambda: platform.safety.raise_level(project, "L7", by=officer))
    refused(platform, InvalidInput, "level", lambda: platform.safety.propose_lower(project, "L2", by=officer))
    refused(platform, InvalidInput, "level", lambda: platform.safety.propose_lower(project, "L3", by=officer))
    refused(
        platform, InvalidInput, "level", lambda: platform.safety.propose_lower(project, "high", by=officer)
    )
    refused(platform, NotFound, "project_id", lambda: platform.safety.confirm("prj_none", by=officer))
    refused(platform, Conflict, "status", lambda: platform.safety.agree_lower(project, by=officer))


def test_lowering_needs_a_second_different_officer(facility: Facility, platform: Platform) -> None:
    project = facility.project(general_purpose=True)
    platform.safety.ensure_classified(project)
    c = platform.safety.propose_lower(project, "L1", by=facility.officer)
    assert (c.level, c.status, c.pending_level, c.pending_by) == (
        SafetyLevel.L2,
        ClassificationStatus.LOWERING,
        SafetyLevel.L1,
        "sofia",
    )
    assert [q.status for q in platform.safety.queue()] == [ClassificationStatus.LOWERING]
    refused(platform, Forbidden, "by", lambda: platform.safety.agree_lower(project, by=facility.officer))
    refused(platform, Forbidden, None, lambda: platform.safety.agree_lower(project, by=facility.pi))
    c = platform.safety.agree_lower(project, by=facility.second)
    assert (c.level, c.status, c.pending_level, c.decided_by) == (
        SafetyLevel.L1,
        ClassificationStatus.CONFIRMED,
        None,
        ("sofia", "omar"),
    )
    assert platform.safety.queue() == []


def test_a_refused_lowering_leaves_the_level_confirmed(facility: Facility, platform: Platform) -> None:
    project = facility.project(dual_use_data=True)
    platform.safety.ensure_classified(project)
    platform.safety.propose_lower(project, SafetyLevel.L2, by=facility.officer)
    c = platform.safety.refuse_lower(project, by=facility.second)
    assert (c.level, c.status, c.pending_level) == (SafetyLevel.L3, ClassificationStatus.CONFIRMED, None)
    assert entries(platform)[-1]["data"]["action"] == "refuse-lower"


# --- metering ------------------------------------------------------------------------------------


def test_metered_compute_crossing_a_threshold_escalates_until_an_officer_confirms(
    facility: Facility, platform: Platform
) -> None:
    project = facility.project()
    c = platform.safety.meter(project, Decimal("6e22"))  # classifies first: L1
    assert (c.level, c.status, c.metered_flop) == (
        SafetyLevel.L1,
        ClassificationStatus.CONFIRMED,
        Decimal("6e22"),
    )
    c = platform.safety.meter(project, Decimal("5e22"))
    assert (c.status, c.pending_level, c.holds_jobs) == (ClassificationStatus.ESCALATED, SafetyLevel.L2, True)
    last = entries(platform)[-1]["data"]
    assert (last["action"], last["by"], last["pending_level"]) == ("escalate", "metering", "L2")
    assert [q.project for q in platform.safety.queue()] == [project]
    c = platform.safety.meter(project, Decimal("1e25"))  # still waiting, and now L3 reached
    assert (c.status, c.pending_level) == (ClassificationStatus.ESCALATED, SafetyLevel.L3)
    refused(
        platform,
        InvalidInput,
        "level",
        lambda: platform.safety.raise_level(project, "L2", by=facility.officer),
    )
    c = platform.safety.confirm(project, by=facility.officer)
    assert (c.level, c.status, c.pending_level, c.holds_jobs) == (
        SafetyLevel.L3,
        ClassificationStatus.CONFIRMED,
        None,
        False,
    )
    refused(platform, InvalidInput, "flop", lambda: platform.safety.meter(project, Decimal(-1)))
    refused(platform, InvalidInput, "flop", lambda: platform.safety.meter(project, Decimal("NaN")))


def test_metering_from_accounting_records_counts_each_job_once(
    facility: Facility, platform: Platform
) -> None:
    project = facility.project()
    sink = MeteredUsage(platform.accounting, platform.safety)
    start = datetime(2027, 3, 1, tzinfo=UTC)
    for job, hours in (("j1", 10), ("j2", 30)):
        sink.record_usage(
            job_id=job,
            project_id=project,
            accelerator_type="H100-SXM",
            accelerators=8,
            started_at=start,
            ended_at=start + hours * DAY / 24,
        )
    expected = 8 * 40 * H100_FLOP_PER_HOUR
    assert platform.safety.classification(project).metered_flop == expected
    assert platform.safety.meter_from_usage(project).metered_flop == expected  # again: the same


def test_metering_from_usage_escalates(facility: Facility, platform: Platform) -> None:
    project = facility.project()
    start = datetime(2027, 3, 1, tzinfo=UTC)
    platform.accounting.record_usage(
        job_id="big",
        project_id=project,
        accelerator_type="GB200",
        accelerators=4096,
        started_at=start,
        ended_at=start + 10 * DAY,
    )
    c = platform.safety.meter_from_usage(project)
    assert (c.status, c.pending_level) == (ClassificationStatus.ESCALATED, SafetyLevel.L2)


# --- approvers' keys -----------------------------------------------------------------------------


def test_officers_register_and_revoke_their_keys(facility: Facility, platform: Platform) -> None:
    text = public_key()
    key = platform.safety.register_key(facility.officer, text)
    assert key.key_id == signing.key_id(base64.b64decode(text))
    assert (key.user, key.public_key, key.revoked_at) == ("sofia", text, None)
    with platform.uow.read() as conn:
        repo = OfficerKeyRepository(conn)
        assert repo.keys_of("sofia") == [key]
        assert repo.key(key.key_id) == key
        assert repo.key("0" * 16) is None
    assert platform.safety.keys() == [key]
    logged = entries(platform)[-1]
    assert logged["type"] == "safety.key.registered"
    assert logged["data"] == {"user": "sofia", "key_id": key.key_id, "public_key": text}

    refused(platform, Conflict, "public_key", lambda: platform.safety.register_key(facility.second, text))
    refused(platform, Forbidden, None, lambda: platform.safety.register_key(facility.pi, public_key()))
    refused(platform, Unauthenticated, None, lambda: platform.safety.register_key(ANONYMOUS, public_key()))
    refused(platform, InvalidInput, "public_key", lambda: platform.safety.register_key(facility.officer, "x"))
    short = base64.b64encode(b"0" * 31).decode()
    refused(
        platform, InvalidInput, "public_key", lambda: platform.safety.register_key(facility.officer, short)
    )
    refused(platform, Forbidden, "key_id", lambda: platform.safety.revoke_key(facility.second, key.key_id))
    refused(platform, NotFound, "key_id", lambda: platform.safety.revoke_key(facility.officer, "f" * 16))

    revoked = platform.safety.revoke_key(facility.officer, key.key_id)
    assert revoked.revoked_at is not None
    assert platform.safety.keys("sofia") == [revoked]
    assert entries(platform)[-1]["type"] == "safety.key.revoked"
    refused(platform, Conflict, "key_id", lambda: platform.safety.revoke_key(facility.officer, key.key_id))


WEAK_KEYS = [
    "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # the identity (finding F5)
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # order 4
    base64.b64encode((2**255 - 20).to_bytes(32, "little")).decode(),  # y = p - 1: order 2
    base64.b64encode((2**255 - 19).to_bytes(32, "little")).decode(),  # y = p: not canonical
    base64.b64encode((2).to_bytes(32, "little")).decode(),  # y = 2: no curve point
]


@pytest.mark.parametrize("weak", WEAK_KEYS)
def test_weak_keys_are_refused_at_registration_and_nothing_is_logged(
    facility: Facility, platform: Platform, weak: str
) -> None:
    refused(
        platform, InvalidInput, "public_key", lambda: platform.safety.register_key(facility.officer, weak)
    )
    assert platform.safety.keys() == []


def test_a_concurrent_first_classification_is_stored_once(facility: Facility, platform: Platform) -> None:
    project = facility.project()
    made = platform.safety.ensure_classified(project)
    with platform.uow.write() as tx:
        again = replace(made, level=SafetyLevel.L4, basis="another request's")
        assert ClassificationRepository(tx.conn).add_once(again) is False
    assert platform.safety.classification(project) == made
