"""A workspace job's authorisation: its SME hands the dispatcher the data keys of the objects the job
reads, sealed to the dispatcher's delivery key, so that no key is ever stored in the clear.

1. ``request`` (members of the job's project): the newest delivery key a dispatcher published and,
   for each object the job reads, its data key wrapped to the SME's key and its context.
2. On the SME's machine (``seal_authorisation``, what ``pnyx sme authorize`` runs): each data key
   unwrapped with the SME's private key, the map ``{object id: data key}`` sealed to the delivery key
   under the context ``authorise/<job>/<delivery key id>``. A wrong key fails here: nothing is sent.
3. ``authorise``: the sealed bundle stored (ciphertext to a key that lives only in the dispatcher's
   memory) and the job moved ``awaiting_keys -> pending``, ``workspaces.job.authorised`` logged with
   the number of objects, in one transaction. A delivery key that is no longer the newest (the
   dispatcher restarted) is refused: the SME fetches the request again.

The dispatcher's side (``dispatch.sealed``): it ``publish``es its key when it leads, sends jobs whose
bundle it cannot open back to their SME (``keys_lost``), and reads a job's ``parts`` at hand-over,
where it opens the bundle in memory (``open_authorisation``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal
from pnyx.jobs.changes import Act, act_each, change
from pnyx.jobs.clearance import Projects, is_staff
from pnyx.jobs.clearance import in_team as is_member
from pnyx.jobs.model import JobAction, JobRecord, JobStatus
from pnyx.jobs.sealed_store import Bundle, DeliveryKey, SealedRepository
from pnyx.jobs.store import JobRepository
from pnyx.jobs.submission import AWAITING_NOTE, WorkspaceState
from pnyx.workspaces import envelope
from pnyx.workspaces.model import JobAuthorised, Workspace, WorkspaceObject, WorkspaceStatus
from pnyx.workspaces.store import WorkspaceBlobs, WorkspaceRepository

MAX_BUNDLE = 64 * 1024  # a sealed map of at most 64 object ids and keys is far smaller
# the notes about its keys that a job's next such note replaces
KEYS_NOTES = (AWAITING_NOTE, "authorised by ", "its SME's keys", "its SME's authorisation")


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectKey:
    """One object a job reads, as its SME unwraps it: its data key wrapped to the SME's key."""

    object_id: str
    wrapped_key: bytes
    context: str  # <workspace>/<object>


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorisationRequest:
    job_id: str
    workspace_id: str
    delivery_key_id: int
    delivery_public_key: str  # x25519:<base64url>: the dispatcher's, its private half in memory only
    objects: tuple[ObjectKey, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedObject:
    """An object a job reads, as the dispatcher hands it over: where its ciphertext lies (private)."""

    object_id: str
    path: str
    context: str
    sealed_meta: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedParts:
    """What a workspace job's hand-over needs besides the keys its ``bundle`` holds."""

    workspace_id: str
    public_key: str  # the workspace's: the job's outputs are sealed to it
    objects: tuple[SealedObject, ...]
    bundle: Bundle | None


def authorisation_context(job_id: str, delivery_key_id: int) -> str:
    return f"authorise/{job_id}/{delivery_key_id}"


def seal_authorisation(request: AuthorisationRequest, private: X25519PrivateKey) -> bytes:
    """The SME's side: every data key unwrapped with its key, sealed to the delivery key. Raises
    ``envelope.WrongKey`` (nothing sealed) when the key is not the workspace's."""
    keys = {
        o.object_id: base64.b64encode(envelope.unwrap_key(o.wrapped_key, private, o.context)).decode()
        for o in request.objects
    }
    body = json.dumps(keys, sort_keys=True).encode()
    context = authorisation_context(request.job_id, request.delivery_key_id)
    return envelope.seal_to(request.delivery_public_key, body, context)


def open_authorisation(
    private: X25519PrivateKey, bundle: Bundle, job_id: str, object_ids: Collection[str]
) -> dict[str, bytes]:
    """The dispatcher's side: the bundle opened in memory, one 256-bit key for each object, no more.
    ``envelope.WrongKey``/``Tampered`` or ``InvalidInput`` (naming ``authorisation``) otherwise."""
    body = envelope.open_sealed(private, bundle.sealed, authorisation_context(job_id, bundle.delivery_key_id))
    try:
        raw = json.loads(body)
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in raw.items()}
    except (ValueError, TypeError, AttributeError, binascii.Error) as exc:
        raise InvalidInput(
            "the authorisation is not a map of object ids to keys", field="authorisation"
        ) from exc
    if set(keys) != set(object_ids) or any(len(k) != envelope.KEY_BYTES for k in keys.values()):
        raise InvalidInput("the authorisation does not hold one key for each input", field="authorisation")
    return keys


def keys_reason(job: JobRecord, note: str) -> str:
    """The job's reason with ``note`` in place of an earlier note about its keys."""
    notes = [n for n in job.reason.split("; ") if n and not n.startswith(KEYS_NOTES)]
    return "; ".join([*notes, note])


class JobAuthorisations:
    def __init__(self, uow: UnitOfWork, *, projects: Projects, blobs: WorkspaceBlobs) -> None:
        self.uow, self.projects, self.blobs = uow, projects, blobs

    # --- the SME ------------------------------------------------------------------------------------

    def request(self, principal: Principal, job_id: str) -> AuthorisationRequest:
        """What the SME unwraps and seals for ``job_id`` (members of its project only)."""
        job = self._job(principal, job_id)
        if job.status is not JobStatus.AWAITING_KEYS:
            raise Conflict(
                f"job {job.id} is {job.status.value}: it does not await keys",
                field="job_id",
                code="job_not_awaiting_keys",
            )
        with self.uow.read() as conn:
            key = SealedRepository(conn).newest_key()
            workspace, objects = self._objects(conn, job)
        return AuthorisationRequest(
            job_id=job.id,
            workspace_id=workspace.id,
            delivery_key_id=_published(key).id,
            delivery_public_key=_published(key).public_key,
            objects=tuple(_object_key(workspace, o) for o in objects),
        )

    def authorise(self, principal: Principal, job_id: str, delivery_key_id: int, sealed: bytes) -> JobRecord:
        """Store the sealed bundle and queue the job, logged, in one transaction."""
        _check_sealed(sealed)
        checked = self._job(principal, job_id)
        with self.uow.write() as tx:
            repo, keys = JobRepository(tx.conn), SealedRepository(tx.conn)
            job = repo.get(job_id, for_update=True) or checked  # locked (jobs are never deleted)
            _check_current(keys.newest_key(), delivery_key_id)
            note = f"authorised by {principal.name}: its SME's keys are with the dispatcher"
            done = change(tx, repo, job, JobAction.AUTHORISE, reason=keys_reason(job, note))
            keys.put_bundle(job.id, delivery_key_id, sealed, tx.now)
            tx.emit(_authorised(checked, principal))
            return done

    def _job(self, principal: Principal, job_id: str) -> JobRecord:
        """The workspace job, for a member of its project; staff are told why, others learn nothing."""
        with self.uow.read() as conn:
            job = JobRepository(conn).get(job_id)
        project = None if job is None else self.projects.project(job.project)
        if job is None or job.workspace_id is None or project is None:
            raise NotFound(f"no workspace job {job_id!r}", field="job_id", code="job_not_found")
        if is_member(principal, project):
            return job
        if is_staff(principal):
            raise Forbidden(f"only members of project {project.id} authorise its jobs", field="job_id")
        raise NotFound(f"no workspace job {job_id!r}", field="job_id", code="job_not_found")

    def _objects(self, conn: sa.Connection, job: JobRecord) -> tuple[Workspace, list[WorkspaceObject]]:
        """The job's workspace (active) and its objects, in the job's order, each still openable."""
        assert job.workspace_id is not None
        ids = SealedRepository(conn).objects_of(job.id)
        workspaces = WorkspaceRepository(conn)
        workspace = workspaces.get(job.workspace_id)
        found = workspaces.objects_by_id(job.workspace_id, ids)
        if workspace is None or workspace.status is not WorkspaceStatus.ACTIVE:
            raise Conflict(
                f"job {job.id}'s workspace is shredded", field="workspace", code="workspace_shredded"
            )
        missing = [i for i in ids if i not in found or found[i].wrapped_key is None]
        if missing:
            raise Conflict(
                f"job {job.id} reads {len(missing)} objects its workspace no longer holds", field="workspace"
            )
        return workspace, [found[i] for i in ids]

    # --- the dispatcher ------------------------------------------------------------------------------

    def publish(self, public_key: str) -> int:
        """A dispatcher's delivery key, the newest from now on: its id."""
        envelope.parse_public_key(public_key)
        with self.uow.write() as tx:
            return SealedRepository(tx.conn).publish(public_key, tx.now).id

    def newest(self) -> DeliveryKey | None:
        with self.uow.read() as conn:
            return SealedRepository(conn).newest_key()

    def bundle_keys(self, job_ids: Collection[str]) -> dict[str, int]:
        """For each of those jobs that has a bundle, the delivery key it is sealed to."""
        with self.uow.read() as conn:
            return SealedRepository(conn).bundle_keys(job_ids)

    def keys_lost(self, jobs: Sequence[JobRecord], reason: str) -> list[JobRecord | Exception]:
        """Each job back to its SME (``awaiting_keys``, its bundle dropped), a placed one requeued first,
        in one transaction; per job its record, or the exception that left it as it was."""
        acts = [a for job in jobs for a in _sent_back(job, keys_reason(job, reason))]
        if not acts:
            return []
        with self.uow.write() as tx:
            done = act_each(tx, acts)
        last = {a.job_id: d for a, d in zip(acts, done, strict=True)}
        return [last[job.id] for job in jobs]

    def parts(self, job: JobRecord) -> SealedParts:
        """What the hand-over of ``job`` needs: its workspace's key, its objects, its bundle."""
        with self.uow.read() as conn:
            workspace, objects = self._objects(conn, job)
            bundle = SealedRepository(conn).bundle(job.id)
        return SealedParts(
            workspace_id=workspace.id,
            public_key=workspace.public_key,
            objects=tuple(self._sealed_object(workspace, o) for o in objects),
            bundle=bundle,
        )

    def _sealed_object(self, workspace: Workspace, obj: WorkspaceObject) -> SealedObject:
        return SealedObject(
            object_id=obj.id,
            path=str(self.blobs.path(workspace.id, obj.id)),
            context=envelope.context_of(workspace.id, obj.id),
            sealed_meta=obj.sealed_meta,
        )


class ProjectWorkspaces:
    """The jobs service's view of SME workspaces (``jobs.submission.Workspaces``)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def of_project(self, project: str) -> WorkspaceState:
        """Its active workspace; else whether it had one (all shredded): one read, never a mix."""
        with self.uow.read() as conn:
            found = WorkspaceRepository(conn).of_project(project)
        active = next((w.id for w in found if w.status is WorkspaceStatus.ACTIVE), None)
        return WorkspaceState(project=project, active=active, shredded=bool(found) and active is None)

    def held(self, workspace_id: str, object_ids: Collection[str]) -> frozenset[str]:
        with self.uow.read() as conn:
            found = WorkspaceRepository(conn).objects_by_id(workspace_id, object_ids)
        return frozenset(i for i, o in found.items() if o.wrapped_key is not None)


def _sent_back(job: JobRecord, reason: str) -> list[Act]:
    requeue = [Act(job.id, JobAction.REQUEUE, {"reason": reason}, requeue=True)]
    back = Act(job.id, JobAction.KEYS_LOST, {"reason": reason})
    return [*(requeue if job.status is not JobStatus.PENDING else []), back]


def _authorised(job: JobRecord, principal: Principal) -> JobAuthorised:
    """The log's entry: the job, who, and how many objects (never which)."""
    return JobAuthorised(
        workspace_id=str(job.workspace_id), job_id=job.id, by=principal.name, objects=job.sealed_inputs
    )


def _object_key(workspace: Workspace, obj: WorkspaceObject) -> ObjectKey:
    assert obj.wrapped_key is not None  # _objects refuses shredded ones
    return ObjectKey(
        object_id=obj.id, wrapped_key=obj.wrapped_key, context=envelope.context_of(workspace.id, obj.id)
    )


def _published(key: DeliveryKey | None) -> DeliveryKey:
    if key is None:
        raise Unavailable(
            "no dispatcher has published a delivery key yet: is the dispatcher running?",
            field="delivery_key_id",
            code="no_delivery_key",
        )
    return key


def _check_current(newest: DeliveryKey | None, delivery_key_id: int) -> None:
    if newest is None or newest.id != delivery_key_id:
        raise Conflict(
            "the dispatcher restarted; fetch the request again (its delivery key changed)",
            field="delivery_key_id",
            code="delivery_key_stale",
        )


def _check_sealed(sealed: bytes) -> None:
    """Sealed to some key (the right one only the dispatcher can tell), and bounded."""
    smallest = len(envelope.WRAP_MAGIC) + envelope.KEY_BYTES + 12 + envelope.TAG
    if not smallest < len(sealed) <= MAX_BUNDLE or not sealed.startswith(envelope.WRAP_MAGIC):
        raise InvalidInput(f"sealed: not a sealed bundle of at most {MAX_BUNDLE} bytes", field="sealed")
