"""A platform with officers holding Ed25519 keys, a council that adopts motions, fake artifacts,
project teams and containment: what the release and incident tests share."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pnyx.adapters import CouncilMotions
from pnyx.core.errors import FacilityError
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.incident_service import IncidentService
from pnyx.safety.model import Label, Release, SafetyLevel
from pnyx.safety.release_service import ReleaseService
from pnyx.safety.signing import approval_message
from pnyx.safety.subjects import StoredArtifact
from pnyx.safety.verify import SignedApproval, sign_approval
from pnyx.wiring import Platform

SHA = "5e" * 32
POOL_SPLIT = {  # an effect about something else than a release
    "type": "set_pool_split",
    "member_pools": "1",
    "open_calls": "0",
    "sme": "0",
    "directors_reserve": "0",
}
TABLES = (
    "safety_releases",
    "safety_approvals",
    "safety_released",
    "safety_incidents",
    "safety_incident_actions",
    "safety_frozen",
    "safety_officer_keys",
    "outbox",
)


def label(level: int, *categories: str) -> Label:
    return Label(level=SafetyLevel(level), categories=frozenset(categories))


@dataclass
class FakeArtifacts:
    stored: dict[str, StoredArtifact] = field(default_factory=dict)

    def artifact(self, artifact_id: str) -> StoredArtifact | None:
        return self.stored.get(artifact_id)


@dataclass
class FakeMotions:
    """Motion states, and the release each approves (``approve_release``), when it does."""

    states: dict[str, str] = field(default_factory=dict)
    approving: dict[str, str] = field(default_factory=dict)

    def motion_state(self, motion_id: str) -> str | None:
        return self.states.get(motion_id)

    def approves_release(self, motion_id: str, release_id: str) -> bool | None:
        if motion_id not in self.states:
            return None
        return self.states[motion_id] == "adopted" and self.approving.get(motion_id) == release_id


@dataclass
class FakeMembers:
    """Each project's team (user names) and the label its members hold."""

    teams: dict[str, set[str]] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)

    def member_clearance(self, principal: Principal, project_id: str) -> Label | None:
        if principal.name not in self.teams.get(project_id, set()):
            return None
        return self.labels.get(project_id)


@dataclass
class FakeProjects:
    known: set[str] = field(default_factory=set)

    def project(self, project_id: str) -> object | None:
        return project_id if project_id in self.known else None


@dataclass
class FakeContainment:
    """Jobs and tokens per project; records what was asked."""

    jobs: dict[str, list[str]] = field(default_factory=dict)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    suspended: set[str] = field(default_factory=set)
    preempted: list[str] = field(default_factory=list)
    fail_on_suspend: bool = False

    def preempt_jobs(self, project: str, reason: str) -> Sequence[str]:
        new = [j for j in self.jobs.get(project, []) if j not in self.preempted]
        self.preempted.extend(new)
        return new

    def suspend_tokens(self, project: str, reason: str) -> Sequence[str]:
        if self.fail_on_suspend:
            raise RuntimeError("identity is down")
        new = [t for t in self.tokens.get(project, []) if t not in self.suspended]
        self.suspended.update(new)
        return new

    def restore_tokens(self, token_ids: Sequence[str]) -> Sequence[str]:
        restored = [t for t in token_ids if t in self.suspended]
        self.suspended.difference_update(restored)
        return restored


class World:
    """Officers olga, omar and oona (safety officers with keys); researchers rita (of p1's team) and
    rudi (of p2's); reza, of p1's team and a safety officer. Both projects' members hold L4 with their
    compartment. The council is the platform's (``adopt``); artifacts and containment are fakes."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.artifacts = FakeArtifacts()
        self.motions = CouncilMotions(platform.council)
        self.members = FakeMembers(
            teams={"p1": {"rita", "reza"}, "p2": {"rudi"}},
            labels={p: label(4, f"project:{p}") for p in ("p1", "p2")},
        )
        self.projects = FakeProjects({"p1", "p2"})
        self.containment = FakeContainment()
        self.releases = ReleaseService(
            platform.uow,
            policy=lambda: DEFAULT_POLICY,
            artifacts=self.artifacts,
            members=self.members,
            motions=self.motions,
        )
        self.incidents = IncidentService(
            platform.uow, projects=self.projects, artifacts=self.artifacts, containment=self.containment
        )
        self.private: dict[str, Ed25519PrivateKey] = {}
        self.key_ids: dict[str, str] = {}
        for name in ("olga", "omar", "oona"):
            self.officer(name)
        platform.identity.register_user(name="rita", roles=["researcher"])
        platform.identity.register_user(name="rudi", roles=["researcher"])
        platform.identity.register_user(name="reza", roles=["researcher", "safety-officer"])
        self.key("reza")
        self.delegates: list[Principal] = []

    def officer(self, name: str) -> None:
        self.platform.identity.register_user(name=name, roles=["safety-officer"])
        self.key(name)

    def key(self, name: str) -> None:
        self.private[name] = Ed25519PrivateKey.generate()
        public = sign_approval(self.private[name], b"").public_key
        self.key_ids[name] = self.platform.safety.register_key(self.who(name), public).key_id

    def who(self, name: str) -> Principal:
        return self.platform.identity.principal_of(name)

    def artifact(self, artifact_id: str, level: int, project: str = "p1", *categories: str) -> Label:
        stored = label(level, f"project:{project}", *categories)
        self.artifacts.stored[artifact_id] = StoredArtifact(label=stored, sha256=SHA, project=project)
        return stored

    def request(self, artifact_id: str, level: int, to: Label, by: str = "rita", **extra: Any) -> Release:
        from_label = self.artifact(artifact_id, level)
        return self.releases.request(
            self.who(by), artifact=artifact_id, sha256=SHA, from_label=from_label, to_label=to, **extra
        )

    def table(self, effect: dict[str, str] | None, *, vote: bool = True) -> str:
        """A motion with ``effect`` put to the council (two member states); with ``vote`` both vote
        yes and it is adopted, else it stays open for voting. Its id."""
        if not self.delegates:
            for code in ("DE", "FR"):
                self.platform.member_states.admit(
                    code=code, name=code, contribution_minor_units=100, population=10
                )
                user = self.platform.identity.register_user(
                    name=f"del{code.lower()}", roles=["delegate"], member_state=code
                )
                self.delegates.append(Principal(user_id=user.id, name=user.name, roles=user.roles))
        motion = self.platform.council.table(
            title="a decision", text="t", decision_type="ordinary", effect=effect, by=self.delegates[0]
        )
        self.platform.votes.open(motion.id, by=LOCAL_CONSOLE)
        if vote:
            for who in self.delegates:
                self.platform.votes.cast(motion.id, "yes", by=who)
            self.platform.votes.close(motion.id, by=LOCAL_CONSOLE)
        return motion.id

    def adopt_approval(self, release: Release) -> str:
        """The council adopts a motion approving ``release``; its id."""
        return self.table({"type": "approve_release", "release_id": release.id})

    def sign(self, release: Release, name: str) -> SignedApproval:
        return sign_approval(self.private[name], approval_message(release))

    def approve(self, release: Release, name: str, *, key_of: str | None = None) -> Release:
        signed = self.sign(release, key_of or name)
        return self.releases.approve(
            self.who(name), release.id, self.key_ids[key_of or name], signed.signature
        )


def snapshot(platform: Platform) -> tuple[object, ...]:
    with platform.engine.connect() as conn:
        return tuple(
            tuple(tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")))
            for table in TABLES
        )


def refused(
    platform: Platform, error: type[FacilityError], code: str, field: str | None, call: Callable[[], object]
) -> FacilityError:
    """The call is refused with ``error`` and ``code`` naming ``field``; nothing changed, nothing logged."""
    before = snapshot(platform)
    with pytest.raises(error) as info:
        call()
    assert info.value.code == code, info.value.message
    assert info.value.field == field, info.value.message
    assert info.value.message
    assert snapshot(platform) == before
    return info.value


def entries(platform: Platform, prefix: str = "safety.") -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        found = [json.loads(r) for r in rows]
    return [e for e in found if e["type"].startswith(prefix)]
