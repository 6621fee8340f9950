"""Slurm executor: runs jobs through slurmrestd (JWT auth), speaking whichever API the server offers.

Mapping (configuration, not code): project -> Slurm account (checked or created once, ``slurm_accounts``),
safety level -> partition, gang -> ``nodes`` x ``gpus_per_node`` of one gres type on the nodes Pnyx
placed it on (``--nodelist``; ``--exclusive`` from L2). The idempotency key travels in the job *name*
(``pnyx-<key>``), because the name is kept by both the controller and accounting (a job comment is not
stored in accounting by default).

Reading the engine costs one listing of the controller's jobs per dispatch cycle (``slurm_jobs``):
``submit`` and ``find`` answer from that listing and from the jobs this executor submitted itself;
accounting (slurmdbd) is asked only about jobs the controller no longer holds, in batches. ``submit``
does not ask accounting: a key the dispatcher has not just decided is looked up with ``find`` first.

The batch step runs on the first node; a gang of several nodes runs its command once per node
through ``srun`` (one task per node), as distributed training launchers expect: the batch script
exports the first node and a port of the job's (``PNYX_MASTER_ADDR``, ``PNYX_MASTER_PORT``) and, for
a gang, torchrun's own settings for a c10d rendezvous there (``PET_NNODES``, ``PET_RDZV_BACKEND``,
``PET_RDZV_ENDPOINT``, ``PET_RDZV_ID``), so ``torchrun --nproc-per-node N -m ...`` needs nothing
more. Each job starts in its own directory under the working directory (``job_dirs``: its inputs,
its outputs, collected when the control plane sees that directory, ``work_mount``).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

from pnyx.executors import job_dirs
from pnyx.executors.local_outputs import OutputCaps
from pnyx.executors.slurm_accounts import AccountBook, AccountSetup
from pnyx.executors.slurm_api import (
    ALREADY_DONE,
    INVALID_JOB_ID,
    SlurmDialect,
    SlurmError,
    SlurmJob,
    SlurmJobRequest,
    jobs_by_name,
    parse_errors,
)
from pnyx.executors.slurm_jobs import SlurmJobs, job_name
from pnyx.executors.slurm_rest import SlurmRest, describe
from pnyx.executors.slurm_script import batch_script
from pnyx.jobs.executor import refuse_sealed
from pnyx.jobs.model import (
    FINAL_ENGINE_STATES,
    Artifact,
    EngineRef,
    EngineRejected,
    EngineState,
    EngineStatus,
    EngineUnavailable,
    Grant,
    JobSpec,
)
from pnyx.safety.model import SafetyLevel

__all__ = [
    "DEFAULT_PARTITIONS",
    "ENGINE",
    "REJECTING_ERRORS",
    "SlurmConfig",
    "SlurmExecutor",
    "build_request",
    "engine_state",
    "job_name",
]

ENGINE = "slurm"

# slurm/slurm_errno.h: the job can never be accepted as asked (the rest may pass: try again later)
REJECTING_ERRORS = frozenset(
    {
        2000,  # ESLURM_INVALID_PARTITION_NAME
        2002,  # ESLURM_ACCESS_DENIED
        2003,  # ESLURM_JOB_MISSING_REQUIRED_PARTITION_GROUP
        2004,  # ESLURM_REQUESTED_NODES_NOT_IN_PARTITION
        2005,  # ESLURM_TOO_MANY_REQUESTED_CPUS
        2006,  # ESLURM_INVALID_NODE_COUNT
        2014,  # ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE
        2015,  # ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE
        2018,  # ESLURM_INVALID_NODE_NAME (a placement on a node Slurm does not have)
        2029,  # ESLURM_INVALID_FEATURE
        2044,  # ESLURM_INVALID_TASK_MEMORY
        2045,  # ESLURM_INVALID_ACCOUNT (also: account not allowed on the partition)
        2050,  # ESLURM_ACCOUNTING_POLICY
        2051,  # ESLURM_INVALID_TIME_LIMIT
        2057,  # ESLURM_INVALID_WCKEY
        2066,  # ESLURM_INVALID_QOS
        2072,  # ESLURM_INVALID_GRES
        2115,  # ESLURM_INVALID_TRES
        2119,  # ESLURM_INVALID_GRES_TYPE
        2122,  # ESLURM_UNSUPPORTED_GRES
        2130,  # ESLURM_PARTITION_ASSOC
        2134,  # ESLURM_INSUFFICIENT_GRES
        9000,  # ESLURM_REST_INVALID_QUERY
        9001,  # ESLURM_REST_FAIL_PARSING
        9002,  # ESLURM_REST_INVALID_JOBS_DESC
    }
)
_STATES: Mapping[str, EngineState] = {
    "PENDING": EngineState.QUEUED,
    "CONFIGURING": EngineState.QUEUED,
    "REQUEUED": EngineState.QUEUED,
    "REQUEUE_HOLD": EngineState.QUEUED,
    "REQUEUE_FED": EngineState.QUEUED,
    "RESIZING": EngineState.RUNNING,
    "SUSPENDED": EngineState.QUEUED,
    "RUNNING": EngineState.RUNNING,
    "COMPLETING": EngineState.RUNNING,  # the command ended; epilogs still run
    "STAGE_OUT": EngineState.RUNNING,
    "COMPLETED": EngineState.SUCCEEDED,
    "CANCELLED": EngineState.CANCELLED,
    "REVOKED": EngineState.CANCELLED,
    "FAILED": EngineState.FAILED,
    "TIMEOUT": EngineState.FAILED,
    "NODE_FAIL": EngineState.FAILED,
    "OUT_OF_MEMORY": EngineState.FAILED,
    "BOOT_FAIL": EngineState.FAILED,
    "DEADLINE": EngineState.FAILED,
    "PREEMPTED": EngineState.FAILED,
}

DEFAULT_PARTITIONS: Mapping[SafetyLevel, str] = {
    SafetyLevel.L1: "open",
    SafetyLevel.L2: "secure",
    SafetyLevel.L3: "secure",
    SafetyLevel.L4: "secure",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SlurmConfig:
    """How the platform's words map to one Slurm cluster. ``token`` comes from
    ``scontrol token username=USER lifespan=SECONDS`` (rotate by building a new executor); every job
    runs as that ``user``."""

    base_url: str = "http://127.0.0.1:6820"
    user: str
    token: str
    partitions: Mapping[SafetyLevel, str] = field(default_factory=lambda: dict(DEFAULT_PARTITIONS))
    accounts: Mapping[str, str] = field(default_factory=dict)  # project -> account; default: same name
    partition_accounts: Mapping[str, str] = field(
        default_factory=dict
    )  # partition -> the account its jobs charge
    account_setup: AccountSetup = AccountSetup.CHECK  # check | create | none (slurm_accounts)
    cluster: str | None = None  # the cluster accounts are made on; None: the only one slurmdbd knows
    gres_types: Mapping[str, str] = field(default_factory=dict)  # accelerator type -> gres type
    node_names: Mapping[str, str] = field(default_factory=dict)  # Pnyx node id -> Slurm name; default same
    pin_nodes: bool = True  # run on the nodes Pnyx placed the job on (--nodelist)
    working_directory: str  # where batch scripts start, on every node
    log_directory: str  # where jobs write <job id>.out, as the cluster's nodes see it
    log_mount: str | None = None  # the same directory as the control plane sees it; None: same path
    work_mount: str | None = None  # the working directory as the control plane sees it; None: no outputs
    dataset_mount: str | None = None  # where nodes see the registry's dataset versions; None: same path
    outputs: OutputCaps = field(default_factory=OutputCaps)  # what collecting one job's outputs reads
    path: str = "/usr/local/bin:/usr/bin:/bin"
    api_version: str | None = None  # None: the newest the server offers
    use_accounting: bool = True  # look in slurmdbd for jobs the controller has purged, and for accounts
    listing_ttl_s: float = 1.0  # outside a dispatcher, how long one listing of the jobs is reused
    timeout_s: float = 10.0

    def partition_for(self, level: SafetyLevel) -> str:
        partition = self.partitions.get(level)
        if partition is None:
            raise EngineRejected(f"no Slurm partition is configured for safety level {level.name}")
        return partition

    def account_for(self, project: str, partition: str | None = None) -> str:
        """The partition's own account where the deployer named one (a partition that admits only
        its accounts), else the project's."""
        named = self.partition_accounts.get(partition) if partition is not None else None
        return named or self.accounts.get(project, project)

    def gres_type_for(self, accelerator_type: str) -> str:
        return self.gres_types.get(accelerator_type, accelerator_type.lower())

    def nodes_for(self, grant: Grant) -> tuple[str, ...]:
        return tuple(self.node_names.get(n, n) for n in grant.node_ids) if self.pin_nodes else ()


def engine_state(slurm_state: str) -> EngineState:
    return _STATES.get(slurm_state, EngineState.UNKNOWN)


def build_request(spec: JobSpec, grant: Grant, config: SlurmConfig) -> SlurmJobRequest:
    """The Slurm job for a platform job (pure: no network)."""
    refuse_sealed(spec, "Slurm")
    if not spec.command:
        raise EngineRejected(
            "the Slurm executor runs commands; this job names only an image", field="command"
        )
    if spec.nodes < 1:
        raise EngineRejected("a job needs at least one node", field="nodes")
    command = shlex.join(spec.command)
    if spec.nodes > 1:
        command = f"srun --nodes={spec.nodes} --ntasks-per-node=1 -- {command}"
    partition = config.partition_for(partition_level(spec, grant, config))
    return SlurmJobRequest(
        name=job_name(spec.idempotency_key),
        comment=f"pnyx job {spec.job_id}: {spec.name}",
        account=config.account_for(spec.project, partition),
        partition=partition,
        nodes=spec.nodes,
        gpus_per_node=spec.accelerators_per_node,
        gres_type=config.gres_type_for(spec.accelerator_type) if spec.accelerator_type else None,
        time_limit_min=max(1, math.ceil(spec.time_limit_s / 60)),
        script=batch_script(spec, command, dataset_mount=config.dataset_mount),
        working_directory=config.working_directory,
        standard_output=str(Path(config.log_directory) / "%j.out"),
        environment=_environment(spec, grant, config),
        node_list=config.nodes_for(grant),
        exclusive=spec.safety_level >= SafetyLevel.L2,
    )


def partition_level(spec: JobSpec, grant: Grant, config: SlurmConfig) -> SafetyLevel:
    """The partition of the nodes the job is pinned to (an L1 job may be placed on nodes certified
    higher, which live in their own partition), never one below the job's own level."""
    if config.pin_nodes and grant.certification is not None:
        return max(spec.safety_level, grant.certification)
    return spec.safety_level


def _environment(spec: JobSpec, grant: Grant, config: SlurmConfig) -> dict[str, str]:
    return {
        "PATH": config.path,
        **spec.env,
        "PNYX_JOB_ID": spec.job_id,
        "PNYX_IDEMPOTENCY_KEY": spec.idempotency_key,
        "PNYX_GRANT_NODES": ",".join(grant.node_ids),
        "PNYX_GRANT_COUNTS": ",".join(str(c) for c in grant.counts),
    }


class SlurmExecutor:
    """The ``dispatch.Executor`` for Slurm, over slurmrestd (and a ``dispatch.CycleListing``)."""

    engine = ENGINE

    def __init__(self, config: SlurmConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._rest = SlurmRest(
            base_url=config.base_url,
            user=config.user,
            token=config.token,
            timeout_s=config.timeout_s,
            api_version=config.api_version,
            transport=transport,
        )
        setup = config.account_setup if config.use_accounting else AccountSetup.NONE
        self.accounts = AccountBook(self._rest, user=config.user, setup=setup, cluster=config.cluster)
        self.jobs = SlurmJobs(self._rest, ttl_s=config.listing_ttl_s, use_accounting=config.use_accounting)

    def close(self) -> None:
        self._rest.close()

    # ------------------------------------------------------------------ the Executor seam
    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        """Idempotent against this executor's submissions and the controller's jobs (``find`` also
        asks accounting, for jobs the controller purged)."""
        existing = self.jobs.known(spec.idempotency_key)
        return _ref(existing) if existing is not None else self.submit_new(spec, grant)

    def submit_new(self, spec: JobSpec, grant: Grant) -> EngineRef:
        """Submit without looking for an earlier submission: for a key no engine has seen (the
        dispatcher's decision of this cycle)."""
        request = build_request(spec, grant, self.config)
        self.accounts.ensure(spec.project, request.account)
        dialect = self.dialect()
        url = f"/slurm/{dialect.version}/job/submit"
        body = self._rest.call("POST", url, json=dialect.submit_body(request))
        errors = parse_errors(body)
        if errors:
            raise _submit_error(errors)
        self.jobs.remember(spec.idempotency_key, int(body["job_id"]))
        return _ref(int(body["job_id"]))

    def find(self, idempotency_key: str) -> EngineRef | None:
        return self.find_many([idempotency_key]).get(idempotency_key)

    def find_many(self, keys: Sequence[str]) -> dict[str, EngineRef]:
        """The controller's listing first, then one accounting query per 100 keys it lacks."""
        return {key: _ref(job_id) for key, job_id in self.jobs.find_many(keys).items()}

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        if not refs:
            return []
        ids = [int(ref.engine_job_id) for ref in refs]
        seen = self.jobs.seen(ids)
        return [
            _queued(ref) if job_id in seen.just_sent else _status(ref, seen.records.get(job_id))
            for ref, job_id in zip(refs, ids, strict=True)
        ]

    def cancel(self, ref: EngineRef) -> None:
        dialect = self.dialect()
        body = self._rest.call("DELETE", f"/slurm/{dialect.version}/job/{int(ref.engine_job_id)}")
        errors = [e for e in parse_errors(body) if e.number not in {INVALID_JOB_ID, ALREADY_DONE}]
        if errors:
            raise EngineUnavailable(f"Slurm did not cancel job {ref.engine_job_id}: {describe(errors)}")

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        """The job's ``outputs/``, hashed where the control plane sees the working directory
        (``work_mount``; none without it); what was skipped is named in the job's log."""
        found = job_dirs.collect(self.config.work_mount, str(int(ref.engine_job_id)), self.config.outputs)
        if found.notes:
            self._note(ref, found.notes)
        return found.artifacts

    def open_output(self, ref: EngineRef, path: str, size: int) -> BinaryIO:
        """``jobs.executor.OutputReader``: one recorded output, read through ``work_mount``."""
        return job_dirs.open_file(self.config.work_mount, str(int(ref.engine_job_id)), path, size, ENGINE)

    def _note(self, ref: EngineRef, notes: list[str]) -> None:
        job_dirs.append_notes(self._log_path(ref), notes, f"Slurm job {ref.engine_job_id}")

    def _log_path(self, ref: EngineRef) -> Path:
        return Path(self.config.log_mount or self.config.log_directory) / f"{int(ref.engine_job_id)}.out"

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        """The job's standard output, read from the configured log directory (a shared filesystem
        in production)."""
        path = self._log_path(ref)
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail_lines:]) if tail_lines > 0 else ""

    # ------------------------------------------------------------------ beyond the seam
    def begin_cycle(self) -> None:
        """A dispatch cycle begins: the next call lists the controller's jobs, once for the cycle."""
        self.jobs.begin_cycle()

    def ensure_account(self, project: str) -> str:
        """The project's account, once it is known that the submitting user may charge it."""
        account = self.config.account_for(project)
        self.accounts.ensure(project, account)
        return account

    def dialect(self) -> SlurmDialect:
        return self._rest.dialect()

    def controller_jobs(self) -> list[SlurmJob]:
        """Every job the controller holds (Pnyx's and everyone's)."""
        return [self.dialect().parse_job(raw) for raw in self.jobs.controller_records()]

    def accounting_jobs(self, *, name: str) -> list[SlurmJob]:
        return self.jobs.accounting(jobs_by_name(self.dialect().version, [name]))


def _ref(job_id: int) -> EngineRef:
    return EngineRef(engine=ENGINE, engine_job_id=str(job_id))


def _queued(ref: EngineRef) -> EngineStatus:
    return EngineStatus(ref=ref, state=EngineState.QUEUED, message="submitted; not listed yet")


def _status(ref: EngineRef, job: SlurmJob | None) -> EngineStatus:
    if job is None:
        return EngineStatus(ref=ref, state=EngineState.UNKNOWN, message="Slurm does not know this job")
    state = engine_state(job.state)
    reason = "" if job.reason in {"", "None"} else f" ({job.reason})"
    return EngineStatus(
        ref=ref,
        state=state,
        exit_code=job.exit_code,
        started_at=job.start if state is not EngineState.QUEUED else None,
        ended_at=job.end if state in FINAL_ENGINE_STATES else None,
        message=f"{job.state}{reason}",
    )


def _submit_error(errors: Sequence[SlurmError]) -> EngineRejected | EngineUnavailable:
    text = describe(errors)
    if any(e.number in REJECTING_ERRORS for e in errors):
        return EngineRejected(f"Slurm refused the job: {text}")
    return EngineUnavailable(f"Slurm did not accept the job now: {text}")
