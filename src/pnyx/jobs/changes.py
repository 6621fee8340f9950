"""The one way a stored job changes status: ``rules.transition``, the save, and its public
``jobs.job.state_changed`` event, all in the caller's transaction. A workspace job's key bundle
(``sealed_store``) goes with it when it ends or waits for keys again."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from pnyx.core.errors import NotFound
from pnyx.db.batch import write_each
from pnyx.db.unit_of_work import Transaction
from pnyx.jobs.model import OPEN_JOB_STATUSES, JobAction, JobRecord, JobStateChanged, JobStatus
from pnyx.jobs.rules import transition
from pnyx.jobs.sealed_store import SealedRepository
from pnyx.jobs.store import JobRepository

ENDING = frozenset({JobAction.SUCCEED, JobAction.FAIL, JobAction.CANCEL, JobAction.REJECT})


@dataclass(frozen=True, slots=True)
class Act:
    """One job's change as the dispatcher asks for it: ``fields`` set with it (None: left as is);
    ``dispatch`` stamps the hand-over time, ``requeue`` starts a new attempt."""

    job_id: str
    action: JobAction
    fields: Mapping[str, object] = field(default_factory=dict)
    dispatch: bool = False
    requeue: bool = False


REQUEUED: Mapping[str, object] = {
    "node_ids": (),
    "counts": (),
    "placed_type": None,
    "engine_job_id": None,
    "started_at": None,
    "dispatched_at": None,
}


def act(tx: Transaction, repo: JobRepository, a: Act, read: JobRecord | None = None) -> JobRecord:
    """Apply ``a`` to the stored job, locked for the rest of the transaction: ``read`` if given (read
    locked in this transaction, unchanged since), else read now."""
    job = _found(a, read if read is not None else repo.get(a.job_id, for_update=True))
    return change(tx, repo, job, a.action, **_fields(tx, job, a))


def act_each(tx: Transaction, acts: Sequence[Act]) -> list[JobRecord | Exception]:
    """Several jobs' changes in one transaction: a change that fails (a job cancelled meanwhile, a
    row the database refuses) is undone alone, its events with it, and is returned in its place; the
    others commit together. The jobs are read and locked first, in one statement and in id order;
    each change is then checked against the job as the step's earlier changes left it, and those that
    hold are saved in one statement (``db.batch``: one by one, each in its own savepoint, only when
    the database refuses that one)."""
    repo = JobRepository(tx.conn)
    read = repo.locked(a.job_id for a in acts)
    current, unchanged = dict(read), dict(read)  # the plan's view; the one-by-one path's first reads

    def alone(a: Act) -> JobRecord:  # a job's read serves its first change only: the next reads again
        return act(tx, repo, a, unchanged.pop(a.job_id, None))

    return write_each(tx, acts, partial(_planned, tx, current), partial(_save_all, tx, repo), alone)


def _planned(tx: Transaction, current: dict[str, JobRecord], a: Act) -> JobRecord:
    """``a`` applied to the job as ``current`` holds it (and held there for its next change)."""
    job = _found(a, current.get(a.job_id))
    current[a.job_id] = moved = changed(tx, job, a.action, **_fields(tx, job, a))
    return moved


def _save_all(tx: Transaction, repo: JobRepository, saved: list[JobRecord]) -> None:
    repo.save_all(saved)
    SealedRepository(tx.conn).drop_bundles({job.id for job in saved if _keys_die(job)})


def _found(a: Act, job: JobRecord | None) -> JobRecord:
    if job is None:
        raise NotFound(f"no job {a.job_id!r}", field="job_id", code="job_not_found")
    return job


def _fields(tx: Transaction, job: JobRecord, a: Act) -> dict[str, object]:
    """What ``a`` sets on ``job`` besides its status."""
    fields = {k: v for k, v in a.fields.items() if v is not None}
    if job.started_at is not None:  # an attempt starts once: its start is never rewritten
        fields.pop("started_at", None)
    if a.dispatch:
        fields["dispatched_at"] = tx.now
    if a.requeue:
        fields.update(REQUEUED, attempt=job.attempt + 1)
    if a.action in ENDING:
        fields.setdefault("ended_at", tx.now)
    return fields


def change(
    tx: Transaction, repo: JobRepository, job: JobRecord, action: JobAction, **fields: object
) -> JobRecord:
    """``job`` moved by ``action`` (other ``fields`` changed with it), saved and logged."""
    updated = changed(tx, job, action, **fields)
    repo.save(updated)
    if _keys_die(updated):
        SealedRepository(tx.conn).drop_bundles([job.id])
    return updated


def changed(tx: Transaction, job: JobRecord, action: JobAction, **fields: object) -> JobRecord:
    """``job`` moved by ``action`` (other ``fields`` changed with it) and logged; not yet saved."""
    status = transition(job.status, action)
    updated = dataclasses.replace(job, status=status, **fields)  # type: ignore[arg-type]
    tx.emit(
        JobStateChanged(
            job_id=job.id,
            action=action.value,
            status=status.value,
            attempt=updated.attempt,
            reason=updated.reason,
            node_ids=updated.node_ids,
        )
    )
    return updated


def _keys_die(job: JobRecord) -> bool:
    """Whether a workspace job's key bundle goes with this status: it ended, or waits for keys again."""
    return job.workspace_id is not None and (
        job.status not in OPEN_JOB_STATUSES or job.status is JobStatus.AWAITING_KEYS
    )
