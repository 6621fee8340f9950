"""Release decisions: k-of-n Ed25519 approvals by distinct people publish an artifact under a lower
label, as a new record (the original is never relabelled).

The approver signs ``signing.approval_message(release)`` where their private key lives (``pnyx safety
release sign``); the server sees only the signature, checks it against the key the approver
registered, and logs it with the signed text, so anyone can check the decision offline
(``pnyx safety verify-release``). The gate is the ``from_label`` level's ``ReleaseGate``; where it
needs the council, only an adopted motion whose effect approves this very release counts.

Who may ask, and what a request must match, is ``release_checks``. Public entries name an artifact
that is not released by its job and an opaque reference (``signing.public_artifact``); only the
decision that releases it names its path.

Evaluations a level requires are attached by name (at the request, or by ``attach_evaluation``),
and a name is attached only when ``evidence`` shows a result backs it: for a model version's file,
the registry's stored, signed, passing result of that evaluation for that very version
(``registry.evaluation_evidence``); a name stays the requester's attestation for any other artifact,
and wherever no evidence is wired (``AttestedByName``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Protocol

import sqlalchemy as sa

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.safety.events import ReleaseApproved, ReleaseDecided, ReleaseRequested
from pnyx.safety.incident_store import FrozenRepository
from pnyx.safety.model import (
    Approval,
    Label,
    OfficerKey,
    Release,
    ReleaseAction,
    ReleaseGate,
    ReleaseStatus,
    SafetyPolicy,
)
from pnyx.safety.release_checks import (
    ADOPTED,
    check_evidence,
    check_motion,
    check_stored,
    check_target,
    evaluation_names,
    may_request,
    release_gate,
    with_evaluation,
)
from pnyx.safety.release_store import ReleasedArtifact, ReleaseRepository
from pnyx.safety.rules import check_approval, release_missing, release_next
from pnyx.safety.signing import approval_message, public_artifact, verify_signature
from pnyx.safety.store import OfficerKeyRepository
from pnyx.safety.subjects import Artifacts, Members, Motions

REQUESTERS = (Role.RESEARCHER, Role.SAFETY_OFFICER, Role.OPERATOR)


class OfficerKeys(Protocol):
    """Approvers' registered public keys (``safety.store.OfficerKeyRepository``)."""

    def key(self, key_id: str) -> OfficerKey | None: ...


class EvaluationEvidence(Protocol):
    """Whether stored results back an evaluation named for an artifact's release."""

    def missing(self, artifact: str, name: str) -> str | None:
        """Why no result of evaluation ``name`` backs releasing ``artifact``; None when one does (and
        for an artifact whose evaluations are attested by name)."""
        ...


class AttestedByName:
    """No registry of results: a named evaluation is the requester's attestation."""

    def missing(self, artifact: str, name: str) -> str | None:
        return None


PolicyNow = Callable[[], SafetyPolicy]  # the controls in force (defaults, or what the council adopted)
KeysOn = Callable[[sa.Connection], OfficerKeys]


class ReleaseService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        policy: PolicyNow,
        artifacts: Artifacts,
        members: Members,
        motions: Motions,
        keys: KeysOn = OfficerKeyRepository,
        evidence: EvaluationEvidence | None = None,
    ) -> None:
        self.uow = uow
        self.evidence: EvaluationEvidence = evidence or AttestedByName()
        self.policy = policy
        self.artifacts = artifacts
        self.members = members
        self.motions = motions
        self.keys = keys

    # --- requester -------------------------------------------------------------------------------

    def request(
        self,
        principal: Principal,
        *,
        artifact: str,
        sha256: str,
        from_label: Label,
        to_label: Label,
        evaluations: Iterable[str] = (),
    ) -> Release:
        """Ask for ``artifact`` (with exactly this content) to be published under ``to_label``.

        Only a safety officer, or a member of the artifact's project cleared for its label, may ask
        (``release_checks.may_request``); anyone else is answered as for an unknown artifact. Where
        the gate needs the council (L3; a public release from L4, which its gate bars), the release
        waits for the motion approving it, attached once adopted (``attach_motion``). Each named
        evaluation must be backed by a result (see the module), or the request is refused naming it."""
        require_role(principal, *REQUESTERS)
        names = evaluation_names(evaluations)
        stored = self.artifacts.artifact(artifact)
        member = None if stored is None else self.members.member_clearance(principal, stored.project)
        allowed = stored is not None and may_request(principal, stored, member)
        project = check_stored(
            artifact, stored, allowed=allowed, sha256=sha256, from_label=from_label
        ).project
        check_evidence({name: self.evidence.missing(artifact, name) for name in names})
        policy = self.policy()
        check_target(from_label, to_label, policy.of(from_label.level).release)
        with self.uow.write() as tx:
            _check_not_frozen(tx, artifact, project)
            release = Release(
                id=new_id("rel"),
                artifact=artifact,
                sha256=sha256,
                from_label=from_label,
                to_label=to_label,
                requester=principal.name,
                status=ReleaseStatus.REQUESTED,
                approvals=(),
                motion_id=None,
                evaluations=names,
                requested_at=tx.now,
            )
            ReleaseRepository(tx.conn).add(release, project)
            tx.emit(_requested(release, policy))
            return _settle(tx, release, policy, by=principal.name)

    def attach_evaluation(self, principal: Principal, release_id: str, name: str) -> Release:
        """Attach evaluation ``name``, once ``evidence`` shows a result backs it (see the module)."""
        require_role(principal, *REQUESTERS)
        (checked,) = evaluation_names([name])
        check_evidence({checked: self.evidence.missing(self.release(release_id).artifact, checked)})
        return self._attach(principal, release_id, lambda r: with_evaluation(r, checked))

    def attach_motion(self, principal: Principal, release_id: str, motion_id: str) -> Release:
        """Attach the council's adopted motion approving this release: its effect is
        ``{"type": "approve_release", "release_id": release_id}``; a motion adopted for anything
        else does not count."""
        self.release(release_id)
        state = self.motions.motion_state(motion_id)
        approves = state == ADOPTED and bool(self.motions.approves_release(motion_id, release_id))
        check_motion(motion_id, release_id, state, approves)
        return self._attach(principal, release_id, lambda r: dataclasses.replace(r, motion_id=motion_id))

    def withdraw(self, principal: Principal, release_id: str) -> Release:
        require_role(principal, *Role)
        with self.uow.write() as tx:
            release = _load(tx, release_id)
            if release.requester != principal.name:
                raise Forbidden("only its requester withdraws a release", field="release_id")
            return _close(tx, release, ReleaseAction.WITHDRAW, by=principal.name)

    # --- approvers -------------------------------------------------------------------------------

    def approve(self, principal: Principal, release_id: str, key_id: str, signature: str) -> Release:
        """Add an approval: ``signature`` is the approver's Ed25519 signature (base64) over
        ``message(release_id)`` with the key ``key_id`` they registered. When it completes the gate
        the release is decided in the same transaction."""
        require_role(principal, *Role)
        policy = self.policy()
        with self.uow.write() as tx:
            release = _load(tx, release_id)
            gate = _gate(release, policy)
            roles = frozenset(r.value for r in principal.roles)
            role = check_approval(release, principal.name, roles, gate, now=tx.now)
            self._check_signature(tx, principal.name, release, key_id, signature)
            _check_not_frozen(tx, release.artifact, ReleaseRepository(tx.conn).project_of(release.id))
            approval = Approval(
                approver=principal.name, role=role, key_id=key_id, signature=signature, at=tx.now
            )
            ReleaseRepository(tx.conn).add_approval(release.id, approval)
            approved = dataclasses.replace(release, approvals=(*release.approvals, approval))
            tx.emit(_approved(approved, approval))
            return _settle(tx, approved, policy, by=principal.name)

    def refuse(self, principal: Principal, release_id: str) -> Release:
        require_role(principal, Role.SAFETY_OFFICER)
        with self.uow.write() as tx:
            return _close(tx, _load(tx, release_id), ReleaseAction.REFUSE, by=principal.name)

    # --- reading (public: the log carries the same facts) ----------------------------------------

    def release(self, release_id: str) -> Release:
        with self.uow.read() as conn:
            release = ReleaseRepository(conn).get(release_id)
        if release is None:
            raise NotFound(f"no release {release_id!r}", field="release_id", code="release_not_found")
        return release

    def releases(
        self, *, status: ReleaseStatus | None = None, limit: int = 100, offset: int = 0
    ) -> list[Release]:
        with self.uow.read() as conn:
            return ReleaseRepository(conn).search(status=status, limit=limit, offset=offset)

    def message(self, release_id: str) -> bytes:
        """The exact text an approver signs."""
        return approval_message(self.release(release_id))

    def missing(self, release: Release) -> tuple[str, ...]:
        """What the release still lacks (empty once decided or when its gate is met)."""
        return _missing(release, self.policy())

    def released(self, release_id: str) -> ReleasedArtifact | None:
        """The new lower-labelled record a RELEASED decision published; None until then (an unknown
        release is not found)."""
        with self.uow.read() as conn:
            repo = ReleaseRepository(conn)
            if repo.get(release_id) is None:
                raise NotFound(f"no release {release_id!r}", field="release_id", code="release_not_found")
            return repo.released(release_id)

    def released_of(self, artifact: str) -> list[ReleasedArtifact]:
        with self.uow.read() as conn:
            return ReleaseRepository(conn).released_of(artifact)

    # --- steps -----------------------------------------------------------------------------------

    def _check_signature(
        self, tx: Transaction, approver: str, release: Release, key_id: str, signature: str
    ) -> None:
        key = self.keys(tx.conn).key(key_id)
        if key is None or key.user != approver:
            raise Forbidden(
                f"key {key_id} is not a key {approver} registered", field="key_id", code="key_not_yours"
            )
        if key.revoked_at is not None:
            raise Forbidden(f"key {key_id} was revoked", field="key_id", code="key_revoked")
        if not verify_signature(key.public_key, approval_message(release), signature):
            raise InvalidInput(
                f"the signature does not verify with key {key_id} over this release's approval message",
                field="signature",
                code="signature_invalid",
            )

    def _attach(self, principal: Principal, release_id: str, change: Callable[[Release], Release]) -> Release:
        require_role(principal, *REQUESTERS)
        policy = self.policy()
        with self.uow.write() as tx:
            release = _load(tx, release_id)
            if release.requester != principal.name and Role.SAFETY_OFFICER not in principal.roles:
                raise Forbidden("its requester or a safety officer attaches to a release", field="release_id")
            if release.status is not ReleaseStatus.REQUESTED:
                raise Conflict(
                    f"release {release_id} is {release.status.value}; nothing more can be attached",
                    field="release_id",
                    code="release_decided",
                )
            changed = change(release)
            ReleaseRepository(tx.conn).save(changed)
            return _settle(tx, changed, policy, by=principal.name)


def _settle(tx: Transaction, release: Release, policy: SafetyPolicy, *, by: str) -> Release:
    """Decide RELEASED when nothing is missing: the new record and its log entry, now."""
    if _missing(release, policy):
        return release
    _check_not_frozen(tx, release.artifact, ReleaseRepository(tx.conn).project_of(release.id))
    status = release_next(release.status, ReleaseAction.DECIDE)
    decided = dataclasses.replace(release, status=status, decided_at=tx.now)
    repo = ReleaseRepository(tx.conn)
    repo.save(decided)
    repo.add_released(
        ReleasedArtifact(
            release_id=decided.id,
            artifact=decided.artifact,
            sha256=decided.sha256,
            label=decided.to_label,
            released_at=tx.now,
        )
    )
    tx.emit(_decided(decided, by))
    return decided


def _close(tx: Transaction, release: Release, action: ReleaseAction, *, by: str) -> Release:
    """Refused or withdrawn: decided without a record."""
    closed = dataclasses.replace(release, status=release_next(release.status, action), decided_at=tx.now)
    ReleaseRepository(tx.conn).save(closed)
    tx.emit(_decided(closed, by))
    return closed


def _gate(release: Release, policy: SafetyPolicy) -> ReleaseGate:
    return release_gate(policy.of(release.from_label.level).release, release.to_label)


def _missing(release: Release, policy: SafetyPolicy) -> tuple[str, ...]:
    evaluations = policy.of(release.from_label.level).evaluations
    return release_missing(release, _gate(release, policy), evaluations=evaluations)


def _requested(release: Release, policy: SafetyPolicy) -> ReleaseRequested:
    gate, (job, ref) = _gate(release, policy), public_artifact(release.artifact)
    return ReleaseRequested(
        release_id=release.id,
        job=job,
        artifact_ref=ref,
        sha256=release.sha256,
        from_label=str(release.from_label),
        to_label=str(release.to_label),
        requester=release.requester,
        required_approvals=gate.approvals,
        required_roles=list(gate.roles),
        motion_required=gate.council_motion,
        evaluations_required=list(policy.of(release.from_label.level).evaluations),
    )


def _load(tx: Transaction, release_id: str) -> Release:
    release = ReleaseRepository(tx.conn).get(release_id, for_update=True)
    if release is None:
        raise NotFound(f"no release {release_id!r}", field="release_id", code="release_not_found")
    return release


def _check_not_frozen(tx: Transaction, artifact: str, project: str | None) -> None:
    if FrozenRepository(tx.conn).is_frozen(artifact=artifact, project=project):
        raise Conflict(
            f"artifact {artifact} is frozen by an open incident; it cannot be released",
            field="artifact",
            code="artifact_frozen",
        )


def _approved(release: Release, approval: Approval) -> ReleaseApproved:
    return ReleaseApproved(
        release_id=release.id,
        approver=approval.approver,
        role=approval.role,
        key_id=approval.key_id,
        signature=approval.signature,
        message=approval_message(release).decode(),
    )


def _decided(release: Release, by: str) -> ReleaseDecided:
    job, ref = public_artifact(release.artifact)
    released = release.status is ReleaseStatus.RELEASED
    return ReleaseDecided(
        release_id=release.id,
        status=release.status.value,
        job=job,
        artifact_ref=ref,
        artifact=release.artifact if released else None,  # only a released record names its path
        sha256=release.sha256,
        to_label=str(release.to_label),
        by=by,
        motion_id=release.motion_id,
        evaluations=list(release.evaluations),
        approvers=[a.approver for a in release.approvals],
    )
