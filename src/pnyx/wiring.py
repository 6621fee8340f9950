"""Composition root: builds the engine, clock, unit of work, services and signer from settings.

It only composes: the adapters between domains live in ``pnyx.adapters``."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

import sqlalchemy as sa

from pnyx.accounting.service import AccountingService
from pnyx.adapters import (
    AllocationProjects,
    AwardedProjects,
    AwardedProposals,
    CouncilMotions,
    JobContainment,
    JobOutputs,
    ProjectMembers,
    ProjectTeam,
    RegistryEvaluations,
    RegistryInputs,
    RegistryModels,
    ReproductionJobs,
    documented_peaks,
)
from pnyx.allocation.award_service import AwardService
from pnyx.allocation.review_service import ReviewService
from pnyx.allocation.service import AllocationService
from pnyx.allocation.weights import award_weights
from pnyx.core.clock import Clock, SystemClock
from pnyx.core.errors import InvalidInput
from pnyx.core.units import AcceleratorHours
from pnyx.db.engine import create_engine
from pnyx.db.files import secure_storage
from pnyx.db.migrate import require_driver
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.executors import ray_nodes, slurm_nodes
from pnyx.executors.local import LocalExecutor
from pnyx.executors.ray_settings import RaySettings
from pnyx.executors.sandbox import SandboxConfig
from pnyx.executors.slurm_settings import SlurmSettings
from pnyx.governance.council_service import CouncilService
from pnyx.governance.policy import PolicyKind, Pool
from pnyx.governance.policy_service import PolicyService
from pnyx.governance.rules import pool_limit
from pnyx.governance.service import MemberStateService
from pnyx.governance.vote_service import VoteService
from pnyx.identity.service import IdentityService
from pnyx.inventory.model import EngineInventory, InventorySource
from pnyx.inventory.rules import accelerator_type
from pnyx.inventory.service import InventoryService
from pnyx.jobs.executor import Executor, OutputReader
from pnyx.jobs.model import OPEN_JOB_STATUSES
from pnyx.jobs.service import JobService
from pnyx.jobs.store import JobRepository
from pnyx.jobs.topology import TopologyCache, fit_check
from pnyx.registry.blobs import BlobStore
from pnyx.registry.evaluation_evidence import ReleaseEvidence
from pnyx.registry.evaluation_reproduce import ReproductionService
from pnyx.registry.evaluation_service import EvaluationService
from pnyx.registry.lineage_service import ModelArtifacts, ModelService, StoredDatasets
from pnyx.registry.service import DatasetService
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.incident_service import FrozenSubjects, IncidentService
from pnyx.safety.release_service import ReleaseService
from pnyx.safety.service import SafetyService
from pnyx.scheduler.fairshare import Span
from pnyx.settings import Settings
from pnyx.transparency.note import NoteSigner
from pnyx.transparency.service import LogService
from pnyx.transparency.signing import load_signer
from pnyx.workspaces.authorisation import JobAuthorisations, ProjectWorkspaces
from pnyx.workspaces.intake import SealedIntake
from pnyx.workspaces.service import WorkspaceService
from pnyx.workspaces.store import WorkspaceBlobs


class EngineSettings(Protocol):
    """One engine's section of the engines file, read by its executor's own settings class."""

    def executor(self) -> Executor: ...

    def mapped_types(self) -> frozenset[str]: ...

    def ahead_depth(self) -> int:
        """Layers of jobs per node the dispatcher may hand this engine (``scheduler.ahead``): 1 is
        only what fits now; 2 adds one job waiting at the engine for each running one."""
        ...


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
    engines: Mapping[str, EngineSettings]  # each configured engine's own settings section, read once
    topology: TopologyCache  # the scheduler's view of the inventory (submission fit check, dispatcher)
    jobs: JobService
    safety: SafetyService
    releases: ReleaseService
    incidents: IncidentService
    models: ModelService  # model versions: training outputs taken in, lineage, checked downloads
    datasets: DatasetService  # dataset versions: imports into shards, reads by clearance, takedowns
    evaluations: EvaluationService  # evaluation results: signed by the facility, read as their model
    reproductions: ReproductionService  # published evaluations re-run by auditors, and compared
    workspaces: WorkspaceService  # SME workspaces: ciphertexts, wrapped keys, commitments, shredding
    authorisations: JobAuthorisations  # SMEs deliver their jobs' data keys, sealed to the dispatcher
    sealed_outputs: SealedIntake  # a workspace job's sealed outputs taken into its workspace


def build_platform(
    settings: Settings, *, clock: Clock | None = None, signer: NoteSigner | None = None
) -> Platform:
    secure_storage(settings.data_dir, settings.database_url)  # 0700 directory, 0600 database file
    require_driver(settings.database_url)
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
    engines = engine_settings(settings)
    executors = build_executors(settings, engines)
    topology = TopologyCache(inventory)
    safety = SafetyService(
        uow,
        proposals=AwardedProposals(uow),
        thresholds=policies.safety_thresholds,
        peaks=documented_peaks,
        usage=accounting.seconds_by_type,
    )
    council = CouncilService(uow)
    projects = AllocationProjects(awards, accounting, safety)
    releases = ReleaseService(
        uow,
        policy=safety.policy,
        artifacts=ModelArtifacts(uow, JobOutputs(uow)),  # a model version's files, or a job's outputs
        members=ProjectMembers(projects),  # who may ask: the jobs side's members and clearance
        motions=CouncilMotions(council),
        evidence=RegistryEvaluations(ReleaseEvidence(uow, signer)),  # evaluations backed by results
    )
    jobs = JobService(
        uow,
        projects=projects,
        fits=fit_check(topology),
        executors=executors,
        default_engine=settings.executor,
        policy=DEFAULT_POLICY,  # who may read outputs at each level (thresholds play no part)
        freezes=FrozenSubjects(uow),  # what open incidents froze (the incident service writes it)
        releases=releases,  # released records of outputs, read under their lower labels
        datasets=RegistryInputs(lambda: datasets),  # dataset versions as inputs (the registry, below)
        models=RegistryModels(lambda: models),  # model versions as inputs (an evaluation's model)
        workspaces=ProjectWorkspaces(uow),  # a project's SME workspace and the objects its jobs read
    )
    identity = IdentityService(uow)
    containment = JobContainment(jobs, identity, ProjectTeam(uow))
    log = LogService(uow, signer, witness_quorum=settings.witness_quorum)
    models = ModelService(
        uow,
        blobs=BlobStore(settings.data_dir / "registry"),
        datasets=StoredDatasets(uow),
        readers={name: e for name, e in executors.items() if isinstance(e, OutputReader)},
        members=ProjectMembers(projects),
        releases=releases,
        log=log,
        jobs=jobs,
    )
    evaluations = EvaluationService(
        uow,
        blobs=BlobStore(settings.data_dir / "registry"),
        readers={name: e for name, e in executors.items() if isinstance(e, OutputReader)},
        models=models,
        signer=signer,  # the transparency log's key signs each result
    )
    datasets = DatasetService(
        uow,
        BlobStore(settings.data_dir / "registry"),
        projects=ProjectMembers(projects),  # members import under their project's label, and read it
        trained_on=models,  # the model versions a takedown names
        policy=safety.policy,
        public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        quota_bytes=settings.registry_project_bytes,
    )
    return Platform(
        settings=settings,
        engine=engine,
        clock=clock,
        uow=uow,
        identity=identity,
        inventory=inventory,
        member_states=member_states,
        council=council,
        votes=VoteService(uow),
        policies=policies,
        log=log,
        allocation=AllocationService(uow, pool_budget=PolicyPoolBudget(policies, inventory)),
        review=ReviewService(uow),
        awards=awards,
        accounting=accounting,
        member_shares=policies.member_shares,
        executors=executors,
        engines=engines,
        topology=topology,
        jobs=jobs,
        safety=safety,
        releases=releases,
        incidents=IncidentService(
            uow, projects=AwardedProjects(awards), artifacts=JobOutputs(uow), containment=containment
        ),
        models=models,
        datasets=datasets,
        evaluations=evaluations,
        reproductions=ReproductionService(uow, evaluations=evaluations, jobs=ReproductionJobs(jobs)),
        authorisations=JobAuthorisations(
            uow, projects=projects, blobs=WorkspaceBlobs(settings.data_dir / "workspaces")
        ),
        sealed_outputs=SealedIntake(
            uow,
            readers={name: e for name, e in executors.items() if isinstance(e, OutputReader)},
            blobs=WorkspaceBlobs(settings.data_dir / "workspaces"),
            max_object_bytes=settings.workspace_object_bytes,
        ),
        workspaces=WorkspaceService(
            uow,
            projects=projects,
            blobs=WorkspaceBlobs(settings.data_dir / "workspaces"),
            open_jobs=partial(open_job_ids, uow),
            max_object_bytes=settings.workspace_object_bytes,
        ),
    )


def open_job_ids(uow: UnitOfWork, project: str) -> list[str]:
    """The project's jobs not yet ended (the jobs store): a workspace is not shredded under them."""
    with uow.read() as conn:
        return [job.id for job in JobRepository(conn).with_status(OPEN_JOB_STATUSES, project=project)]


def build_executors(
    settings: Settings, engines: Mapping[str, EngineSettings] | None = None
) -> dict[str, Executor]:
    """The engines this installation runs jobs on (the local one unless PNYX_LOCAL_EXECUTOR=0)."""
    executors: dict[str, Executor] = {}
    if settings.local_executor:
        executors["local"] = LocalExecutor(
            settings.job_root,
            local_sandbox(settings),
            outputs=settings.local.outputs,
            retention_s=settings.local.retention_s,
        )
    for name, engine in (engine_settings(settings) if engines is None else engines).items():
        executors[name] = engine.executor()
    return executors


def engine_settings(settings: Settings) -> dict[str, EngineSettings]:
    """Each configured engine's settings, each read by its own executor's settings class."""
    readers: dict[str, Callable[[Mapping[str, Any]], EngineSettings]] = {
        "slurm": SlurmSettings.from_section,
        "ray": RaySettings.from_section,
        "kubernetes": kubernetes_settings,
    }
    return {name: readers[name](section) for name, section in settings.engines.items()}


def inventory_reader(platform: Platform, source: InventorySource) -> Callable[[], EngineInventory]:
    """What ``pnyx inventory import --from SOURCE`` reads: the engine's nodes, mapped by its settings."""
    engine = platform.engines.get(source.value)
    if engine is None:
        raise InvalidInput(
            f"{source} is not configured: give it a {source} section in PNYX_ENGINES_FILE "
            "(docs/executors.md, Deploying on an engine)",
            field=source.value,
        )
    if isinstance(engine, SlurmSettings):
        return partial(slurm_nodes.read_inventory, engine)
    if isinstance(engine, RaySettings):
        return partial(ray_nodes.read_inventory, engine)
    from pnyx.executors import kubernetes_nodes
    from pnyx.executors.kubernetes_settings import KubernetesSettings

    assert isinstance(engine, KubernetesSettings)
    return partial(kubernetes_nodes.read_inventory, engine)


def local_sandbox(settings: Settings) -> SandboxConfig:
    first, count = settings.job_uids
    return settings.local.sandbox(enabled=settings.sandbox, uid_first=first, uid_count=count)


def kubernetes_settings(section: Mapping[str, Any]) -> EngineSettings:
    """Imported only when asked for: the kubernetes client is an optional extra."""
    try:
        from pnyx.executors.kubernetes_settings import KubernetesSettings
    except ImportError:
        raise InvalidInput(
            "Kubernetes is configured but its client is not installed: pip install 'pnyx[kubernetes]'",
            field="kubernetes",
        ) from None
    return KubernetesSettings.from_section(section)


class PolicyPoolBudget:
    """A pool's yearly accelerator-hours under the pool split in force (no limit before one is adopted)."""

    def __init__(self, policies: PolicyService, inventory: InventoryService) -> None:
        self.policies = policies
        self.inventory = inventory

    def capacity(self, pool: Pool, member_state: str | None, starts_at: datetime) -> AcceleratorHours | None:
        return pool_limit(
            self.policies.in_force(PolicyKind.POOL_SPLIT, starts_at),
            pool,
            accelerators=self.inventory.accelerator_count(),
            member_state=member_state,
            member_shares=self.policies.member_shares(starts_at),
        )


class FacilityLedger:
    """Fair share's ledger (``dispatch.fair.UsageLedger``, and ``pnyx simulate --from-db``): finished
    work from accounting, each member's projects weighted by their hours awarded and active."""

    def __init__(self, accounting: AccountingService, awards: AwardService) -> None:
        self.accounting, self.allocations = accounting, awards

    def finished(self, ended_since: datetime | None, known: Collection[str] = ()) -> list[tuple[str, Span]]:
        return self.accounting.finished(ended_since, known)

    def awards(self, at: datetime) -> list[tuple[str, str, float]]:
        return award_weights(self.allocations.allocations(), at)  # the auditor's too (audit.entitlements)
