"""Builds the production dispatcher from the platform, and runs it beside the server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from pnyx.adapters import MeteredUsage, RegistryWithdrawals
from pnyx.dispatch.decision_log import DecisionRecorder
from pnyx.dispatch.fair import FairShare, SharesAt
from pnyx.dispatch.leadership import Leadership, leadership_for
from pnyx.dispatch.loop import Dispatcher
from pnyx.dispatch.outputs import JobIntakes
from pnyx.dispatch.plan import QueueAhead
from pnyx.dispatch.sealed import KeyGate
from pnyx.jobs.executor import Executor
from pnyx.jobs.service import JobService
from pnyx.jobs.topology import check_dispatch
from pnyx.registry.evaluation_service import RegistryIntake
from pnyx.scheduler.policy import policy_named
from pnyx.scheduler.topology import Topology
from pnyx.wiring import FacilityLedger, Platform


def build_dispatcher(platform: Platform, policy: str = "full") -> Dispatcher:
    """Refuses (``InvalidInput``) to schedule against hardware the engines do not have: the default
    engine's own imported inventory, and every type the engines' mappings name."""
    check_dispatch(
        platform.settings.executor,
        {name: engine.mapped_types() for name, engine in platform.engines.items()},
        platform.topology.current() if platform.inventory.sources() else None,
    )
    return dispatcher_on(
        platform,
        jobs=platform.jobs,
        topology=platform.topology.topology,
        executors=platform.executors,
        shares=FairShare(platform.member_shares, FacilityLedger(platform.accounting, platform.awards)),
        leadership=leadership_for(platform.engine, platform.settings.data_dir),
        queue_ahead=QueueAhead.of({name: engine.ahead_depth() for name, engine in platform.engines.items()}),
        policy=policy,
    )


def dispatcher_on(
    platform: Platform,
    *,
    jobs: JobService,
    topology: Callable[[], Topology],
    executors: Mapping[str, Executor],
    shares: SharesAt | FairShare,
    leadership: Leadership,
    queue_ahead: QueueAhead,
    policy: str = "full",
) -> Dispatcher:
    """A dispatcher over these jobs, inventory and engines with the server's own collaborators from
    ``platform``: usage metered, outputs taken in, withdrawn inputs held back, delivery keys made,
    each cycle's decisions recorded (the server's, or a benchmark's product path)."""
    return Dispatcher(
        jobs=jobs,
        topology=topology,
        executors=executors,
        shares=shares,
        clock=platform.clock,
        policy=policy_named(policy),
        leadership=leadership,
        usage=MeteredUsage(platform.accounting, platform.safety),  # usage, then safety meters it
        queue_ahead=queue_ahead,
        intake=JobIntakes(  # model versions and evaluation results; a workspace job's sealed outputs
            RegistryIntake(platform.models, platform.evaluations), platform.sealed_outputs
        ),
        inputs=RegistryWithdrawals(platform.uow),  # a job reading a withdrawn dataset never starts
        keys=KeyGate(platform.authorisations),  # its delivery key, made now, in memory only
        decisions=DecisionRecorder(platform.uow),  # each deciding cycle's record in the log (docs/audit.md)
    )


class DispatcherThread:
    """The dispatch loop in a background thread of the server process."""

    def __init__(self, platform: Platform, interval_s: float = 2.0) -> None:
        self.dispatcher = build_dispatcher(platform)
        self.interval_s = interval_s
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self.dispatcher.run, args=(self.stopping, interval_s), name="dispatcher", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
