"""The two JSON dialects of slurmrestd, as data in and data out.

Slurm 22.05 serves ``v0.0.36``-``v0.0.38``; Slurm 23.11+ serve ``v0.0.40`` and later (24.11:
``v0.0.40``-``v0.0.42``). The versions do not overlap and their JSON differs: the modern one wraps
numbers as ``{"set", "infinite", "number"}``, reports ``job_state`` as a list of flags, takes the
environment as ``["K=V", ...]`` and GPUs as ``tres_per_node``. Each dialect turns one
``SlurmJobRequest`` into a submit body and parses a job record into one ``SlurmJob``; the requests
for accounting (jobs by name or id, accounts, associations) are ``SlurmCall`` values. Nothing here
talks to the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

# newest first: the adapter speaks the newest one the server offers
MODERN_VERSIONS = ("v0.0.42", "v0.0.41", "v0.0.40")
LEGACY_VERSIONS = ("v0.0.38",)
SUPPORTED_VERSIONS = MODERN_VERSIONS + LEGACY_VERSIONS
ORGANIZATION = "pnyx"  # the organization of the accounts Pnyx creates
INVALID_JOB_ID = 2017  # ESLURM_INVALID_JOB_ID
ALREADY_DONE = 2021  # ESLURM_ALREADY_DONE
EMPTY_RESULT = 9003  # ESLURM_REST_EMPTY_RESULT: accounting found nothing
BATCH = 100  # names or ids per accounting query (the query string stays a few KB)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class SlurmJobRequest:
    """A batch job in Slurm's own terms (account, partition, nodes, gres), dialect-free."""

    name: str
    comment: str
    account: str
    partition: str
    nodes: int
    gpus_per_node: int
    gres_type: str | None  # "h100" -> gpu:h100:N; None -> gpu:N
    time_limit_min: int
    script: str
    working_directory: str
    standard_output: str
    environment: Mapping[str, str] = field(default_factory=dict)
    node_list: tuple[str, ...] = ()  # the nodes Pnyx placed the job on; empty: Slurm chooses
    exclusive: bool = False  # whole nodes, shared with no other job (safety level L2 and above)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlurmJob:
    """What the controller (or accounting) says about one job."""

    job_id: int
    name: str
    state: str  # Slurm's base state: PENDING, RUNNING, COMPLETED, CANCELLED, FAILED, TIMEOUT ...
    exit_code: int | None
    start: datetime | None
    end: datetime | None
    reason: str
    node_count: int | None = None
    nodes: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SlurmCall:
    """One request to slurmrestd, as data."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SlurmError:
    number: int
    message: str


class SlurmDialect(Protocol):
    @property
    def version(self) -> str: ...

    def submit_body(self, request: SlurmJobRequest) -> dict[str, Any]: ...

    def parse_job(self, raw: Mapping[str, Any]) -> SlurmJob: ...

    def parse_accounting_job(self, raw: Mapping[str, Any]) -> SlurmJob: ...

    def account_creation(self, account: str, cluster: str, description: str) -> SlurmCall: ...

    def jobs_unchanged(self, status_code: int, body: Mapping[str, Any]) -> bool:
        """A ``GET jobs?update_time=T`` answer that says no job changed since T."""
        ...

    def last_update(self, body: Mapping[str, Any]) -> int | None:
        """The controller's time of the listing, where the answer says it (the next ``update_time``)."""
        ...


def dialect_for(version: str) -> SlurmDialect:
    if version in MODERN_VERSIONS:
        return ModernDialect(version=version)
    if version in LEGACY_VERSIONS:
        return LegacyDialect(version=version)
    raise ValueError(f"unsupported slurmrestd API version {version!r}; supported: {SUPPORTED_VERSIONS}")


def newest_supported(offered: Sequence[str]) -> str | None:
    """The newest version this adapter speaks among those the server offers."""
    for version in SUPPORTED_VERSIONS:
        if version in offered:
            return version
    return None


def parse_errors(body: Mapping[str, Any]) -> list[SlurmError]:
    """Errors of either dialect (22.05 submit says ``error_code``, the rest ``error_number``)."""
    found: list[SlurmError] = []
    for raw in body.get("errors") or []:
        number = raw.get("error_number", raw.get("error_code", 0))
        parts = [str(raw.get(k)) for k in ("error", "description") if raw.get(k)]
        text = ": ".join(dict.fromkeys(parts))  # 24.11 says what failed and why; 22.05 often one of them
        found.append(SlurmError(number=int(number or 0), message=text))
    return found


def _timestamp(value: int | None) -> datetime | None:
    if value is None or value <= 0:
        return None
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class LegacyDialect:
    """Slurm 22.05, API v0.0.38: plain numbers, ``job_state`` a string, environment a mapping."""

    version: str

    def submit_body(self, request: SlurmJobRequest) -> dict[str, Any]:
        job: dict[str, Any] = {
            "name": request.name,
            "comment": request.comment,
            "account": request.account,
            "partition": request.partition,
            # v0.0.38 documents an int array here, but only the string form sets the node count
            "nodes": str(request.nodes),
            "tasks_per_node": 1,
            "time_limit": request.time_limit_min,
            "current_working_directory": request.working_directory,
            "standard_output": request.standard_output,
            "environment": dict(request.environment),
            "requeue": False,
        }
        if request.gpus_per_node > 0:
            # 22.05 wants "TYPE:COUNT" here; "gpu:TYPE:COUNT" is refused as an invalid gres
            job["gpus_per_node"] = _typed_count(request)
        if request.node_list:
            job["nodelist"] = ",".join(request.node_list)  # sbatch --nodelist ("required_nodes" is disabled)
        if request.exclusive:
            job["exclusive"] = "exclusive"  # sbatch --exclusive; "true" is refused
        return {"script": request.script, "job": job}

    def parse_job(self, raw: Mapping[str, Any]) -> SlurmJob:
        return SlurmJob(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            state=str(raw.get("job_state") or "UNKNOWN"),
            exit_code=_legacy_exit(raw),
            start=_timestamp(raw.get("start_time")),
            end=_timestamp(raw.get("end_time")),
            reason=str(raw.get("state_reason") or ""),
            node_count=raw.get("node_count"),
            nodes=str(raw.get("nodes") or ""),
        )

    def parse_accounting_job(self, raw: Mapping[str, Any]) -> SlurmJob:
        state = raw.get("state") or {}
        times = raw.get("time") or {}
        exit_code = raw.get("exit_code") or {}
        return SlurmJob(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            state=str(state.get("current") or "UNKNOWN"),
            exit_code=exit_code.get("return_code"),
            start=_timestamp(times.get("start")),
            end=_timestamp(times.get("end")),
            reason=str(state.get("reason") or ""),
            nodes=str(raw.get("nodes") or ""),
        )

    def account_creation(self, account: str, cluster: str, description: str) -> SlurmCall:
        """22.05 adds the account and its association on the cluster in one POST."""
        record = {
            "name": account,
            "description": description,
            "organization": ORGANIZATION,
            "associations": [{"account": account, "cluster": cluster}],
        }
        return SlurmCall(method="POST", path=f"/slurmdb/{self.version}/accounts", body={"accounts": [record]})

    def jobs_unchanged(self, status_code: int, body: Mapping[str, Any]) -> bool:
        return status_code == 304  # 22.05 answers "not modified", with no body at all

    def last_update(self, body: Mapping[str, Any]) -> int | None:
        return None  # not in v0.0.38 answers: the caller uses its own clock, with a margin


def _legacy_exit(raw: Mapping[str, Any]) -> int | None:
    if raw.get("job_state") in {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"}:
        return None
    value = raw.get("exit_code")
    if not isinstance(value, int):
        return None
    # v0.0.38 reports the raw wait(2) status here: 768 is exit 3, a signal N reads as 128 + N
    signal = value & 0x7F
    return 128 + signal if signal else (value >> 8) & 0xFF


def number(value: Any) -> int | None:
    """A modern wrapped number ``{"set", "infinite", "number"}`` (or a plain int) as an int."""
    if isinstance(value, Mapping):
        if not value.get("set", False) or value.get("infinite", False):
            return None
        return int(value.get("number", 0))
    if isinstance(value, int):
        return value
    return None


def _base_state(flags: Any) -> str:
    """``job_state`` is a list in the modern API: the base state first, then flags."""
    if isinstance(flags, str):
        return flags
    states = list(flags or [])
    return str(states[0]) if states else "UNKNOWN"


@dataclass(frozen=True, slots=True)
class ModernDialect:
    """Slurm 23.11+, API v0.0.40-v0.0.42: wrapped numbers, state lists, ``tres_per_node``."""

    version: str

    def submit_body(self, request: SlurmJobRequest) -> dict[str, Any]:
        job: dict[str, Any] = {
            "name": request.name,
            "comment": request.comment,
            "account": request.account,
            "partition": request.partition,
            "nodes": str(request.nodes),
            "tasks_per_node": 1,
            "time_limit": {"set": True, "infinite": False, "number": request.time_limit_min},
            "current_working_directory": request.working_directory,
            "standard_output": request.standard_output,
            "environment": [f"{k}={v}" for k, v in request.environment.items()],
            "requeue": False,
            "script": request.script,
        }
        if request.gpus_per_node > 0:
            job["tres_per_node"] = f"gres/gpu:{_typed_count(request)}"
        if request.node_list:
            job["required_nodes"] = ",".join(request.node_list)
        if request.exclusive:
            job["shared"] = ["none"]  # "exclusive" is deprecated since 23.11 and gone in v0.0.42
        return {"job": job}

    def parse_job(self, raw: Mapping[str, Any]) -> SlurmJob:
        state = _base_state(raw.get("job_state"))
        exit_code = raw.get("exit_code") or {}
        final = state not in {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"}
        return SlurmJob(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            state=state,
            exit_code=number(exit_code.get("return_code")) if final else None,
            start=_timestamp(number(raw.get("start_time"))),
            end=_timestamp(number(raw.get("end_time"))),
            reason=str(raw.get("state_reason") or ""),
            node_count=number(raw.get("node_count")),
            nodes=str(raw.get("nodes") or ""),
        )

    def parse_accounting_job(self, raw: Mapping[str, Any]) -> SlurmJob:
        state = raw.get("state") or {}
        times = raw.get("time") or {}
        exit_code = raw.get("exit_code") or {}
        return SlurmJob(
            job_id=int(raw["job_id"]),
            name=str(raw.get("name") or ""),
            state=_base_state(state.get("current")),
            exit_code=number(exit_code.get("return_code")),
            start=_timestamp(number(times.get("start"))),
            end=_timestamp(number(times.get("end"))),
            reason=str(state.get("reason") or ""),
            nodes=str(raw.get("nodes") or ""),
        )

    def account_creation(self, account: str, cluster: str, description: str) -> SlurmCall:
        """23.11+ ignore associations posted with an account: ``accounts_association`` adds both."""
        body = {
            "association_condition": {"accounts": [account], "clusters": [cluster]},
            "account": {"description": description, "organization": ORGANIZATION},
        }
        return SlurmCall(method="POST", path=f"/slurmdb/{self.version}/accounts_association", body=body)

    def jobs_unchanged(self, status_code: int, body: Mapping[str, Any]) -> bool:
        # 23.11+ answer 200 with a warning and no ``last_update`` ("No job changes since update_time")
        return status_code == 304 or not self.last_update(body)

    def last_update(self, body: Mapping[str, Any]) -> int | None:
        return number(body.get("last_update"))


def _typed_count(request: SlurmJobRequest) -> str:
    if request.gres_type:
        return f"{request.gres_type}:{request.gpus_per_node}"
    return str(request.gpus_per_node)


# --- accounting: the same query names and records in both dialects -----------------------------


def jobs_by_name(version: str, names: Sequence[str]) -> SlurmCall:
    """Accounting's jobs with any of these names (a comma-separated list, which httpx encodes as %2C:
    slurmrestd refuses a literal comma)."""
    return SlurmCall(method="GET", path=f"/slurmdb/{version}/jobs", params={"job_name": ",".join(names)})


def jobs_by_id(version: str, job_ids: Sequence[int]) -> SlurmCall:
    """Accounting's records of these job ids (the ``step`` filter takes job ids; indexed, unlike names)."""
    return SlurmCall(
        method="GET", path=f"/slurmdb/{version}/jobs", params={"step": ",".join(str(i) for i in job_ids)}
    )


def batches(items: Sequence[T], size: int = BATCH) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def association_query(version: str, account: str) -> SlurmCall:
    """Every association of the account: its own on each cluster (no user) and its users'."""
    return SlurmCall(method="GET", path=f"/slurmdb/{version}/associations", params={"account": account})


def association_creation(version: str, account: str, cluster: str, user: str) -> SlurmCall:
    """The submitting user's association with the account: what lets its jobs charge the account."""
    record = {"account": account, "cluster": cluster, "user": user}
    return SlurmCall(method="POST", path=f"/slurmdb/{version}/associations", body={"associations": [record]})


def clusters_query(version: str) -> SlurmCall:
    return SlurmCall(method="GET", path=f"/slurmdb/{version}/clusters")


def associations_of(body: Mapping[str, Any], account: str) -> frozenset[tuple[str, str]]:
    """(cluster, user) of the account's associations; user "" for the account's own."""
    return frozenset(
        (str(a.get("cluster") or ""), str(a.get("user") or ""))
        for a in body.get("associations") or []
        if a.get("account") == account
    )


def cluster_names(body: Mapping[str, Any]) -> list[str]:
    return sorted(str(c.get("name")) for c in body.get("clusters") or [] if c.get("name"))
