"""The workspace service on both databases, with its ports faked: shredding waits for the project's
open jobs, a transaction that fails after the ciphertext was written leaves no file behind, and
every state change is in the outbox with its row."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

from pnyx.core.errors import Conflict
from pnyx.core.ids import UserId
from pnyx.identity.model import Principal, Role
from pnyx.jobs.clearance import ProjectInfo
from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from pnyx.workspaces.model import WorkspaceStatus
from pnyx.workspaces.service import WorkspaceService
from pnyx.workspaces.store import WorkspaceBlobs
from tests.api.sme_world import Sealed, seal

ALICE = Principal(user_id=UserId("usr_alice"), name="alice", roles=frozenset({Role.RESEARCHER}))
PROJECT = ProjectInfo(
    id="prj_a", member_state=None, members=frozenset({UserId("usr_alice")}), over_budget=False
)


class OneProject:
    def project(self, project_id: str) -> ProjectInfo | None:
        return PROJECT if project_id == PROJECT.id else None


class World:
    def __init__(self, platform: Platform) -> None:
        self.open: list[str] = []
        self.blobs = WorkspaceBlobs(platform.settings.data_dir / "workspaces")
        self.service = WorkspaceService(
            platform.uow, projects=OneProject(), blobs=self.blobs, open_jobs=lambda _p: self.open,
            max_object_bytes=1 << 20,
        )  # fmt: skip
        self.key = envelope.generate_keypair()
        self.workspace = self.service.create(ALICE, PROJECT.id, self.key.public_key)

    def store(self, sealed: Sealed) -> None:
        self.service.store_object(
            ALICE, self.workspace.id, object_id=sealed.object_id, wrapped_key=sealed.wrapped_key,
            sealed_meta=sealed.sealed_meta, commitment=sealed.commitment,
            ciphertext=io.BytesIO(sealed.ciphertext),
        )  # fmt: skip

    def files(self) -> list[str]:
        root = self.blobs.root / self.workspace.id
        return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture
def world(platform: Platform) -> World:
    return World(platform)


def event_types(platform: Platform) -> list[str]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        return [json.loads(r)["type"] for r in rows]


def test_shredding_waits_for_the_projects_open_jobs(world: World, platform: Platform) -> None:
    world.store(seal(world.workspace.id, world.key.public_key, "a", b"a" * 100))
    world.open = ["job_1", "job_2"]
    with pytest.raises(Conflict, match="job_1, job_2") as info:
        world.service.shred(ALICE, world.workspace.id, "done")
    assert info.value.code == "open_jobs"
    assert world.service.workspace(ALICE, world.workspace.id).status is WorkspaceStatus.ACTIVE
    assert len(world.files()) == 1
    world.open = []
    done = world.service.shred(ALICE, world.workspace.id, "done")
    assert (done.status, done.shredded_at) == (WorkspaceStatus.SHREDDED, platform.clock.now())
    assert world.files() == []
    assert event_types(platform) == [
        "workspaces.workspace.created", "workspaces.objects.committed", "workspaces.workspace.shredded",
    ]  # fmt: skip


def test_a_failed_transaction_removes_the_ciphertext_it_wrote(world: World, platform: Platform) -> None:
    sealed = seal(world.workspace.id, world.key.public_key, "a", b"a" * 100)
    world.store(sealed)
    world.blobs.path(world.workspace.id, sealed.object_id).unlink()  # the row stays, its file is gone
    with pytest.raises(Conflict) as info:
        world.store(sealed)  # the file is written again, then the row's transaction refuses it
    assert info.value.field == "object_id"
    assert world.files() == []
    assert event_types(platform).count("workspaces.objects.committed") == 1
