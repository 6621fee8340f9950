"""A workspace job's sealed outputs taken into its workspace (the dispatcher's intake, once per attempt).

Inside its sandbox every file a workspace job wrote was sealed to the workspace's public key as
``<object id>.pxo``, listed in ``pnyx-sealed.json`` with its wrapped key, sealed metadata, commitment
and ciphertext digest (``workspaces.sandbox``). Once the attempt's outputs are recorded, the manifest
is read through the executor's ``OutputReader`` and checked as the hostile input it is
(``check_manifest``, pure): its version and workspace, every entry's fields, ids of 32 hex
characters named once and not yet stored, each listed file among the recorded outputs with the
listed digest and size. Then each ciphertext is copied into the workspace's files (checked again as
it is copied) and the objects are stored (origin ``job``) with their ``workspaces.objects.committed``
entries (commitments only) in one transaction, which also records the intake. A bad manifest is
refused with a reason (recorded: not tried again) and nothing of it is stored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pnyx.core.errors import Conflict, InvalidInput
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import Artifact, EngineRef, JobArtifact, JobRecord
from pnyx.jobs.sealed_store import SealedRepository
from pnyx.jobs.store import ArtifactRepository
from pnyx.workspaces import envelope, rules
from pnyx.workspaces.model import (
    SEALED_MANIFEST,
    SEALED_SUFFIX,
    ObjectOrigin,
    ObjectsCommitted,
    SealedOutput,
    Workspace,
    WorkspaceObject,
)
from pnyx.workspaces.store import WorkspaceBlobs, WorkspaceRepository

MAX_MANIFEST = 8 << 20
MAX_OUTPUTS = 10_000
COMMITMENTS_PER_ENTRY = 500  # an ObjectsCommitted entry stays far below the log's 64 KiB
SHAPE = rules.ObjectShape(
    wrapped_bytes=envelope.WRAPPED_BYTES,
    max_meta=envelope.MAX_META,
    min_ciphertext=envelope.HEADER.size + envelope.TAG,
)
FIELDS = frozenset(
    {"object_id", "file", "wrapped_key", "sealed_meta", "commitment", "ciphertext_sha256", "ciphertext_size"}
)
_HEX64 = re.compile("[0-9a-f]{64}")


def check_manifest(raw: bytes, workspace_id: str, recorded: Mapping[str, Artifact]) -> list[SealedOutput]:
    """The manifest's entries, each checked against the attempt's recorded outputs (pure).
    InvalidInput naming ``manifest`` with the first thing wrong."""
    try:
        found = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad("not JSON") from exc
    if not isinstance(found, dict) or found.get("version") != 1 or found.get("workspace_id") != workspace_id:
        raise _bad(f"not a version 1 manifest of workspace {workspace_id}")
    entries = found.get("objects")
    if not isinstance(entries, list) or len(entries) > MAX_OUTPUTS:
        raise _bad(f"objects: a list of at most {MAX_OUTPUTS} entries is expected")
    outputs = [_entry(e, recorded) for e in entries]
    if len({o.object_id for o in outputs}) != len(outputs):
        raise _bad("an object id is listed twice")
    return outputs


def _entry(raw: Any, recorded: Mapping[str, Artifact]) -> SealedOutput:
    if not isinstance(raw, dict) or set(raw) != FIELDS:
        raise _bad(f"an entry has exactly the fields {', '.join(sorted(FIELDS))}")
    size = raw["ciphertext_size"]
    if type(size) is not int or not isinstance(raw["ciphertext_sha256"], str):
        raise _bad("ciphertext_size is an integer and ciphertext_sha256 a string")
    output = SealedOutput(
        object_id=str(raw["object_id"]),
        file=str(raw["file"]),
        wrapped_key=_bytes(raw["wrapped_key"], "wrapped_key"),
        sealed_meta=_bytes(raw["sealed_meta"], "sealed_meta"),
        commitment=str(raw["commitment"]),
        ciphertext_sha256=raw["ciphertext_sha256"],
        ciphertext_size=size,
    )
    _check_fields(output)
    _check_recorded(output, recorded)
    return output


def _check_fields(output: SealedOutput) -> None:
    try:
        rules.check_upload(output.object_id, output.wrapped_key, output.sealed_meta, output.commitment, SHAPE)
        rules.check_ciphertext(output.ciphertext_size, SHAPE)
    except InvalidInput as exc:
        raise _bad(exc.message) from exc
    if output.file != f"{output.object_id}{SEALED_SUFFIX}" or not _HEX64.fullmatch(output.ciphertext_sha256):
        raise _bad(f"object {output.object_id}: its file is <object id>{SEALED_SUFFIX}, its digest 64 hex")


def _check_recorded(output: SealedOutput, recorded: Mapping[str, Artifact]) -> None:
    artifact = recorded.get(output.file)
    if artifact is None:
        raise _bad(f"{output.file} is listed but is not among the job's recorded outputs")
    if (artifact.sha256, artifact.size) != (output.ciphertext_sha256, output.ciphertext_size):
        raise _bad(f"{output.file}: its recorded digest or size is not the listed one")


def _bytes(value: object, field: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad(f"{field}: not base64") from exc


def _bad(why: str) -> InvalidInput:
    return InvalidInput(f"{SEALED_MANIFEST}: {why}"[:300], field="manifest", code="sealed_manifest_invalid")


class SealedIntake:
    """The dispatcher's intake (``dispatch.outputs.ModelIntake``) of workspace jobs' sealed outputs."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        readers: Mapping[str, OutputReader],
        blobs: WorkspaceBlobs,
        max_object_bytes: int,
    ) -> None:
        self.uow, self.readers, self.blobs, self.max_object_bytes = uow, readers, blobs, max_object_bytes

    def intake(self, job: JobRecord) -> str | None:
        """Take the attempt's sealed outputs in, once; a refusal's reason, or None. Raises when it
        could not decide (an engine or a disk that failed: tried again)."""
        with self.uow.read() as conn:
            if job.workspace_id is None or SealedRepository(conn).was_taken(job.id, job.attempt):
                return None
            attempt = ArtifactRepository(conn).of_attempt(job.id, job.attempt)
            recorded = {a.path: _artifact(a) for a in attempt}
        if SEALED_MANIFEST not in recorded:
            return None  # nothing was sealed (no outputs recorded yet, or none written)
        try:
            outputs = self._outputs(job, job.workspace_id, recorded)
            self._store(job, job.workspace_id, outputs)
        except (InvalidInput, Conflict) as exc:  # for good; an engine or a disk that failed raises
            return self._refuse(job, exc.message)
        return None

    def untaken(self, *, since: datetime, limit: int) -> list[JobRecord]:
        """Completed workspace jobs whose sealed outputs were recorded and not taken in (a crash)."""
        with self.uow.read() as conn:
            return SealedRepository(conn).untaken(SEALED_MANIFEST, since=since, limit=limit)

    def _outputs(
        self, job: JobRecord, workspace_id: str, recorded: Mapping[str, Artifact]
    ) -> list[SealedOutput]:
        manifest = recorded[SEALED_MANIFEST]
        if manifest.size > MAX_MANIFEST:
            raise _bad(f"larger than {MAX_MANIFEST} bytes")
        with self._reader(job).open_output(_ref(job), SEALED_MANIFEST, manifest.size) as f:
            raw = f.read(MAX_MANIFEST + 1)
        outputs = check_manifest(raw, workspace_id, recorded)
        with self.uow.read() as conn:
            known = WorkspaceRepository(conn).objects_by_id(workspace_id, [o.object_id for o in outputs])
        if known:
            raise _bad(f"object {sorted(known)[0]} is stored already")
        return outputs

    def _store(self, job: JobRecord, workspace_id: str, outputs: Sequence[SealedOutput]) -> None:
        """Each ciphertext copied in (checked again), then rows and entries in one transaction; any
        failure removes what was copied."""
        try:
            for output in outputs:
                self._copy(job, workspace_id, output)
            with self.uow.write() as tx:
                rules.check_active(_workspace(tx, workspace_id))
                self._commit(tx, job, workspace_id, outputs)
        except BaseException:
            for output in outputs:
                self.blobs.remove(workspace_id, output.object_id)
            raise

    def _copy(self, job: JobRecord, workspace_id: str, output: SealedOutput) -> None:
        self.blobs.remove(workspace_id, output.object_id)  # a crashed intake's leftover (its id is new)
        with self._reader(job).open_output(_ref(job), output.file, output.ciphertext_size) as src:
            stored = self.blobs.put(workspace_id, output.object_id, src, self.max_object_bytes)
        if stored != (output.ciphertext_sha256, output.ciphertext_size):
            raise _bad(f"{output.file} changed while it was copied")

    def _commit(
        self, tx: Transaction, job: JobRecord, workspace_id: str, outputs: Sequence[SealedOutput]
    ) -> None:
        repo = WorkspaceRepository(tx.conn)
        for output in outputs:
            repo.add_object(_object(output, workspace_id, job.id, tx))
        commitments = [o.commitment for o in outputs]
        for i in range(0, len(commitments), COMMITMENTS_PER_ENTRY):
            batch = tuple(commitments[i : i + COMMITMENTS_PER_ENTRY])
            tx.emit(
                ObjectsCommitted(
                    workspace_id=workspace_id, origin=ObjectOrigin.JOB.value, job_id=job.id, commitments=batch
                )
            )
        SealedRepository(tx.conn).taken(job.id, job.attempt, outcome="stored", reason="", at=tx.now)

    def _refuse(self, job: JobRecord, reason: str) -> str:
        with self.uow.write() as tx:
            SealedRepository(tx.conn).taken(job.id, job.attempt, outcome="refused", reason=reason, at=tx.now)
        return reason

    def _reader(self, job: JobRecord) -> OutputReader:
        reader = self.readers.get(job.engine)
        if reader is None or job.engine_job_id is None:
            raise _bad(f"the {job.engine} engine's outputs cannot be read by the control plane")
        return reader


def _ref(job: JobRecord) -> EngineRef:
    return EngineRef(engine=job.engine, engine_job_id=str(job.engine_job_id))


def _artifact(a: JobArtifact) -> Artifact:
    return Artifact(path=a.path, sha256=a.sha256, size=a.size)


def _workspace(tx: Transaction, workspace_id: str) -> Workspace:
    workspace = WorkspaceRepository(tx.conn).get(workspace_id)
    if workspace is None:
        raise _bad(f"workspace {workspace_id} is gone")
    return workspace


def _object(output: SealedOutput, workspace_id: str, job_id: str, tx: Transaction) -> WorkspaceObject:
    return WorkspaceObject(
        id=output.object_id,
        workspace_id=workspace_id,
        origin=ObjectOrigin.JOB,
        job_id=job_id,
        wrapped_key=output.wrapped_key,
        sealed_meta=output.sealed_meta,
        commitment=output.commitment,
        ciphertext_sha256=output.ciphertext_sha256,
        ciphertext_size=output.ciphertext_size,
        created_at=tx.now,
    )
