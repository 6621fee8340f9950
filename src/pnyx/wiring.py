"""Composition root: builds the engine, clock, unit of work, services and signer from settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa

from pnyx.accounting.model import Standing
from pnyx.accounting.service import AccountingService
from pnyx.allocation.award_service import AwardService
from pnyx.allocation.model import Pool as AllocationPool
from pnyx.allocation.review_service import ReviewService
from pnyx.allocation.service import AllocationService
from pnyx.core.clock import Clock, SystemClock
from pnyx.core.errors import InvalidInput, NotFound
from pnyx.core.units import AcceleratorHours
from pnyx.db.engine import create_engine
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.executors.local import LocalExecutor
from pnyx.executors.ray import RayConfig, RayExecutor
from pnyx.executors.slurm import SlurmConfig, SlurmExecutor
from pnyx.governance.council_service import CouncilService
from pnyx.governance.policy import PolicyKind
from pnyx.governance.policy import Pool as GovernancePool
from pnyx.governance.policy_service import PolicyService
from pnyx.governance.service import MemberStateService
from pnyx.governance.vote_service import VoteService
from pnyx.identity.service import IdentityService
from pnyx.inventory.rules import accelerator_type
from pnyx.inventory.service import InventoryService
from pnyx.jobs.executor import Executor
from pnyx.jobs.rules import to_scheduler_job
from pnyx.jobs.service import JobService, ProjectInfo
from pnyx.scheduler.admission import check_fits
from pnyx.settings import Settings
from pnyx.transparency.note import NoteSigner
from pnyx.transparency.service import LogService
from pnyx.transparency.signing import load_signer


@dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    settings: Settings
    engine: sa.Engine
    clock: Clock
    uow: UnitOfWork
    identity: IdentityService
    inventory: InventoryService
    member_states: MemberStateService
    council: CouncilService
    votes: VoteService
    policies: PolicyService
    log: LogService
    accounting: AccountingService
    allocation: AllocationService
    review: ReviewService
    awards: AwardService
    member_shares: Callable[[datetime], Mapping[str, Decimal]]
    executors: Mapping[str, Executor]
    jobs: JobService


def build_platform(
    settings: Settings, *, clock: Clock | None = None, signer: NoteSigner | None = None
) -> Platform:
    engine = create_engine(settings.database_url)
    clock = clock or SystemClock()
    uow = UnitOfWork(engine=engine, clock=clock)
    if signer is None and settings.log_key_file.exists():
        signer = load_signer(settings.log_key_file)
    inventory = InventoryService(uow)
    member_states = MemberStateService(uow)
    policies = PolicyService(uow)
    awards = AwardService(uow)
    accounting = AccountingService(
        uow,
        budgets=awards,
        shares_at=policies.member_shares,
        capacity=inventory.accelerator_count,
        speed_of=lambda name: accelerator_type(name).speed_factor,
    )
    executors = build_executors(settings)
    return Platform(
        settings=settings,
        engine=engine,
        clock=clock,
        uow=uow,
        identity=IdentityService(uow),
        inventory=inventory,
        member_states=member_states,
        council=CouncilService(uow),
        votes=VoteService(uow),
        policies=policies,
        log=LogService(uow, signer),
        allocation=AllocationService(uow, pool_budget=PolicyPoolBudget(policies, inventory)),
        review=ReviewService(uow),
        awards=awards,
        accounting=accounting,
        member_shares=policies.member_shares,
        executors=executors,
        jobs=JobService(
            uow,
            projects=AllocationProjects(awards, accounting),
            fits=lambda record: check_fits(to_scheduler_job(record), inventory.topology()),
            executors=executors,
            default_engine=settings.executor,
        ),
    )


def build_executors(settings: Settings) -> dict[str, Executor]:
    """The engines this installation runs jobs on (the local one unless PNYX_LOCAL_EXECUTOR=0)."""
    executors: dict[str, Executor] = {}
    if settings.local_executor:
        executors["local"] = LocalExecutor(settings.data_dir / "jobs")
    if settings.slurm_url:
        executors["slurm"] = SlurmExecutor(
            SlurmConfig(
                base_url=settings.slurm_url,
                user=settings.slurm_user,
                token=settings.slurm_token,
                working_directory=settings.slurm_workdir,
                log_directory=settings.slurm_logdir,
            )
        )
    if settings.ray_url:
        executors["ray"] = RayExecutor(RayConfig(base_url=settings.ray_url))
    if settings.kubeconfig:
        executors["kubernetes"] = kubernetes_executor(settings.kubeconfig)
    return executors


def kubernetes_executor(kubeconfig: str) -> Executor:
    """Imported only when asked for: the kubernetes client is an optional extra."""
    try:
        from kubernetes import config as kube_config

        from pnyx.executors.kubernetes import KubernetesConfig, KubernetesExecutor
    except ImportError:
        raise InvalidInput(
            "PNYX_KUBECONFIG is set but the kubernetes client is not installed: "
            "pip install 'pnyx[kubernetes]'",
            field="PNYX_KUBECONFIG",
        ) from None
    api_client = kube_config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    return KubernetesExecutor(KubernetesConfig(), api_client)


# Allocation's pools as governance's pool split names them.
POOL_SPLIT_NAMES = {
    AllocationPool.MEMBER_STATE: GovernancePool.MEMBER_POOLS,
    AllocationPool.OPEN_CALLS: GovernancePool.OPEN_CALLS,
    AllocationPool.SME: GovernancePool.SME,
    AllocationPool.DIRECTORS_RESERVE: GovernancePool.DIRECTORS_RESERVE,
}
HOURS_PER_YEAR = Decimal(24 * 365)


class PolicyPoolBudget:
    """A pool's yearly accelerator-hours under the pool split in force (no limit before one is adopted)."""

    def __init__(self, policies: PolicyService, inventory: InventoryService) -> None:
        self.policies = policies
        self.inventory = inventory

    def capacity(
        self, pool: AllocationPool, member_state: str | None, starts_at: datetime
    ) -> AcceleratorHours | None:
        if self.policies.in_force(PolicyKind.POOL_SPLIT, starts_at) is None:
            return None
        share = self.policies.pool_split(starts_at).share(POOL_SPLIT_NAMES[pool])
        fraction = Decimal(share.numerator) / Decimal(share.denominator)
        if pool is AllocationPool.MEMBER_STATE and member_state is not None:
            fraction *= self.policies.member_shares(starts_at).get(member_state, Decimal(0))
        hours = Decimal(self.inventory.accelerator_count()) * HOURS_PER_YEAR * fraction
        return AcceleratorHours(hours.to_integral_value(rounding="ROUND_FLOOR"))


class AllocationProjects:
    """The jobs service's view of projects: an awarded allocation, its team, and its standing."""

    def __init__(self, awards: AwardService, accounting: AccountingService) -> None:
        self.awards = awards
        self.accounting = accounting

    def project(self, project_id: str) -> ProjectInfo | None:
        try:
            allocation = self.awards.allocation(project_id)
        except NotFound:
            return None
        standing = self.accounting.standing(project_id)
        return ProjectInfo(
            id=project_id,
            member_state=allocation.member_state,
            members=frozenset({allocation.pi_user_id}),
            over_budget=standing.standing is not Standing.WITHIN_BUDGET,
        )
