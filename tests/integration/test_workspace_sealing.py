"""Sealing is sticky (attack1 finding 2, both databases): once a project's SME workspace is shredded,
its jobs are refused (naming the project) until a new workspace exists, never accepted unsealed;
and a workspace is not created while the project has jobs not yet ended, so no job submitted
unsealed runs after its project's workspace exists."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.core.errors import Conflict
from pnyx.core.ids import UserId
from pnyx.identity.model import Principal, Role
from pnyx.jobs.service import JobService, Submission
from pnyx.jobs.store import jobs as jobs_table
from pnyx.jobs.submission import WorkspaceState, check_sealed
from pnyx.jobs.topology import fit_check
from pnyx.wiring import Platform, open_job_ids
from pnyx.workspaces import envelope
from pnyx.workspaces.authorisation import ProjectWorkspaces
from pnyx.workspaces.model import WorkspaceStatus
from pnyx.workspaces.service import WorkspaceService
from pnyx.workspaces.store import WorkspaceBlobs
from tests.integration.test_workspace_jobs import EVE, SME, Projects, ReadableFake

OLGA = Principal(user_id=UserId("usr_olga"), name="olga", roles=frozenset({Role.OPERATOR}))


class Rig:
    def __init__(self, platform: Platform, tmp_path: Path) -> None:
        platform.inventory.generate(64, seed=1)
        projects = Projects()
        self.platform = platform
        self.jobs = JobService(
            platform.uow, projects=projects, fits=fit_check(platform.topology),
            executors={"local": ReadableFake()}, default_engine="local",
            workspaces=ProjectWorkspaces(platform.uow),
        )  # fmt: skip
        self.workspaces = WorkspaceService(
            platform.uow, projects=projects, blobs=WorkspaceBlobs(tmp_path / "workspaces"),
            open_jobs=partial(open_job_ids, platform.uow), max_object_bytes=1 << 20,
        )  # fmt: skip
        self.key = envelope.generate_keypair()

    def submit(self, by: Principal = SME, project: str = "sme-co", objects: tuple[str, ...] = ()) -> str:
        s = Submission(
            name="finetune", project=project, accelerators=8, estimate_s=3600,
            accelerator_type="H100-SXM", command=("train",), workspace_objects=objects,
        )  # fmt: skip
        return self.jobs.submit(by, s).id

    def workspace_of(self, job_id: str, by: Principal = SME) -> str | None:
        return self.jobs.get(by, job_id).workspace_id

    def job_ids(self) -> list[str]:
        with self.platform.engine.connect() as conn:
            return sorted(conn.execute(sa.select(jobs_table.c.id)).scalars())


@pytest.fixture
def rig(platform: Platform, tmp_path: Path) -> Rig:
    return Rig(platform, tmp_path)


def test_a_shredded_workspace_stops_its_projects_jobs_until_a_new_one_exists(rig: Rig) -> None:
    first = rig.workspaces.create(SME, "sme-co", rig.key.public_key).id
    sealed = rig.submit()
    assert rig.workspace_of(sealed) == first
    rig.jobs.cancel(SME, sealed)
    rig.workspaces.shred(OLGA, first, "maintenance")  # an operator's shred, as in the attack
    before = rig.job_ids()
    for by, objects in ((SME, ()), (OLGA, ()), (SME, ("a" * 32,))):
        with pytest.raises(Conflict, match="shredded: create a new workspace before running jobs") as info:
            rig.submit(by, objects=objects)
        assert (info.value.field, info.value.code) == ("project", "workspace_shredded")
    assert rig.job_ids() == before  # nothing stored, nothing to run unsealed
    assert rig.workspace_of(rig.submit(EVE, project="other"), EVE) is None  # never had one: unsealed, as ever
    second = rig.workspaces.create(SME, "sme-co", rig.key.public_key).id
    assert rig.workspace_of(rig.submit()) == second


def test_a_workspace_is_not_created_while_its_project_has_open_jobs(rig: Rig) -> None:
    unsealed = rig.submit()
    assert rig.workspace_of(unsealed) is None
    with pytest.raises(Conflict, match=unsealed) as info:
        rig.workspaces.create(SME, "sme-co", rig.key.public_key)
    assert (info.value.field, info.value.code) == ("project", "open_jobs")
    assert rig.workspaces.of_project(SME, "sme-co") == []
    rig.jobs.cancel(SME, unsealed)
    made = rig.workspaces.create(SME, "sme-co", rig.key.public_key)
    assert made.status is WorkspaceStatus.ACTIVE
    assert rig.workspace_of(rig.submit()) == made.id


def test_the_port_tells_never_from_shredded(rig: Rig) -> None:
    port = ProjectWorkspaces(rig.platform.uow)
    assert port.of_project("sme-co") == WorkspaceState(project="sme-co")
    made = rig.workspaces.create(SME, "sme-co", rig.key.public_key).id
    assert port.of_project("sme-co") == WorkspaceState(project="sme-co", active=made)
    rig.workspaces.shred(SME, made, "done")
    assert port.of_project("sme-co") == WorkspaceState(project="sme-co", shredded=True)
    again = rig.workspaces.create(SME, "sme-co", rig.key.public_key).id
    assert port.of_project("sme-co") == WorkspaceState(project="sme-co", active=again)


def test_check_sealed_refuses_a_shredded_project_whatever_the_engine() -> None:
    for engine in ("local", "slurm"):
        with pytest.raises(Conflict) as info:
            check_sealed(engine, WorkspaceState(project="p", shredded=True), ())
        assert info.value.field == "project"
    assert check_sealed("slurm", WorkspaceState(project="p"), ()) == ()
