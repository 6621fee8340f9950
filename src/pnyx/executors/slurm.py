"""Slurm executor: runs jobs through slurmrestd (JWT auth), speaking whichever API the server offers.

Mapping (configuration, not code): project -> Slurm account, safety level -> partition, gang ->
``nodes`` x ``gpus_per_node`` of one gres type. The idempotency key travels in the job *name*
(``pnyx-<key>``), because the name is kept by both the controller and accounting (a job comment
is not stored in accounting by default); ``find`` searches the controller first, then accounting
for jobs the controller has already purged (``MinJobAge``). State is reconciled by polling.

The batch step runs on the first node; a gang of several nodes runs its command once per node
through ``srun`` (one task per node), as distributed training launchers expect.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pnyx.executors.slurm_api import (
    SUPPORTED_VERSIONS,
    SlurmDialect,
    SlurmError,
    SlurmJob,
    SlurmJobRequest,
    dialect_for,
    newest_supported,
    parse_errors,
)
from pnyx.inventory.model import SafetyLevel
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

ENGINE = "slurm"
NAME_PREFIX = "pnyx-"

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
INVALID_JOB_ID = 2017  # ESLURM_INVALID_JOB_ID
ALREADY_DONE = 2021  # ESLURM_ALREADY_DONE
EMPTY_RESULT = 9003  # ESLURM_REST_EMPTY_RESULT: accounting found nothing

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
    ``scontrol token username=USER lifespan=SECONDS`` (rotate by building a new executor)."""

    base_url: str = "http://127.0.0.1:6820"
    user: str
    token: str
    partitions: Mapping[SafetyLevel, str] = field(default_factory=lambda: dict(DEFAULT_PARTITIONS))
    accounts: Mapping[str, str] = field(default_factory=dict)  # project -> account; default: same name
    gres_types: Mapping[str, str] = field(default_factory=dict)  # accelerator type -> gres type
    working_directory: str  # where batch scripts start, on every node
    log_directory: str  # where jobs write <job id>.out, as the cluster's nodes see it
    log_mount: str | None = None  # the same directory as the control plane sees it; None: same path
    path: str = "/usr/local/bin:/usr/bin:/bin"
    api_version: str | None = None  # None: the newest the server offers
    use_accounting: bool = True  # look in slurmdbd for jobs the controller has purged
    timeout_s: float = 10.0

    def partition_for(self, level: SafetyLevel) -> str:
        partition = self.partitions.get(level)
        if partition is None:
            raise EngineRejected(f"no Slurm partition is configured for safety level {level.name}")
        return partition

    def account_for(self, project: str) -> str:
        return self.accounts.get(project, project)

    def gres_type_for(self, accelerator_type: str) -> str:
        return self.gres_types.get(accelerator_type, accelerator_type.lower())


def job_name(idempotency_key: str) -> str:
    return f"{NAME_PREFIX}{idempotency_key}"


def engine_state(slurm_state: str) -> EngineState:
    return _STATES.get(slurm_state, EngineState.UNKNOWN)


def build_request(spec: JobSpec, grant: Grant, config: SlurmConfig) -> SlurmJobRequest:
    """The Slurm job for a platform job (pure: no network)."""
    if not spec.command:
        raise EngineRejected(
            "the Slurm executor runs commands; this job names only an image", field="command"
        )
    if spec.nodes < 1:
        raise EngineRejected("a job needs at least one node", field="nodes")
    env = {
        "PATH": config.path,
        **spec.env,
        "PNYX_JOB_ID": spec.job_id,
        "PNYX_IDEMPOTENCY_KEY": spec.idempotency_key,
        "PNYX_GRANT_NODES": ",".join(grant.node_ids),
        "PNYX_GRANT_COUNTS": ",".join(str(c) for c in grant.counts),
    }
    command = shlex.join(spec.command)
    if spec.nodes > 1:
        command = f"srun --nodes={spec.nodes} --ntasks-per-node=1 -- {command}"
    return SlurmJobRequest(
        name=job_name(spec.idempotency_key),
        comment=f"pnyx job {spec.job_id}: {spec.name}",
        account=config.account_for(spec.project),
        partition=config.partition_for(spec.safety_level),
        nodes=spec.nodes,
        gpus_per_node=spec.accelerators_per_node,
        gres_type=config.gres_type_for(spec.accelerator_type) if spec.accelerator_type else None,
        time_limit_min=max(1, math.ceil(spec.time_limit_s / 60)),
        script=f"#!/bin/bash\nexec {command}\n",
        working_directory=config.working_directory,
        standard_output=str(Path(config.log_directory) / "%j.out"),
        environment=env,
    )


class SlurmExecutor:
    """The ``dispatch.Executor`` for Slurm, over slurmrestd."""

    engine = ENGINE

    def __init__(self, config: SlurmConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._http = httpx.Client(
            base_url=config.base_url,
            timeout=config.timeout_s,
            transport=transport,
            headers={
                "X-SLURM-USER-NAME": config.user,
                "X-SLURM-USER-TOKEN": config.token,
                "Content-Type": "application/json",
            },
        )
        self._dialect: SlurmDialect | None = None

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ the Executor seam
    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        request = build_request(spec, grant, self.config)
        existing = self.find(spec.idempotency_key)
        if existing is not None:
            return existing
        dialect = self.dialect()
        body = self._call("POST", f"/slurm/{dialect.version}/job/submit", json=dialect.submit_body(request))
        errors = parse_errors(body)
        if errors:
            raise _submit_error(errors)
        return EngineRef(engine=ENGINE, engine_job_id=str(body["job_id"]))

    def find(self, idempotency_key: str) -> EngineRef | None:
        name = job_name(idempotency_key)
        matches = [job.job_id for job in self.controller_jobs() if job.name == name]
        if not matches and self.config.use_accounting:
            matches = [job.job_id for job in self.accounting_jobs(name=name) if job.name == name]
        if not matches:
            return None
        return EngineRef(engine=ENGINE, engine_job_id=str(min(matches)))

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        if not refs:
            return []
        live = {job.job_id: job for job in self.controller_jobs()}
        statuses: list[EngineStatus] = []
        for ref in refs:
            job = live.get(int(ref.engine_job_id))
            if job is None and self.config.use_accounting:
                job = self._accounting_job(int(ref.engine_job_id))
            statuses.append(_status(ref, job))
        return statuses

    def cancel(self, ref: EngineRef) -> None:
        dialect = self.dialect()
        body = self._call("DELETE", f"/slurm/{dialect.version}/job/{int(ref.engine_job_id)}")
        errors = [e for e in parse_errors(body) if e.number not in {INVALID_JOB_ID, ALREADY_DONE}]
        if errors:
            raise EngineUnavailable(f"Slurm did not cancel job {ref.engine_job_id}: {_describe(errors)}")

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        """Outputs stay on the Slurm side's storage. Collecting and hashing them needs storage the
        control plane can read, which this executor does not have yet: it reports none."""
        return []

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        """The job's standard output, read from the configured log directory (a shared filesystem
        in production)."""
        path = Path(self.config.log_mount or self.config.log_directory) / f"{int(ref.engine_job_id)}.out"
        if not path.exists():
            return ""
        lines = path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-tail_lines:]) if tail_lines > 0 else ""

    # ------------------------------------------------------------------ reading the cluster
    def dialect(self) -> SlurmDialect:
        """The API dialect, chosen once: configured, or the newest the server offers."""
        if self._dialect is None:
            version = self.config.api_version or self._negotiate()
            self._dialect = dialect_for(version)
        return self._dialect

    def controller_jobs(self) -> list[SlurmJob]:
        dialect = self.dialect()
        body = self._call("GET", f"/slurm/{dialect.version}/jobs")
        errors = parse_errors(body)
        if errors:
            raise EngineUnavailable(f"Slurm did not list jobs: {_describe(errors)}")
        return [dialect.parse_job(raw) for raw in body.get("jobs") or []]

    def accounting_jobs(self, *, name: str) -> list[SlurmJob]:
        dialect = self.dialect()
        body = self._call("GET", f"/slurmdb/{dialect.version}/jobs", params={"job_name": name})
        errors = [e for e in parse_errors(body) if e.number != EMPTY_RESULT]
        if errors:
            raise EngineUnavailable(f"Slurm accounting did not answer: {_describe(errors)}")
        return [dialect.parse_accounting_job(raw) for raw in body.get("jobs") or []]

    def _accounting_job(self, job_id: int) -> SlurmJob | None:
        dialect = self.dialect()
        body = self._call("GET", f"/slurmdb/{dialect.version}/job/{job_id}")
        errors = [e for e in parse_errors(body) if e.number not in {EMPTY_RESULT, INVALID_JOB_ID}]
        if errors:
            raise EngineUnavailable(f"Slurm accounting did not answer: {_describe(errors)}")
        jobs = body.get("jobs") or []
        if not jobs:
            return None  # unknown to accounting too (or not yet recorded: accounting lags 1-2 s)
        return dialect.parse_accounting_job(jobs[0])

    def _negotiate(self) -> str:
        offered = self._offered_versions()
        version = newest_supported(offered)
        if version is None:
            raise EngineUnavailable(
                f"slurmrestd at {self.config.base_url} offers {sorted(offered)}, none of {SUPPORTED_VERSIONS}"
            )
        return version

    def _offered_versions(self) -> list[str]:
        """Versions with a ``/slurm/<v>/ping`` in the server's OpenAPI document, or, where the
        document is not served, those whose ping answers."""
        try:
            response = self._http.get("/openapi/v3")
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"slurmrestd at {self.config.base_url} unreachable: {exc}") from exc
        if response.status_code == 200:
            # 24.11 writes its paths with a trailing slash ("/slurm/v0.0.42/ping/"), 22.05 without
            paths = {str(p).rstrip("/") for p in response.json().get("paths") or {}}
            return [v for v in SUPPORTED_VERSIONS if f"/slurm/{v}/ping" in paths]
        return [v for v in SUPPORTED_VERSIONS if self._pings(v)]

    def _pings(self, version: str) -> bool:
        try:
            return self._http.get(f"/slurm/{version}/ping").status_code == 200
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"slurmrestd at {self.config.base_url} unreachable: {exc}") from exc

    def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One request; Slurm's errors come back in the body (often with status 500), so the body is
        returned whenever it is JSON and the caller classifies its ``errors``."""
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"slurmrestd at {self.config.base_url} unreachable: {exc}") from exc
        if response.status_code in {401, 403}:
            raise EngineUnavailable(f"slurmrestd refused our credentials ({response.status_code})")
        try:
            body = response.json()
        except ValueError as exc:
            raise EngineUnavailable(
                f"slurmrestd answered {response.status_code} without JSON to {method} {url}"
            ) from exc
        if not isinstance(body, dict):
            raise EngineUnavailable(f"slurmrestd answered {method} {url} with {type(body).__name__}")
        if response.status_code >= 400 and not body.get("errors"):
            raise EngineUnavailable(f"slurmrestd answered {response.status_code} to {method} {url}")
        return body


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


def _describe(errors: Sequence[SlurmError]) -> str:
    return "; ".join(f"{e.message} [{e.number}]" for e in errors)


def _submit_error(errors: Sequence[SlurmError]) -> EngineRejected | EngineUnavailable:
    text = _describe(errors)
    if any(e.number in REJECTING_ERRORS for e in errors):
        return EngineRejected(f"Slurm refused the job: {text}")
    return EngineUnavailable(f"Slurm did not accept the job now: {text}")
