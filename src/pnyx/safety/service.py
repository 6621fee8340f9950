"""Safety use cases: a project's classification, officers' acts on it, metering and escalation, and
the approvers' keys. One transaction each; every change is a public log entry.

Public API for other domains:
- ``classification(project_id)``: the project's classification (``NotFound`` if none yet);
- ``ensure_classified(project_id)``: the same, derived from its proposal on first need;
- ``policy()``: the safety policy in force (the defaults with the council's adopted thresholds);
- ``meter_from_usage(project_id, policy)``: re-meter a project from accounting's usage records
  (idempotent); ``meter_from_usages(seconds, policy)``: several at once, from their usage as read by
  the caller (the dispatcher's, once a cycle).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Protocol

from pnyx.allocation.model import Proposal
from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.safety import classification as acts
from pnyx.safety import rules, signing
from pnyx.safety.defaults import DEFAULT_POLICY, THRESHOLD_NAMES
from pnyx.safety.events import OfficerKeyRegistered, OfficerKeyRevoked, ProjectClassified
from pnyx.safety.model import (
    Classification,
    ClassificationAction,
    ClassificationStatus,
    OfficerKey,
    SafetyLevel,
    SafetyPolicy,
)
from pnyx.safety.store import ClassificationRepository, OfficerKeyRepository

QUEUED = frozenset(
    {ClassificationStatus.PROPOSED, ClassificationStatus.ESCALATED, ClassificationStatus.LOWERING}
)


class ProjectProposals(Protocol):
    """The allocation domain's record of what a project asked for."""

    def proposal_of(self, project_id: str) -> Proposal:
        """The proposal awarded as the project; ``NotFound`` (field ``project_id``) when none."""
        ...


ThresholdsOf = Callable[[Iterable[str]], Mapping[str, Decimal | None]]  # council-adopted thresholds, by name
PeaksOf = Callable[[], Mapping[str, Decimal]]  # documented dense bf16 peak TFLOPS per accelerator type
UsageOf = Callable[[str], Mapping[str, int]]  # a project's recorded accelerator-seconds per type
Act = Callable[[Classification, datetime], Classification]


class SafetyService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        proposals: ProjectProposals,
        thresholds: ThresholdsOf,
        peaks: PeaksOf,
        usage: UsageOf,
    ) -> None:
        self.uow = uow
        self.proposals = proposals
        self.thresholds = thresholds
        self.peaks = peaks
        self.usage = usage

    def policy(self) -> SafetyPolicy:
        """The shipped defaults with the compute thresholds the council adopted in their place."""
        by_name = self.thresholds(THRESHOLD_NAMES.values())  # one read
        adopted = {level: by_name[name] for level, name in THRESHOLD_NAMES.items()}
        return rules.policy_with_thresholds(
            DEFAULT_POLICY, {level: v for level, v in adopted.items() if v is not None}
        )

    # -- classification ----------------------------------------------------------------------------

    def classification(self, project_id: str) -> Classification:
        with self.uow.read() as conn:
            return ClassificationRepository(conn).require(project_id)

    def ensure_classified(self, project_id: str) -> Classification:
        """The project's classification; on first need derived from its proposal under the policy in
        force: L1 is confirmed at once, a higher level waits for an officer (PROPOSED)."""
        with self.uow.read() as conn:
            found = ClassificationRepository(conn).get(project_id)
        return found if found is not None else self._classify(project_id)

    def _classify(self, project_id: str) -> Classification:
        proposal = self.proposals.proposal_of(project_id)
        policy, safety = self.policy(), proposal.content.safety
        planned = Decimal(safety.planned_training_flop)
        level, basis = rules.classify(
            planned_flop=planned,
            requested_flop=acts.compute_flop(
                acts.requested_seconds(proposal.content.requested), self.peaks(), policy
            ),
            general_purpose=safety.general_purpose,
            dual_use_data=safety.dual_use_data,
            policy=policy,
        )
        with self.uow.write() as tx:
            made = acts.first(project_id, level, basis, tx.now)
            repo = ClassificationRepository(tx.conn)
            if not repo.add_once(made):  # classified meanwhile by a concurrent request
                return repo.require(project_id)
            tx.emit(
                ProjectClassified(
                    project=project_id,
                    level=level.name,
                    status=made.status.value,
                    basis=basis,
                    planned_flop=str(planned),
                )
            )
        return made

    def queue(self) -> list[Classification]:
        """What waits for an officer: levels above L1 not yet confirmed, escalations, lowerings."""
        with self.uow.read() as conn:
            found = ClassificationRepository(conn).with_status(QUEUED)
        return [c for c in found if c.status is not ClassificationStatus.PROPOSED or c.level > SafetyLevel.L1]

    def levels(self) -> dict[SafetyLevel, list[str]]:
        """Public: the projects at each level (ids only)."""
        with self.uow.read() as conn:
            pairs = ClassificationRepository(conn).levels()
        return {level: [p for p, at in pairs if at is level] for level in SafetyLevel}

    # -- officers' acts (role safety-officer) ------------------------------------------------------

    def confirm(self, project_id: str, *, by: Principal) -> Classification:
        """Confirm the proposed level, or the level an escalation reached."""
        return self._act(project_id, by, "confirm", partial(acts.confirmed, by.name))

    def raise_level(self, project_id: str, level: SafetyLevel | str, *, by: Principal) -> Classification:
        """A higher level, confirmed at once (a pending lowering is dropped)."""
        return self._act(project_id, by, "raise", partial(acts.raised, acts.parse_level(level), by.name))

    def propose_lower(self, project_id: str, level: SafetyLevel | str, *, by: Principal) -> Classification:
        """A lower level takes effect once a second, different officer agrees (``agree_lower``)."""
        act = partial(acts.lowering, acts.parse_level(level), by.name)
        return self._act(project_id, by, ClassificationAction.PROPOSE_LOWER.value, act)

    def agree_lower(self, project_id: str, *, by: Principal) -> Classification:
        act = partial(acts.lowered, by.name)
        return self._act(project_id, by, ClassificationAction.AGREE_LOWER.value, act)

    def refuse_lower(self, project_id: str, *, by: Principal) -> Classification:
        act = partial(acts.lowering_refused, by.name)
        return self._act(project_id, by, ClassificationAction.REFUSE_LOWER.value, act)

    def _act(self, project_id: str, by: Principal, action: str, act: Act) -> Classification:
        require_role(by, Role.SAFETY_OFFICER)
        with self.uow.write() as tx:
            repo = ClassificationRepository(tx.conn)
            changed = act(repo.require(project_id, for_update=True), tx.now)
            repo.save(changed)
            tx.emit(acts.changed_event(changed, action, by.name))
        return changed

    # -- metering ----------------------------------------------------------------------------------

    def meter(self, project_id: str, flop: Decimal) -> Classification:
        """Add metered compute; crossing a higher level's threshold escalates the project (its new
        jobs are held until an officer confirms). Use this or ``meter_from_usage``, not both."""
        if not flop.is_finite() or flop < 0:
            raise InvalidInput(f"metered compute is a non-negative number of FLOP; got {flop}", field="flop")
        return self._metered(project_id, lambda c: c.metered_flop + flop, self.policy())

    def meter_from_usage(self, project_id: str, policy: SafetyPolicy | None = None) -> Classification:
        """Set the project's metered compute from accounting's usage records (accelerator-seconds per
        type x documented peak x efficiency): recomputed from the records, so nothing counts twice."""
        metered = self.meter_from_usages({project_id: self.usage(project_id)}, policy)[project_id]
        if isinstance(metered, Exception):
            raise metered
        return metered

    def meter_from_usages(
        self, seconds: Mapping[str, Mapping[str, int]], policy: SafetyPolicy | None = None
    ) -> dict[str, Classification | Exception]:
        """``meter_from_usage`` for several projects, from all the accelerator-seconds per type
        recorded for each (``seconds``, read by the caller): one transaction locks their
        classifications in project order, saves the changed ones and logs the escalations. Each
        project's classification, or the error that refused it alone (nothing of it saved); a project
        not classified yet is classified and metered on its own. ``policy``: the policy in force, read
        once by a caller metering often (else read)."""
        policy, peaks = policy or self.policy(), self.peaks()
        totals = {p: _total(s, peaks, policy) for p, s in seconds.items()}
        with self.uow.write() as tx:
            repo = ClassificationRepository(tx.conn)
            found = repo.several(totals, for_update=True)
            metered = {p: _meter(c, totals[p], policy, tx.now) for p, c in found.items()}
            repo.save_all([c for p, c in metered.items() if isinstance(c, Classification) and c != found[p]])
            for p, c in metered.items():
                _log_escalation(tx, found[p], c)
        first = {p: self._first_metered(p, totals[p], policy) for p in totals if p not in found}
        return {p: metered[p] if p in metered else first[p] for p in seconds}

    def _first_metered(
        self, project_id: str, total: Decimal, policy: SafetyPolicy
    ) -> Classification | Exception:
        """A project metered before its first classification: classified, then metered, alone."""
        try:
            return self._metered(project_id, lambda _c: total, policy)
        except Exception as exc:  # that project's alone: returned in its place
            return exc

    def _metered(
        self, project_id: str, total_of: Callable[[Classification], Decimal], policy: SafetyPolicy
    ) -> Classification:
        self.ensure_classified(project_id)
        with self.uow.write() as tx:
            repo = ClassificationRepository(tx.conn)
            c = repo.require(project_id, for_update=True)
            changed = acts.metered(c, total_of(c), policy, tx.now)
            if changed != c:
                repo.save(changed)
            _log_escalation(tx, c, changed)
        return changed

    # -- approvers' keys ---------------------------------------------------------------------------

    def register_key(self, by: Principal, public_key_b64: str) -> OfficerKey:
        """Register the caller's Ed25519 public key (its private half never leaves them). A key that is
        not a canonical curve point, or has small order (it would verify one signature over every
        message), is refused naming ``public_key``."""
        self._require_approver(by)
        raw = signing.decode_public_key(public_key_b64)
        signing.check_public_key(raw)
        with self.uow.write() as tx:
            repo = OfficerKeyRepository(tx.conn)
            key = OfficerKey(
                user=by.name,
                key_id=signing.key_id(raw),
                public_key=base64.b64encode(raw).decode("ascii"),
                registered_at=tx.now,
            )
            if repo.key(key.key_id) is not None:
                raise Conflict("this key is registered already", field="public_key", code="key_exists")
            repo.add(key)
            tx.emit(OfficerKeyRegistered(user=key.user, key_id=key.key_id, public_key=key.public_key))
        return key

    def revoke_key(self, by: Principal, key_id: str) -> OfficerKey:
        """Its holder (or an operator, for a holder who left) revokes a key; approvals it made stand."""
        require_role(by, *Role)
        with self.uow.write() as tx:
            repo = OfficerKeyRepository(tx.conn)
            key = _revocable(repo.key(key_id), key_id, by)
            repo.revoke(key.key_id, tx.now)
            tx.emit(OfficerKeyRevoked(user=key.user, key_id=key.key_id))
            return replace(key, revoked_at=tx.now)

    def keys(self, user: str | None = None) -> list[OfficerKey]:
        """Public: approvers' public keys (revoked ones included), all or one user's."""
        with self.uow.read() as conn:
            repo = OfficerKeyRepository(conn)
            return repo.all() if user is None else repo.keys_of(user)

    def _require_approver(self, by: Principal) -> None:
        """Safety officers, and holders of any role a release gate of the policy in force names."""
        require_role(by, *Role)
        allowed = {role for c in self.policy().controls for role in c.release.roles}
        allowed.add(Role.SAFETY_OFFICER.value)
        if not {r.value for r in by.roles} & allowed:
            raise Forbidden(
                f"only approvers register keys (roles: {', '.join(sorted(allowed))}); {by.name} is none",
                code="not_an_approver",
            )


def _total(seconds: Mapping[str, int], peaks: Mapping[str, Decimal], policy: SafetyPolicy) -> Decimal:
    return acts.compute_flop({kind: Decimal(s) for kind, s in seconds.items()}, peaks, policy)


def _meter(
    c: Classification, total: Decimal, policy: SafetyPolicy, now: datetime
) -> Classification | Exception:
    """``acts.metered``, or the error that refused this project's metering alone."""
    try:
        return acts.metered(c, total, policy, now)
    except Exception as exc:  # that project's alone: returned in its place, nothing saved
        return exc


def _log_escalation(tx: Transaction, before: Classification, after: Classification | Exception) -> None:
    """A metering that escalated (or escalated further) is logged; one that only counted is not."""
    if isinstance(after, Exception):
        return
    if after.status is not before.status or after.pending_level is not before.pending_level:
        tx.emit(acts.changed_event(after, ClassificationAction.ESCALATE.value, acts.METERING))


def _revocable(key: OfficerKey | None, key_id: str, by: Principal) -> OfficerKey:
    if key is None:
        raise NotFound(f"no key {key_id!r}", field="key_id", code="key_not_found")
    if key.user != by.name and Role.OPERATOR not in by.roles:
        raise Forbidden("only the key's holder (or an operator) revokes it", field="key_id")
    if key.revoked_at is not None:
        raise Conflict(f"key {key_id} is revoked already", field="key_id", code="key_revoked")
    return key
