"""The one way a stored job changes status: ``rules.transition``, the save, and its public
``jobs.job.state_changed`` event, all in the caller's transaction."""

from __future__ import annotations

import dataclasses

from pnyx.db.unit_of_work import Transaction
from pnyx.jobs.model import JobAction, JobRecord, JobStateChanged
from pnyx.jobs.rules import transition
from pnyx.jobs.store import JobRepository


def change(
    tx: Transaction, repo: JobRepository, job: JobRecord, action: JobAction, **fields: object
) -> JobRecord:
    """``job`` moved by ``action`` (other ``fields`` changed with it), saved and logged."""
    status = transition(job.status, action)
    updated = dataclasses.replace(job, status=status, **fields)  # type: ignore[arg-type]
    repo.save(updated)
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
