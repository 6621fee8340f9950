"""SME workspaces' use cases: create one, store objects encrypted on the SME's machine, read them
back (members), list ids and commitments (members and staff), shred.

The platform never sees a key it could open anything with: it keeps the public half of the SME's
key, each object's data key wrapped to it, metadata sealed under the data key, a salted commitment
and the ciphertext. Shredding NULLs the wrapped keys in one transaction (with its event), then
deletes the ciphertext files: from the commit on, nothing of the workspace can be opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import BinaryIO

from pnyx.core.errors import Conflict, NotFound
from pnyx.core.ids import new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal
from pnyx.jobs.clearance import ProjectInfo, Projects
from pnyx.workspaces import envelope, rules
from pnyx.workspaces.model import (
    ObjectOrigin,
    ObjectsCommitted,
    Workspace,
    WorkspaceAction,
    WorkspaceCreated,
    WorkspaceObject,
    WorkspaceShredded,
    WorkspaceStatus,
)
from pnyx.workspaces.store import WorkspaceBlobs, WorkspaceRepository

log = logging.getLogger(__name__)

SHAPE = rules.ObjectShape(
    wrapped_bytes=envelope.WRAPPED_BYTES,
    max_meta=envelope.MAX_META,
    min_ciphertext=envelope.HEADER.size + envelope.TAG,
)
OpenJobs = Callable[[str], list[str]]  # a project's jobs not yet ended (ids)


class WorkspaceService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        projects: Projects,
        blobs: WorkspaceBlobs,
        open_jobs: OpenJobs,
        max_object_bytes: int,
    ) -> None:
        self.uow = uow
        self.projects = projects
        self.blobs = blobs
        self.open_jobs = open_jobs
        self.max_object_bytes = max_object_bytes

    def create(self, principal: Principal, project_id: str, public_key: str) -> Workspace:
        """The project's workspace, holding objects sealed to ``public_key`` (the SME's KEK). Refused
        while the project has jobs not yet ended: submitted unsealed, they would run unsealed after."""
        project = self._project(project_id)
        rules.check_member(principal, project, "create its workspace")
        envelope.parse_public_key(public_key, field="public_key")
        _refuse_open_jobs(project, self.open_jobs(project.id), "creating its workspace", "project")
        with self.uow.write() as tx:
            repo = WorkspaceRepository(tx.conn)
            if repo.active_of_project(project.id) is not None:
                raise Conflict(f"project {project.id} has an active workspace already", field="project")
            workspace = _new_workspace(tx, principal, project.id, public_key)
            repo.add(workspace)
            tx.emit(WorkspaceCreated(workspace_id=workspace.id, project=project.id, by=principal.name))
        return workspace

    def workspace(self, principal: Principal, workspace_id: str) -> Workspace:
        workspace, _project = self._seen(principal, workspace_id)
        return workspace

    def of_project(self, principal: Principal, project_id: str) -> list[Workspace]:
        """The project's workspaces, newest first (shredded ones too)."""
        project = self._project(project_id)
        rules.check_see(principal, project, f"project {project_id}")
        with self.uow.read() as conn:
            return WorkspaceRepository(conn).of_project(project.id)

    def store_object(
        self,
        principal: Principal,
        workspace_id: str,
        *,
        object_id: str,
        wrapped_key: bytes,
        sealed_meta: bytes,
        commitment: str,
        ciphertext: BinaryIO,
    ) -> WorkspaceObject:
        """An object encrypted on the SME's machine: its file first, then its row and its
        ``ObjectsCommitted`` in one transaction (a failed transaction removes the file)."""
        rules.check_upload(object_id, wrapped_key, sealed_meta, commitment, SHAPE)
        workspace, project = self._seen(principal, workspace_id)
        rules.check_member(principal, project, "upload to its workspace")
        rules.check_active(workspace)
        sha256, size = self.blobs.put(workspace.id, object_id, ciphertext, self.max_object_bytes)
        try:
            rules.check_ciphertext(size, SHAPE)
            return self._commit_upload(
                workspace.id, object_id, wrapped_key, sealed_meta, commitment, sha256, size
            )
        except BaseException:
            self.blobs.remove(workspace.id, object_id)
            raise

    def objects(self, principal: Principal, workspace_id: str) -> list[WorkspaceObject]:
        """Every object, oldest first, as ``principal`` may see it (``rules.as_seen_by``)."""
        workspace, project = self._seen(principal, workspace_id)
        with self.uow.read() as conn:
            found = WorkspaceRepository(conn).objects(workspace.id)
        return [rules.as_seen_by(principal, project, o) for o in found]

    def object(self, principal: Principal, workspace_id: str, object_id: str) -> WorkspaceObject:
        workspace, project = self._seen(principal, workspace_id)
        return rules.as_seen_by(principal, project, self._object(workspace.id, object_id))

    def open_ciphertext(
        self, principal: Principal, workspace_id: str, object_id: str
    ) -> tuple[WorkspaceObject, BinaryIO]:
        """An object's ciphertext, for its project's members only; refused once shredded."""
        workspace, project = self._seen(principal, workspace_id)
        rules.check_member(principal, project, "download its ciphertexts")
        rules.check_active(workspace)
        obj = self._object(workspace.id, object_id)
        path = self.blobs.path(workspace.id, obj.id)
        if not path.is_file():
            raise NotFound(f"object {obj.id}: its ciphertext is not on this server", field="object_id")
        return obj, path.open("rb")

    def shred(self, principal: Principal, workspace_id: str, reason: str) -> Workspace:
        """Destroy the wrapped keys (one transaction, ``WorkspaceShredded``), then the ciphertexts.
        Refused while the project has jobs not yet ended: they may hold its data keys."""
        reason = rules.check_reason(reason)
        workspace, project = self._seen(principal, workspace_id)
        rules.check_shred(principal, project)
        rules.transition(workspace, WorkspaceAction.SHRED)
        _refuse_open_jobs(project, self.open_jobs(project.id), "shredding its workspace", "workspace")
        shredded = self._shred(principal, workspace.id, reason)
        files = self.blobs.remove_workspace(workspace.id)
        log.warning("workspace %s of project %s shredded by %s: %d ciphertext files deleted",
                    workspace.id, project.id, principal.name, files)  # fmt: skip
        return shredded

    def _shred(self, principal: Principal, workspace_id: str, reason: str) -> Workspace:
        with self.uow.write() as tx:
            repo = WorkspaceRepository(tx.conn)
            workspace = _found(repo.get(workspace_id, for_update=True), workspace_id)
            after = rules.transition(workspace, WorkspaceAction.SHRED)  # again, inside the transaction
            objects = repo.shred(workspace.id, tx.now)
            tx.emit(
                WorkspaceShredded(
                    workspace_id=workspace.id,
                    project=workspace.project,
                    by=principal.name,
                    objects=objects,
                    reason=reason,
                )
            )
        return _with_status(workspace, after, tx)

    def _commit_upload(
        self,
        workspace_id: str,
        object_id: str,
        wrapped_key: bytes,
        sealed_meta: bytes,
        commitment: str,
        sha256: str,
        size: int,
    ) -> WorkspaceObject:
        with self.uow.write() as tx:
            repo = WorkspaceRepository(tx.conn)
            rules.check_active(_found(repo.get(workspace_id, for_update=True), workspace_id))  # not shredded
            if repo.objects_by_id(workspace_id, [object_id]):
                raise Conflict(f"object_id: {object_id} is stored already", field="object_id")
            obj = WorkspaceObject(
                id=object_id,
                workspace_id=workspace_id,
                origin=ObjectOrigin.UPLOAD,
                job_id=None,
                wrapped_key=wrapped_key,
                sealed_meta=sealed_meta,
                commitment=commitment,
                ciphertext_sha256=sha256,
                ciphertext_size=size,
                created_at=tx.now,
            )
            repo.add_object(obj)
            tx.emit(_committed(obj))
        return obj

    def _object(self, workspace_id: str, object_id: str) -> WorkspaceObject:
        rules.check_object_id(object_id)
        with self.uow.read() as conn:
            found = WorkspaceRepository(conn).objects_by_id(workspace_id, [object_id])
        if object_id not in found:
            raise NotFound(f"object {object_id} not found in workspace {workspace_id}", field="object_id")
        return found[object_id]

    def _seen(self, principal: Principal, workspace_id: str) -> tuple[Workspace, ProjectInfo]:
        """The workspace and its project, if ``principal`` may know it exists (NotFound otherwise)."""
        with self.uow.read() as conn:
            workspace = _found(WorkspaceRepository(conn).get(workspace_id), workspace_id)
        project = self.projects.project(workspace.project)
        if project is None:
            raise NotFound(f"workspace {workspace_id} not found", field="workspace")
        rules.check_see(principal, project, f"workspace {workspace_id}")
        return workspace, project

    def _project(self, project_id: str) -> ProjectInfo:
        project = self.projects.project(project_id)
        if project is None:
            raise NotFound(f"project {project_id} not found", field="project")
        return project


def _new_workspace(tx: Transaction, principal: Principal, project: str, public_key: str) -> Workspace:
    return Workspace(
        id=new_id("ws"),
        project=project,
        public_key=public_key,
        status=WorkspaceStatus.ACTIVE,
        created_by=str(principal.user_id),
        created_at=tx.now,
    )


def _committed(obj: WorkspaceObject) -> ObjectsCommitted:
    """What the public log says of a stored object: its commitment, nothing else."""
    return ObjectsCommitted(
        workspace_id=obj.workspace_id,
        origin=obj.origin.value,
        job_id=obj.job_id,
        commitments=(obj.commitment,),
    )


def _found(workspace: Workspace | None, workspace_id: str) -> Workspace:
    if workspace is None:
        raise NotFound(f"workspace {workspace_id} not found", field="workspace")
    return workspace


def _with_status(workspace: Workspace, status: WorkspaceStatus, tx: Transaction) -> Workspace:
    return replace(workspace, status=status, shredded_at=tx.now)


def _refuse_open_jobs(project: ProjectInfo, open_jobs: list[str], before: str, field: str) -> None:
    if open_jobs:
        shown = ", ".join(open_jobs[:5]) + (" ..." if len(open_jobs) > 5 else "")
        raise Conflict(
            f"project {project.id} has {len(open_jobs)} jobs not yet ended ({shown}): "
            f"cancel them or let them finish before {before}",
            field=field,
            code="open_jobs",
        )
