"""A dispatcher process for the crash and leadership tests: cycles until killed.

Environment: PNYX_DATABASE_URL, PNYX_JOBS_ROOT, PNYX_LOCK_DIR.
"""

from __future__ import annotations

import os
import sys
import threading
from decimal import Decimal
from pathlib import Path

from pnyx.core.clock import SystemClock
from pnyx.db.engine import create_engine
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.dispatch.leadership import leadership_for
from pnyx.dispatch.loop import Dispatcher
from pnyx.executors.local import LocalExecutor
from pnyx.inventory.service import InventoryService
from pnyx.jobs.service import JobService
from pnyx.jobs.topology import TopologyCache, fit_check
from pnyx.scheduler.policy import policy_named

sys.path.insert(0, str(Path(__file__).parents[2]))
from tests.dispatch.conftest import FakeProjects


def main() -> None:
    engine = create_engine(os.environ["PNYX_DATABASE_URL"])
    uow = UnitOfWork(engine=engine, clock=SystemClock())
    topology = TopologyCache(InventoryService(uow))
    local = LocalExecutor(Path(os.environ["PNYX_JOBS_ROOT"]))
    jobs = JobService(
        uow,
        projects=FakeProjects(),
        executors={"local": local},
        default_engine="local",
        fits=fit_check(topology),
    )
    dispatcher = Dispatcher(
        jobs=jobs,
        topology=topology.topology,
        executors={"local": local},
        shares=lambda _at: {"DE": Decimal(1)},
        clock=SystemClock(),
        policy=policy_named("full"),
        leadership=leadership_for(engine, Path(os.environ["PNYX_LOCK_DIR"])),
    )
    if sys.argv[1:] == ["--hold-lock"]:
        assert dispatcher.leadership.acquire()
        print("leader", flush=True)
        threading.Event().wait()
    dispatcher.run(threading.Event(), interval_s=0.02)


if __name__ == "__main__":
    main()
