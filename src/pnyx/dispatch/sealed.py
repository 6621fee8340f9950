"""SME workspace jobs at the dispatcher: its delivery key, the gate of jobs without keys, and the
sealed part of a job's hand-over.

The delivery key is an X25519 key pair the dispatcher makes when it is built and keeps in memory
only (``KeyGate``, owned by the ``Dispatcher``); its public half is published (a ``delivery_keys``
row, the newest being "the dispatcher's key") whenever this dispatcher leads and the newest key is
not its own. SMEs seal their jobs' data keys to it (``workspaces.authorisation``).

Each cycle, before the scheduler places anything, the pending workspace jobs that read objects are
checked: one whose bundle is sealed to a key this dispatcher does not hold (it restarted, another
dispatcher led meanwhile) or that has none goes back to ``awaiting_keys`` with a reason telling its
SME to authorise it again, its bundle dropped, all in one transaction; so a job without keys never
takes accelerators. When the bundles cannot be read, those jobs wait (fail closed).

At hand-over (``spec``) the bundle is opened in memory and the keys go into the job's
``JobSpec.sealed``, for the local executor to pass into the sandbox; a bundle that does not open
(``KeysLost``) sends the job back to its SME, requeued first if it was placed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from pnyx.core.errors import Conflict, FacilityError, InvalidInput
from pnyx.dispatch.faults import bounded, describe
from pnyx.dispatch.records import spec_of
from pnyx.dispatch.report import CycleReport
from pnyx.jobs.model import JobRecord, JobSpec, JobStatus, SealedInput, SealedWork
from pnyx.workspaces import envelope
from pnyx.workspaces.authorisation import JobAuthorisations, SealedParts, open_authorisation

LOST = (
    "its SME's keys are not with this dispatcher (it restarted, or none were delivered): "
    "authorise it again (pnyx sme authorize JOB)"
)


class KeysLost(Conflict):
    """A workspace job's keys cannot be opened by this dispatcher: its SME authorises it again."""

    code = "keys_lost"


def needs_keys(job: JobRecord) -> bool:
    """A pending workspace job that reads objects, not being cancelled."""
    return job.status is JobStatus.PENDING and job.sealed_inputs > 0 and not job.cancel_requested


class KeyGate:
    """The dispatcher's delivery key and its checks (None: no workspaces here, nothing checked; a
    workspace job then fails at hand-over)."""

    def __init__(self, authorisations: JobAuthorisations | None) -> None:
        self.authorisations = authorisations
        pair = envelope.generate_keypair()
        self.public_key = pair.public_key
        self._private = envelope.load_private_key(pair.private_pem)  # memory only, never written
        self._published: set[int] = set()  # the delivery key ids this dispatcher published

    def admit(self, jobs: list[JobRecord], report: CycleReport) -> list[JobRecord]:
        """``jobs`` less the pending workspace jobs whose keys this dispatcher cannot open (sent back
        to their SME) or could not check (they wait)."""
        waiting = [j for j in jobs if needs_keys(j)]
        if self.authorisations is None:
            return jobs
        try:
            self._publish(self.authorisations)
            keyed = self.authorisations.bundle_keys([j.id for j in waiting]) if waiting else {}
        except Exception as exc:  # fail closed: no workspace job is handed over unchecked
            report.errors.append(
                f"the delivery keys could not be checked ({describe(exc)}); workspace jobs wait"
            )
            return [j for j in jobs if not needs_keys(j)]
        lost = [j for j in waiting if keyed.get(j.id) not in self._published]
        self._send_back(lost, report)
        gone = {j.id for j in lost}
        return [j for j in jobs if j.id not in gone]

    def spec(self, job: JobRecord) -> JobSpec:
        """What the engine runs: a workspace job's spec carries its sealed work and its keys."""
        spec = spec_of(job)
        if job.workspace_id is None:
            return spec
        if self.authorisations is None:
            raise InvalidInput("this dispatcher does not hand over SME workspace jobs", field="workspace")
        return dataclasses.replace(spec, sealed=self._sealed(job, self.authorisations.parts(job)))

    def lost(self, job: JobRecord, exc: KeysLost, report: CycleReport) -> None:
        """A hand-over whose keys did not open: the job back to its SME."""
        report.errors.append(f"job {job.id}: {exc.message}")
        self._send_back([job], report, exc.message)

    def _publish(self, authorisations: JobAuthorisations) -> None:
        newest = authorisations.newest()
        if newest is None or newest.id not in self._published:
            self._published.add(authorisations.publish(self.public_key))

    def _sealed(self, job: JobRecord, parts: SealedParts) -> SealedWork:
        keys = self._keys(job, parts)
        inputs = tuple(
            SealedInput(
                object_id=o.object_id,
                path=o.path,
                context=o.context,
                sealed_meta=o.sealed_meta,
                data_key=keys[o.object_id],
            )
            for o in parts.objects
        )
        return SealedWork(workspace_id=parts.workspace_id, public_key=parts.public_key, inputs=inputs)

    def _keys(self, job: JobRecord, parts: SealedParts) -> dict[str, bytes]:
        if not parts.objects:
            return {}
        bundle = parts.bundle
        if bundle is None or bundle.delivery_key_id not in self._published:
            raise KeysLost(LOST, field="authorisation")
        try:
            return open_authorisation(self._private, bundle, job.id, [o.object_id for o in parts.objects])
        except FacilityError as exc:
            raise KeysLost(
                f"its SME's authorisation did not open ({exc.message}): authorise it again "
                "(pnyx sme authorize JOB)",
                field="authorisation",
            ) from exc

    def _send_back(self, jobs: Sequence[JobRecord], report: CycleReport, why: str = LOST) -> None:
        """Back to ``awaiting_keys``, their bundles dropped, in one transaction."""
        if not jobs or self.authorisations is None:
            return
        try:
            done = self.authorisations.keys_lost(jobs, bounded(why))
        except Exception as exc:
            report.errors.append(f"workspace jobs could not be sent back for keys: {describe(exc)}")
            return
        for job, result in zip(jobs, done, strict=True):
            if isinstance(result, Exception):
                report.errors.append(f"job {job.id}: could not be sent back for keys: {describe(result)}")
