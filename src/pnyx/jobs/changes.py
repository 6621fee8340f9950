"""The one way a stored job changes status: ``rules.transition``, the save, and its public
``jobs.job.state_changed`` event, all in the caller's transaction. A workspace job's key bundle
(``sealed_store``) goes with it when it ends or waits for keys again."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pnyx.core.errors import NotFound
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
    job = read if read is not None else repo.get(a.job_id, for_update=True)
    if job is None:
        raise NotFound(f"no job {a.job_id!r}", field="job_id", code="job_not_found")
    fields = {k: v for k, v in a.fields.items() if v is not None}
    if job.started_at is not None:  # an attempt starts once: its start is never rewritten
        fields.pop("started_at", None)
    if a.dispatch:
        fields["dispatched_at"] = tx.now
    if a.requeue:
        fields.update(REQUEUED, attempt=job.attempt + 1)
    if a.action in ENDING:
        fields.setdefault("ended_at", tx.now)
    return change(tx, repo, job, a.action, **fields)


def act_each(tx: Transaction, acts: Sequence[Act]) -> list[JobRecord | Exception]:
    """Several jobs' changes in one transaction, each in its own savepoint: a change that fails (a
    job cancelled meanwhile, a row the database refuses) is undone alone, its events with it, and
    is returned in its place; the others commit together. The jobs are read and locked first, in
    one statement and in id order; a job's read serves its first change only (a later one reads
    again: the first may have changed it)."""
    repo, done = JobRepository(tx.conn), list[JobRecord | Exception]()
    unchanged = repo.locked(a.job_id for a in acts)
    for a in acts:
        emitted = len(tx.events)
        try:
            with tx.conn.begin_nested():
                done.append(act(tx, repo, a, unchanged.pop(a.job_id, None)))
        except Exception as exc:  # that job's alone: the caller reports it as that job's fault
            del tx.events[emitted:]
            done.append(exc)
    return done


def change(
    tx: Transaction, repo: JobRepository, job: JobRecord, action: JobAction, **fields: object
) -> JobRecord:
    """``job`` moved by ``action`` (other ``fields`` changed with it), saved and logged."""
    status = transition(job.status, action)
    updated = dataclasses.replace(job, status=status, **fields)  # type: ignore[arg-type]
    repo.save(updated)
    if updated.workspace_id is not None and (
        status not in OPEN_JOB_STATUSES or status is JobStatus.AWAITING_KEYS
    ):
        SealedRepository(tx.conn).drop_bundles([job.id])  # its keys die with it
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
