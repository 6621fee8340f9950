"""A job service and a dispatcher over a small generated facility and the real local executor."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from pnyx.core.clock import SystemClock
from pnyx.core.ids import UserId
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import leadership_for
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.local import LocalExecutor
from pnyx.identity.model import Principal, Role
from pnyx.jobs.service import JobService, ProjectInfo
from pnyx.jobs.topology import fit_check
from pnyx.scheduler.policy import policy_named
from pnyx.wiring import Platform
from tests.executors.job_root import temporary_job_root

ADA = Principal(user_id=UserId("usr_ada"), name="ada", roles=frozenset({Role.RESEARCHER}))


class FakeProjects:
    """Projects as the allocation domain would answer (a fake, in memory)."""

    def __init__(self) -> None:
        self.known = {
            "open-llm": ProjectInfo(id="open-llm", member_state="DE", members=frozenset(), over_budget=False),
            "spent": ProjectInfo(id="spent", member_state="FR", members=frozenset(), over_budget=True),
            "closed": ProjectInfo(
                id="closed", member_state="IT", members=frozenset({"bob"}), over_budget=False
            ),
        }

    def project(self, project_id: str) -> ProjectInfo | None:
        return self.known.get(project_id)


@pytest.fixture
def system_platform(platform: Platform) -> Platform:
    """The platform with the wall clock: the local executor's processes live in real time."""
    platform.inventory.generate(64, seed=1)
    return platform


@pytest.fixture
def local_executor() -> Iterator[LocalExecutor]:
    """The real local executor, sandboxed, over a job root its job uids can reach."""
    with temporary_job_root() as root:
        yield LocalExecutor(root)


@pytest.fixture
def jobs(system_platform: Platform, local_executor: LocalExecutor) -> JobService:
    uow = UnitOfWork(engine=system_platform.engine, clock=SystemClock())
    return JobService(
        uow,
        projects=FakeProjects(),
        fits=fit_check(system_platform.topology),
        executors={"local": local_executor},
        default_engine="local",
    )


@pytest.fixture
def dispatcher(
    system_platform: Platform, jobs: JobService, local_executor: LocalExecutor, tmp_path: Path
) -> Iterator[Dispatcher]:
    d = Dispatcher(
        jobs=jobs,
        topology=system_platform.topology.topology,
        executors={"local": local_executor},
        shares=lambda _at: {"DE": Decimal(1), "FR": Decimal(1), "IT": Decimal(1)},
        clock=SystemClock(),
        policy=policy_named("full"),
        leadership=leadership_for(system_platform.engine, tmp_path),
        usage=None,
    )
    yield d
    d.close()
