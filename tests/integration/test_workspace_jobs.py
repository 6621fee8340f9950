"""SME workspace jobs through the control plane (both databases, the fake engine standing in for the
local one): submission, authorisation, a dispatched spec that carries the data keys, sealed outputs
taken in as workspace objects, a dispatcher restart sending the job back for keys, forged manifests
refused, and neither the database nor the public log holding what they must not."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import pytest
import sqlalchemy as sa

from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.core.ids import UserId
from pnyx.db.metadata import metadata
from pnyx.dispatch.leadership import FileLeadership
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.outputs import JobIntakes
from pnyx.dispatch.sealed import KeyGate
from pnyx.executors.fake import FakeExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.model import Artifact, EngineRef, EngineState, JobStatus
from pnyx.jobs.sealed_store import SealedRepository, workspace_intakes
from pnyx.jobs.service import JobService, ProjectInfo, Submission
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from pnyx.workspaces.authorisation import JobAuthorisations, ProjectWorkspaces, seal_authorisation
from pnyx.workspaces.intake import SealedIntake
from pnyx.workspaces.model import SEALED_MANIFEST, ObjectOrigin
from pnyx.workspaces.service import WorkspaceService
from pnyx.workspaces.store import WorkspaceBlobs, WorkspaceRepository
from tests.integration.test_job_safety import logged

SME = Principal(user_id=UserId("usr_sme"), name="sme", roles=frozenset({Role.RESEARCHER}))
EVE = Principal(user_id=UserId("usr_eve"), name="eve", roles=frozenset({Role.RESEARCHER}))
PLAINTEXT = b"the SME's private training data " * 20


class Projects:
    def project(self, project_id: str) -> ProjectInfo | None:
        members = {"sme-co": frozenset({"usr_sme"}), "other": frozenset({"usr_eve"})}.get(project_id)
        if members is None:
            return None
        return ProjectInfo(id=project_id, member_state="DE", members=members, over_budget=False)


class ReadableFake(FakeExecutor):
    """The fake engine, named local, whose jobs' output files the control plane can read."""

    engine = "local"

    def __init__(self) -> None:
        super().__init__()
        self.contents: dict[tuple[str, str], bytes] = {}

    def open_output(self, ref: EngineRef, path: str, size: int) -> BinaryIO:
        data = self.contents.get((ref.engine_job_id, path))
        if data is None or len(data) != size:
            raise InvalidInput(f"no output {path}", field="path")
        return io.BytesIO(data)

    def write(self, key: str, files: dict[str, bytes]) -> list[Artifact]:
        """The job's outputs as its sandbox would leave them."""
        for name, data in files.items():
            self.contents[(key, name)] = data
        return [Artifact(path=n, sha256=hashlib.sha256(d).hexdigest(), size=len(d)) for n, d in files.items()]


@dataclass
class World:
    platform: Platform
    engine: ReadableFake
    jobs: JobService
    auth: JobAuthorisations
    intake: SealedIntake
    workspaces: WorkspaceService
    sme_key: envelope.KeyPair
    workspace: str
    objects: list[str]
    tmp_path: Path

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(
            jobs=self.jobs,
            topology=self.platform.topology.topology,
            executors={"local": self.engine},
            shares=lambda _at: {"DE": Decimal(1)},
            clock=self.jobs.uow.clock,
            policy=policy_named("full"),
            leadership=FileLeadership(self.tmp_path / "dispatch.lock"),
            intake=JobIntakes(None, self.intake),
            keys=KeyGate(self.auth),
        )

    def submit(self, *objects: str, project: str = "sme-co", engine: str | None = None) -> str:
        s = Submission(
            name="finetune",
            project=project,
            accelerators=8,
            estimate_s=3600,
            accelerator_type="H100-SXM",
            command=("train",),
            engine=engine,
            workspace_objects=objects,
        )
        return self.jobs.submit(SME if project == "sme-co" else EVE, s).id

    def authorise(self, job_id: str) -> None:
        request = self.auth.request(SME, job_id)
        private = envelope.load_private_key(self.sme_key.private_pem)
        self.auth.authorise(SME, job_id, request.delivery_key_id, seal_authorisation(request, private))

    def status(self, job_id: str) -> JobStatus:
        return self.jobs.get(SME, job_id).status

    def data_key(self, object_id: str) -> bytes:
        with self.platform.uow.read() as conn:
            obj = WorkspaceRepository(conn).objects_by_id(self.workspace, [object_id])[object_id]
        assert obj.wrapped_key is not None
        context = envelope.context_of(self.workspace, object_id)
        return envelope.unwrap_key(obj.wrapped_key, self.sme_key.private_pem, context)


@pytest.fixture
def world(platform: Platform, tmp_path: Path) -> World:
    platform.inventory.generate(64, seed=1)
    engine, projects = ReadableFake(), Projects()
    blobs = WorkspaceBlobs(tmp_path / "workspaces")
    jobs = JobService(
        platform.uow,
        projects=projects,
        fits=fit_check(platform.topology),
        executors={"local": engine},
        default_engine="local",
        workspaces=ProjectWorkspaces(platform.uow),
    )
    workspaces = WorkspaceService(
        platform.uow, projects=projects, blobs=blobs, open_jobs=lambda _p: [], max_object_bytes=1 << 20
    )
    key = envelope.generate_keypair()
    workspace = workspaces.create(SME, "sme-co", key.public_key).id
    objects = [_upload(workspaces, workspace, key.public_key, PLAINTEXT + bytes([i])) for i in range(2)]
    return World(
        platform=platform,
        engine=engine,
        jobs=jobs,
        auth=JobAuthorisations(platform.uow, projects=projects, blobs=blobs),
        intake=SealedIntake(platform.uow, readers={"local": engine}, blobs=blobs, max_object_bytes=1 << 20),
        workspaces=workspaces,
        sme_key=key,
        workspace=workspace,
        objects=objects,
        tmp_path=tmp_path,
    )


def _upload(workspaces: WorkspaceService, workspace: str, public_key: str, plaintext: bytes) -> str:
    out = io.BytesIO()
    sealed = envelope.seal_object(
        io.BytesIO(plaintext),
        out,
        object_id=envelope.new_object_id(),
        name="data.txt",
        public_key=public_key,
        workspace_id=workspace,
    )
    out.seek(0)
    workspaces.store_object(
        SME,
        workspace,
        object_id=sealed.object_id,
        wrapped_key=sealed.wrapped_key,
        sealed_meta=sealed.sealed_meta,
        commitment=sealed.commitment,
        ciphertext=out,
    )
    return sealed.object_id


def sealed_outputs(
    workspace: str, public_key: str, files: dict[str, bytes]
) -> tuple[dict[str, bytes], list[dict[str, object]]]:
    """What a workspace job's sandbox leaves: ``<id>.pxo`` files and ``pnyx-sealed.json``."""
    written: dict[str, bytes] = {}
    entries: list[dict[str, object]] = []
    for name, plaintext in files.items():
        object_id = secrets.token_hex(16)
        context = envelope.context_of(workspace, object_id)
        key, out = envelope.new_data_key(), io.BytesIO()
        digest = envelope.encrypt_stream(io.BytesIO(plaintext), out, key, context)
        meta = envelope.ObjectMeta(
            name=name, plaintext_sha256=digest.plaintext_sha256, size=len(plaintext), salt=envelope.new_salt()
        )
        written[f"{object_id}.pxo"] = out.getvalue()
        entries.append(
            {
                "object_id": object_id,
                "file": f"{object_id}.pxo",
                "wrapped_key": base64.b64encode(envelope.wrap_key(key, public_key, context)).decode(),
                "sealed_meta": base64.b64encode(envelope.seal_meta(meta, key, context)).decode(),
                "commitment": meta.commitment(),
                "ciphertext_sha256": digest.ciphertext_sha256,
                "ciphertext_size": digest.ciphertext_size,
            }
        )
    return written, entries


def manifest(workspace: str, entries: Sequence[dict[str, object]]) -> bytes:
    return json.dumps({"version": 1, "workspace_id": workspace, "objects": list(entries)}).encode()


def finish_with(world: World, job_id: str, files: dict[str, bytes]) -> None:
    key = world.jobs.get(SME, job_id).idempotency_key
    world.engine.finish(key, EngineState.SUCCEEDED, artifacts=world.engine.write(key, files))


def publish(world: World) -> None:
    """One dispatcher's cycle: its delivery key published."""
    dispatcher = world.dispatcher()
    dispatcher.cycle()
    dispatcher.close()


def run_to_end(world: World, dispatcher: Dispatcher) -> None:
    dispatcher.cycle()
    assert dispatcher.outputs.wait(30)


def every_row(platform: Platform) -> bytes:
    """Every table's every row, as one blob to search."""
    found: list[bytes] = []
    with platform.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                found.extend(repr(v).encode() if not isinstance(v, bytes) else v for v in row)
    return b"\n".join(found)


def test_submission_refuses_what_a_workspace_job_may_not_do(world: World) -> None:
    with pytest.raises(InvalidInput) as engine:
        world.submit(engine="fake")
    assert engine.value.field == "engine"
    with pytest.raises(InvalidInput) as twice:
        world.submit(world.objects[0], world.objects[0])
    assert twice.value.field == "workspace_objects"


def test_an_object_of_another_workspace_is_refused_like_an_unknown_one(world: World) -> None:
    other_key = envelope.generate_keypair()
    elsewhere = world.workspaces.create(EVE, "other", other_key.public_key).id
    eves = _upload_as(world, EVE, elsewhere, other_key.public_key)
    with pytest.raises(InvalidInput) as theirs:
        world.submit(eves)
    with pytest.raises(InvalidInput) as unknown:
        world.submit("f" * 32)
    assert theirs.value.field == unknown.value.field == "workspace_objects"
    assert theirs.value.message.replace(eves, "X") == unknown.value.message.replace("f" * 32, "X")


def _upload_as(world: World, who: Principal, workspace: str, public_key: str) -> str:
    object_id = secrets.token_hex(16)
    context = envelope.context_of(workspace, object_id)
    data_key, out = envelope.new_data_key(), io.BytesIO()
    digest = envelope.encrypt_stream(io.BytesIO(b"eve"), out, data_key, context)
    meta = envelope.ObjectMeta(
        name="e", plaintext_sha256=digest.plaintext_sha256, size=3, salt=envelope.new_salt()
    )
    out.seek(0)
    world.workspaces.store_object(
        who,
        workspace,
        object_id=object_id,
        wrapped_key=envelope.wrap_key(data_key, public_key, context),
        sealed_meta=envelope.seal_meta(meta, data_key, context),
        commitment=meta.commitment(),
        ciphertext=out,
    )
    return object_id


def test_objects_need_a_workspace(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        world.jobs.submit(
            EVE,
            Submission(
                name="x",
                project="other",
                accelerators=8,
                estimate_s=60,
                command=("x",),
                workspace_objects=("a" * 32,),
            ),
        )
    assert refused.value.field == "workspace_objects"


def test_authorised_job_runs_with_its_keys_and_its_sealed_outputs_are_taken_in(world: World) -> None:
    job_id = world.submit(*world.objects)
    assert world.status(job_id) is JobStatus.AWAITING_KEYS
    [submitted] = [
        e["data"] for e in logged(world.platform, "jobs.job.submitted") if e["data"]["job_id"] == job_id
    ]
    assert submitted["sealed_inputs"] == 2
    assert not any(o in json.dumps(submitted) for o in world.objects)
    dispatcher = world.dispatcher()
    dispatcher.cycle()  # publishes its delivery key; the job waits for its SME
    assert world.status(job_id) is JobStatus.AWAITING_KEYS
    assert world.engine.submissions == 0

    world.authorise(job_id)
    assert world.status(job_id) is JobStatus.PENDING
    keys = [world.data_key(o) for o in world.objects]
    rows = every_row(world.platform)
    for key in keys:  # the database holds no data key, in any spelling
        for spelling in (
            key,
            base64.b64encode(key),
            base64.urlsafe_b64encode(key).rstrip(b"="),
            key.hex().encode(),
        ):
            assert spelling not in rows
    [authorised] = logged(world.platform, "workspaces.job.authorised")
    assert authorised["data"]["objects"] == 2

    dispatcher.cycle()
    [spec] = world.engine.submitted.values()
    assert spec.sealed is not None
    assert spec.sealed.workspace_id == world.workspace
    assert [i.object_id for i in spec.sealed.inputs] == world.objects
    assert [i.data_key for i in spec.sealed.inputs] == keys
    assert all(Path(i.path).is_file() for i in spec.sealed.inputs)

    pxo, entries = sealed_outputs(
        world.workspace, spec.sealed.public_key, {"adapter.safetensors": b"weights" * 100}
    )
    finish_with(world, job_id, {**pxo, SEALED_MANIFEST: manifest(world.workspace, entries)})
    run_to_end(world, dispatcher)
    dispatcher.close()
    assert world.status(job_id) is JobStatus.COMPLETED
    with world.platform.uow.read() as conn:
        stored = [
            o for o in WorkspaceRepository(conn).objects(world.workspace) if o.origin is ObjectOrigin.JOB
        ]
        assert SealedRepository(conn).bundle(job_id) is None  # its keys went with it
    assert [(o.id, o.job_id) for o in stored] == [(entries[0]["object_id"], job_id)]
    assert WorkspaceBlobs(world.tmp_path / "workspaces").path(
        world.workspace, stored[0].id
    ).read_bytes() == next(iter(pxo.values()))
    committed = [
        e["data"]
        for e in logged(world.platform, "workspaces.objects.committed")
        if e["data"]["job_id"] == job_id
    ]
    assert committed == [
        {
            "workspace_id": world.workspace,
            "origin": "job",
            "job_id": job_id,
            "commitments": [entries[0]["commitment"]],
        }
    ]
    assert_log_quiet(world, job_id, pxo)


def assert_log_quiet(world: World, job_id: str, files: dict[str, bytes]) -> None:
    """The job's public entries name none of its files, sizes or digests."""
    [recorded] = [
        e["data"] for e in logged(world.platform, "jobs.outputs.recorded") if e["data"]["job_id"] == job_id
    ]
    assert recorded["sealed"] is True
    assert recorded["files"] is None
    assert recorded["bytes"] is None
    assert recorded["manifest_sha256"] is None
    with world.platform.engine.connect() as conn:
        entries = b"\n".join(bytes(r) for r in conn.execute(sa.text("SELECT entry FROM outbox")).scalars())
    for name, data in files.items():
        assert name.encode() not in entries
        assert hashlib.sha256(data).hexdigest().encode() not in entries
        assert re.search(rb"[:\[,]%d[,\]}]" % len(data), entries) is None  # no number is its size


def test_a_restarted_dispatcher_sends_the_job_back_for_keys(world: World) -> None:
    job_id = world.submit(world.objects[0])
    first = world.dispatcher()
    first.cycle()
    world.authorise(job_id)
    first.close()
    again = world.dispatcher()  # a new delivery key, in memory: the bundle is sealed to the old one
    again.cycle()
    job = world.jobs.get(SME, job_id)
    assert job.status is JobStatus.AWAITING_KEYS
    assert "authorise it again" in job.reason
    assert world.engine.submissions == 0
    with world.platform.uow.read() as conn:
        assert SealedRepository(conn).bundle(job_id) is None
    stale = world.auth.request(SME, job_id)
    assert stale.delivery_key_id == world.auth.newest().id  # type: ignore[union-attr]
    world.authorise(job_id)
    again.cycle()
    again.close()
    assert world.engine.submissions == 1


def test_a_stale_delivery_key_is_refused(world: World) -> None:
    job_id = world.submit(world.objects[0])
    first = world.dispatcher()
    first.cycle()
    request = world.auth.request(SME, job_id)
    first.close()
    second = world.dispatcher()
    second.cycle()  # another dispatcher leads with a key of its own
    second.close()
    sealed = seal_authorisation(request, envelope.load_private_key(world.sme_key.private_pem))
    with pytest.raises(Conflict) as stale:
        world.auth.authorise(SME, job_id, request.delivery_key_id, sealed)
    assert stale.value.code == "delivery_key_stale"
    assert world.status(job_id) is JobStatus.AWAITING_KEYS


def test_a_wrong_sme_key_fails_before_anything_is_sent(world: World) -> None:
    job_id = world.submit(world.objects[0])
    publish(world)
    request = world.auth.request(SME, job_id)
    with pytest.raises(envelope.WrongKey):
        seal_authorisation(request, envelope.load_private_key(envelope.generate_keypair().private_pem))


def test_another_projects_member_learns_nothing_of_the_request(world: World) -> None:
    job_id = world.submit(world.objects[0])
    publish(world)
    with pytest.raises(NotFound):
        world.auth.request(EVE, job_id)
    with pytest.raises(NotFound):
        world.auth.authorise(EVE, job_id, 1, b"PXW1" + b"\0" * 100)


def test_a_workspace_job_without_inputs_runs_at_once_and_seals_its_outputs(world: World) -> None:
    job_id = world.submit()
    assert world.status(job_id) is JobStatus.PENDING
    dispatcher = world.dispatcher()
    dispatcher.cycle()
    [spec] = world.engine.submitted.values()
    assert spec.sealed is not None
    assert spec.sealed.inputs == ()
    dispatcher.close()


@pytest.mark.parametrize("forgery", ["wrong_sha256", "duplicate_id", "not_recorded", "wrong_workspace"])
def test_a_forged_manifest_is_refused_and_stores_nothing(world: World, forgery: str) -> None:
    job_id = world.submit()
    dispatcher = world.dispatcher()
    dispatcher.cycle()
    [spec] = world.engine.submitted.values()
    assert spec.sealed is not None
    pxo, entries = sealed_outputs(
        world.workspace, spec.sealed.public_key, {"a": b"one" * 50, "b": b"two" * 50}
    )
    workspace = world.workspace
    if forgery == "wrong_sha256":
        entries[1]["ciphertext_sha256"] = "0" * 64
    elif forgery == "duplicate_id":
        entries[1] = {**entries[0]}
    elif forgery == "not_recorded":
        pxo.pop(str(entries[1]["file"]))
    else:
        workspace = "ws_000000000000"
    finish_with(world, job_id, {**pxo, SEALED_MANIFEST: manifest(workspace, entries)})
    run_to_end(world, dispatcher)
    dispatcher.close()
    with world.platform.engine.connect() as conn:
        [(outcome, reason)] = conn.execute(sa.select(workspace_intakes.c.outcome, workspace_intakes.c.reason))
    assert outcome == "refused"
    assert reason.startswith(SEALED_MANIFEST)
    with world.platform.uow.read() as conn:
        jobs_objects = [
            o for o in WorkspaceRepository(conn).objects(world.workspace) if o.origin is ObjectOrigin.JOB
        ]
    assert jobs_objects == []
    assert [
        e for e in logged(world.platform, "workspaces.objects.committed") if e["data"]["job_id"] == job_id
    ] == []
    assert world.intake.intake(world.jobs.get(SME, job_id)) is None  # refused once, recorded: not again
    folder = world.tmp_path / "workspaces" / world.workspace
    assert sorted(p.name for p in folder.iterdir()) == sorted(world.objects)


def test_a_cancelled_job_drops_its_keys(world: World) -> None:
    job_id = world.submit(world.objects[0])
    publish(world)
    world.authorise(job_id)
    world.jobs.cancel(SME, job_id)
    with world.platform.uow.read() as conn:
        assert SealedRepository(conn).bundle(job_id) is None
