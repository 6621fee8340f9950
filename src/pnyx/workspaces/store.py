"""SME workspaces: their tables and their ciphertext files.

The database keeps per object what the platform may hold: the wrapped data key (NULL once the
workspace is shredded), the sealed metadata, the salted commitment and the ciphertext's digest and
size. The ciphertexts themselves are files, ``<root>/<workspace id>/<object id>``, directories 0700
and files 0600, each written to a temporary name, fsynced and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.db.files import private_dir
from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.workspaces.model import ObjectOrigin, Workspace, WorkspaceObject, WorkspaceStatus

CHUNK = 1 << 20
_WORKSPACE_ID = re.compile(r"ws_[0-9a-f]{12}")
_OBJECT_ID = re.compile(r"[0-9a-f]{32}")

_active = sa.text("status = 'active'")

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("project", sa.String(80), nullable=False, index=True),
    sa.Column("public_key", sa.String(80), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_by", sa.String(80), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("shredded_at", UtcDateTime(), nullable=True),
    sa.Index(
        "ux_workspaces_active_project",
        "project",
        unique=True,
        sqlite_where=_active,
        postgresql_where=_active,
    ),
)

workspace_objects = sa.Table(
    "workspace_objects",
    metadata,
    sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), primary_key=True),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("job_id", sa.String(40), nullable=True),
    sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
    sa.Column("sealed_meta", sa.LargeBinary(), nullable=False),
    sa.Column("commitment", sa.String(64), nullable=False),
    sa.Column("ciphertext_sha256", sa.String(64), nullable=False),
    sa.Column("ciphertext_size", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)


class WorkspaceRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, workspace: Workspace) -> None:
        self.conn.execute(workspaces.insert().values(**_workspace_row(workspace)))

    def get(self, workspace_id: str, *, for_update: bool = False) -> Workspace | None:
        query = sa.select(workspaces).where(workspaces.c.id == workspace_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _workspace(row)

    def active_of_project(self, project: str) -> Workspace | None:
        t = workspaces
        query = sa.select(t).where(t.c.project == project, t.c.status == WorkspaceStatus.ACTIVE.value)
        row = self.conn.execute(query).mappings().first()
        return None if row is None else _workspace(row)

    def of_project(self, project: str) -> list[Workspace]:
        """Every workspace of the project, the newest first (shredded ones included)."""
        t = workspaces
        query = sa.select(t).where(t.c.project == project).order_by(t.c.created_at.desc(), t.c.id)
        return [_workspace(r) for r in self.conn.execute(query).mappings()]

    def add_object(self, obj: WorkspaceObject) -> None:
        self.conn.execute(workspace_objects.insert().values(**_object_row(obj)))

    def objects(self, workspace_id: str) -> list[WorkspaceObject]:
        t = workspace_objects
        query = sa.select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.created_at, t.c.id)
        return [_object(r) for r in self.conn.execute(query).mappings()]

    def objects_by_id(self, workspace_id: str, ids: Collection[str]) -> dict[str, WorkspaceObject]:
        if not ids:
            return {}
        t = workspace_objects
        query = sa.select(t).where(t.c.workspace_id == workspace_id, t.c.id.in_(list(ids)))
        return {r["id"]: _object(r) for r in self.conn.execute(query).mappings()}

    def shred(self, workspace_id: str, at: datetime) -> int:
        """Status SHREDDED and every wrapped key NULL; answers how many objects it held."""
        self.conn.execute(
            workspaces.update()
            .where(workspaces.c.id == workspace_id)
            .values(status=WorkspaceStatus.SHREDDED.value, shredded_at=at)
        )
        t = workspace_objects
        result = self.conn.execute(
            t.update().where(t.c.workspace_id == workspace_id).values(wrapped_key=None)
        )
        return int(result.rowcount)


class WorkspaceBlobs:
    """Ciphertext files: ``<root>/<workspace id>/<object id>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, workspace_id: str, object_id: str) -> Path:
        return self._directory(workspace_id) / _checked(_OBJECT_ID, object_id, "object_id")

    def put(self, workspace_id: str, object_id: str, src: BinaryIO, max_bytes: int) -> tuple[str, int]:
        """Copy ``src`` to the object's file: (sha256, size) of what was stored. Over ``max_bytes``:
        InvalidInput naming ``ciphertext`` and nothing left behind. An existing file: Conflict."""
        target = self.path(workspace_id, object_id)
        folder = private_dir(target.parent)
        descriptor, raw = tempfile.mkstemp(dir=folder, prefix=f".{object_id}-")
        temporary = Path(raw)
        try:
            stored = _copy_hashing(src, descriptor, max_bytes)
            _rename_new(temporary, target)
            return stored
        finally:
            temporary.unlink(missing_ok=True)

    def remove(self, workspace_id: str, object_id: str) -> None:
        self.path(workspace_id, object_id).unlink(missing_ok=True)

    def remove_workspace(self, workspace_id: str) -> int:
        """Delete the workspace's ciphertext files; answers how many objects' files were removed."""
        folder = self._directory(workspace_id)
        if not folder.is_dir():
            return 0
        removed = sum(1 for f in folder.iterdir() if _OBJECT_ID.fullmatch(f.name))
        shutil.rmtree(folder)
        return removed

    def _directory(self, workspace_id: str) -> Path:
        return self.root / _checked(_WORKSPACE_ID, workspace_id, "workspace_id")


def _checked(pattern: re.Pattern[str], value: str, field: str) -> str:
    if pattern.fullmatch(value) is None:
        raise InvalidInput(f"{field}: {value!r} is not a {field.replace('_', ' ')}", field=field)
    return value


def _copy_hashing(src: BinaryIO, descriptor: int, max_bytes: int) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with os.fdopen(descriptor, "wb") as out:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            size += len(chunk)
            if size > max_bytes:
                raise InvalidInput(
                    f"ciphertext: larger than the limit of {max_bytes} bytes (PNYX_WORKSPACE_OBJECT_BYTES)",
                    field="ciphertext",
                    code="too_large",
                )
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


def _rename_new(temporary: Path, target: Path) -> None:
    """Link the temporary file in as ``target`` (refusing an existing one), then fsync the folder."""
    try:
        os.link(temporary, target)
    except FileExistsError as exc:
        raise Conflict(f"object_id: {target.name} is stored already", field="object_id") from exc
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _workspace_row(w: Workspace) -> dict[str, Any]:
    return {
        "id": w.id,
        "project": w.project,
        "public_key": w.public_key,
        "status": w.status.value,
        "created_by": w.created_by,
        "created_at": w.created_at,
        "shredded_at": w.shredded_at,
    }


def _workspace(row: sa.RowMapping) -> Workspace:
    return Workspace(
        id=row["id"],
        project=row["project"],
        public_key=row["public_key"],
        status=WorkspaceStatus(row["status"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        shredded_at=row["shredded_at"],
    )


def _object_row(o: WorkspaceObject) -> dict[str, Any]:
    return {
        "id": o.id,
        "workspace_id": o.workspace_id,
        "origin": o.origin.value,
        "job_id": o.job_id,
        "wrapped_key": o.wrapped_key,
        "sealed_meta": o.sealed_meta,
        "commitment": o.commitment,
        "ciphertext_sha256": o.ciphertext_sha256,
        "ciphertext_size": o.ciphertext_size,
        "created_at": o.created_at,
    }


def _object(row: sa.RowMapping) -> WorkspaceObject:
    return WorkspaceObject(
        id=row["id"],
        workspace_id=row["workspace_id"],
        origin=ObjectOrigin(row["origin"]),
        job_id=row["job_id"],
        wrapped_key=row["wrapped_key"],
        sealed_meta=row["sealed_meta"],
        commitment=row["commitment"],
        ciphertext_sha256=row["ciphertext_sha256"],
        ciphertext_size=row["ciphertext_size"],
        created_at=row["created_at"],
    )
