"""Incidents: an officer contains a project or an artifact; two officers lift it.

Opening one freezes the subject at once (in the incident's own transaction: a frozen artifact is
not read, released or used as a job's input). Then, for a project, containment runs through the
domains that own jobs and tokens: its active jobs are asked to checkpoint and stop, its team's
tokens are suspended. Each step is logged as an ``IncidentActionTaken`` as it is taken. Lifting
needs two different officers; it thaws what was frozen and restores the suspended tokens.

The incident's fact, summary, status and actions are public; its details never enter the log, which
says whether they are withheld.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Sequence
from datetime import datetime

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.safety.events import IncidentActionTaken, IncidentLiftChanged, IncidentOpened
from pnyx.safety.incident_store import FrozenRepository, IncidentRepository
from pnyx.safety.model import Incident, IncidentAction, IncidentStatus, SubjectKind
from pnyx.safety.rules import incident_next
from pnyx.safety.subjects import Artifacts, Containment, Projects

PREEMPT = "preempt-job"
SUSPEND = "suspend-token"
FREEZE = "freeze-artifact"
RESTORE = "restore-token"
THAW = "thaw-artifact"
MAX_SUMMARY = 2000
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # control, format (bidi), surrogate, separators


class FrozenSubjects:
    """What open incidents froze, answered with the incident's id: the jobs service's ``Freezes`` (a
    frozen project takes no new job; frozen outputs are read by nobody). Reads only; wiring builds
    it beside the incident service, which writes the freezes."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def frozen_project(self, project_id: str) -> str | None:
        with self.uow.read() as conn:
            return FrozenRepository(conn).freezing(SubjectKind.PROJECT, project_id)

    def frozen_artifact(self, artifact_id: str) -> str | None:
        """The artifact by itself (its project's freeze: ``frozen_project``)."""
        with self.uow.read() as conn:
            return FrozenRepository(conn).freezing(SubjectKind.ARTIFACT, artifact_id)


class IncidentService:
    def __init__(
        self, uow: UnitOfWork, *, projects: Projects, artifacts: Artifacts, containment: Containment
    ) -> None:
        self.uow = uow
        self.projects = projects
        self.artifacts = artifacts
        self.containment = containment

    def open(
        self,
        principal: Principal,
        subject_kind: SubjectKind | str,
        subject: str,
        summary: str,
        details_withheld: bool,
    ) -> Incident:
        """Open an incident and contain its subject (see the module)."""
        require_role(principal, Role.SAFETY_OFFICER)
        kind = _kind(subject_kind)
        summary = _summary(summary)
        self._check_subject(kind, subject)
        with self.uow.write() as tx:
            incident = Incident(
                id=new_id("inc"),
                subject_kind=kind,
                subject=subject,
                summary=summary,
                details_withheld=details_withheld,
                status=IncidentStatus.OPEN,
                opened_by=principal.name,
                opened_at=tx.now,
            )
            IncidentRepository(tx.conn).add(incident)
            tx.emit(_opened(incident))
            FrozenRepository(tx.conn).freeze(incident.id, kind, subject, tx.now)
            _record(tx, incident.id, FREEZE, [_frozen_target(kind, subject)])
        if kind is SubjectKind.PROJECT:
            self._contain(incident)
        return incident

    def propose_lift(self, principal: Principal, incident_id: str) -> Incident:
        """The first of the two officers who lift an incident."""
        return self._lift(principal, incident_id, IncidentAction.PROPOSE_LIFT)

    def agree_lift(self, principal: Principal, incident_id: str) -> Incident:
        """The second, different officer: the incident is lifted, its subject thawed, tokens restored."""
        incident = self._lift(principal, incident_id, IncidentAction.AGREE_LIFT)
        with self.uow.read() as conn:
            actions = IncidentRepository(conn).actions(incident_id)
        suspended = [target for action, target in actions if action == SUSPEND]
        if suspended:
            restored = self.containment.restore_tokens(suspended)
            self._log_actions(incident.id, RESTORE, restored)
        return incident

    def lift(self, principal: Principal, incident_id: str) -> Incident:
        """Propose lifting an open incident, or agree to lift one another officer proposed."""
        status = self.incident(incident_id).status
        if status is IncidentStatus.LIFTING:
            return self.agree_lift(principal, incident_id)
        return self.propose_lift(principal, incident_id)

    # --- reading ---------------------------------------------------------------------------------

    def incident(self, incident_id: str) -> Incident:
        with self.uow.read() as conn:
            incident = IncidentRepository(conn).get(incident_id)
        if incident is None:
            raise NotFound(f"no incident {incident_id!r}", field="incident_id", code="incident_not_found")
        return incident

    def incidents(
        self, *, status: IncidentStatus | None = None, limit: int = 100, offset: int = 0
    ) -> list[Incident]:
        with self.uow.read() as conn:
            return IncidentRepository(conn).search(status=status, limit=limit, offset=offset)

    def actions(self, incident_id: str) -> list[tuple[str, str]]:
        """The containment steps taken, as (action, target), in order."""
        self.incident(incident_id)
        with self.uow.read() as conn:
            return IncidentRepository(conn).actions(incident_id)

    def is_frozen(self, artifact: str) -> bool:
        """Whether an open incident froze the artifact or its project (for read paths and releases)."""
        stored = self.artifacts.artifact(artifact)
        with self.uow.read() as conn:
            return FrozenRepository(conn).is_frozen(
                artifact=artifact, project=None if stored is None else stored.project
            )

    def frozen_projects(self) -> set[str]:
        """Projects an open incident froze: their jobs are not started and their outputs not read."""
        with self.uow.read() as conn:
            return FrozenRepository(conn).frozen(SubjectKind.PROJECT)

    # --- steps -----------------------------------------------------------------------------------

    def _check_subject(self, kind: SubjectKind, subject: str) -> None:
        if not subject or len(subject) > 300:
            raise InvalidInput("the subject is a project or an artifact id", field="subject")
        if kind is SubjectKind.PROJECT and self.projects.project(subject) is None:
            raise NotFound(f"no project {subject!r}", field="subject", code="project_not_found")
        if kind is SubjectKind.ARTIFACT and self.artifacts.artifact(subject) is None:
            raise NotFound(f"no artifact {subject!r}", field="subject", code="artifact_not_found")

    def _contain(self, incident: Incident) -> None:
        """Each step in its owner's own transaction, then logged; a step that fails leaves the
        incident open and frozen (the safe side) and its error raised."""
        reason = f"safety incident {incident.id}"
        jobs = self.containment.preempt_jobs(incident.subject, reason)
        self._log_actions(incident.id, PREEMPT, jobs)
        tokens = self.containment.suspend_tokens(incident.subject, reason)
        self._log_actions(incident.id, SUSPEND, tokens)

    def _log_actions(self, incident_id: str, action: str, targets: Sequence[str]) -> None:
        if not targets:
            return
        with self.uow.write() as tx:
            _record(tx, incident_id, action, targets)

    def _lift(self, principal: Principal, incident_id: str, action: IncidentAction) -> Incident:
        require_role(principal, Role.SAFETY_OFFICER)
        with self.uow.write() as tx:
            repo = IncidentRepository(tx.conn)
            incident = repo.get(incident_id, for_update=True)
            if incident is None:
                raise NotFound(f"no incident {incident_id!r}", field="incident_id", code="incident_not_found")
            changed = _lifted(incident, action, principal.name, tx.now)
            repo.save(changed)
            tx.emit(
                IncidentLiftChanged(
                    incident_id=incident.id,
                    action=action.value,
                    status=changed.status.value,
                    by=principal.name,
                )
            )
            if changed.status is IncidentStatus.LIFTED:
                thawed = FrozenRepository(tx.conn).thaw(incident.id, tx.now)
                _record(tx, incident.id, THAW, [_frozen_target(k, s) for k, s in thawed])
            return changed


def _lifted(incident: Incident, action: IncidentAction, officer: str, now: datetime) -> Incident:
    """The incident once ``officer`` proposes or agrees to lift it: two different officers lift it."""
    status = incident_next(incident.status, action)
    if officer in incident.lift_by:
        raise Conflict(
            f"{officer} already agreed to lift it; a second, different officer must",
            field="incident_id",
            code="same_officer",
        )
    lifted_at = now if status is IncidentStatus.LIFTED else None
    return dataclasses.replace(
        incident, status=status, lift_by=(*incident.lift_by, officer), lifted_at=lifted_at
    )


def _record(tx: Transaction, incident_id: str, action: str, targets: Sequence[str]) -> None:
    repo = IncidentRepository(tx.conn)
    for target in dict.fromkeys(targets):
        repo.add_action(incident_id, action, target, tx.now)
        tx.emit(IncidentActionTaken(incident_id=incident_id, action=action, target=target))


def _frozen_target(kind: SubjectKind, subject: str) -> str:
    """An artifact by its id; a project's artifacts as ``project:<id>``."""
    return f"project:{subject}" if kind is SubjectKind.PROJECT else subject


def _kind(value: SubjectKind | str) -> SubjectKind:
    try:
        return SubjectKind(value)
    except ValueError:
        known = ", ".join(k.value for k in SubjectKind)
        raise InvalidInput(f"the subject kind is one of {known}", field="subject_kind") from None


def _summary(text: str) -> str:
    """One line of plain text for the public page and log: no control, format (bidi) or separator
    character, which could hide or reorder what readers see."""
    summary = text.strip()
    if not summary or len(summary) > MAX_SUMMARY:
        raise InvalidInput(f"an incident has a public summary of 1-{MAX_SUMMARY} characters", field="summary")
    hidden = next((c for c in summary if unicodedata.category(c) in UNPRINTABLE), None)
    if hidden is not None:
        raise InvalidInput(
            f"an incident's public summary is one line of printable text; it holds U+{ord(hidden):04X}",
            field="summary",
        )
    return summary


def _opened(i: Incident) -> IncidentOpened:
    return IncidentOpened(
        incident_id=i.id,
        subject_kind=i.subject_kind.value,
        subject=i.subject,
        summary=i.summary,
        details_withheld=i.details_withheld,
        by=i.opened_by,
    )
