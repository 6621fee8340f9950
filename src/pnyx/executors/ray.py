"""Ray executor: drives the Ray Jobs REST API of a cluster's dashboard; the control plane never
imports Ray.

The idempotency key is the Ray ``submission_id``: Ray refuses a second submission of a key, so
``submit`` is one POST and answers a refusal of its key with the existing ref. Ray's state is read
in one listing (``GET /api/jobs/``, kept to Pnyx's own jobs by their ``pnyx_job_id`` metadata), or
one ``GET /api/jobs/<id>`` per job where that is cheaper: Ray keeps every job until the cluster
restarts and cannot filter its listing, so a few jobs against a long history are read one by one
(``listing_entries_per_get``). Driven by the dispatcher (``begin_cycle``), a cycle reads Ray once:
at most one listing, or one GET per job it asks about, never both for a job; later reads of the
cycle answer from that, and a job submitted in the cycle is PENDING (Ray took it), for at most
``cycle_listing_max_s``. A key that a read missed is still never run twice: its POST is refused
and answered with the ref.

The driver reserves the gang's accelerators as a custom resource (``entrypoint_resources``), so Ray
never runs it on fewer than granted. Ray does not refuse what it cannot place: a request for more
than the cluster has stays PENDING for ever, so the platform admits first (the scheduler's grant)
and this executor passes only granted sizes. Ray stamps ``start_time`` at submission: a job's
reported start is when Ray took it, its end when the driver exited. A gang of several nodes reserves
one node's share for the driver and tells the entrypoint the gang shape (``PNYX_GANG_NODES``,
``PNYX_ACCELERATORS_PER_NODE``) for its own placement group.

With a ``working_directory`` (shared by the cluster's nodes), the entrypoint starts in the job's own
directory there (``job_dirs``): its dataset inputs linked under ``$PNYX_INPUTS``, its outputs in
``outputs/``, collected when the control plane sees that directory (``work_mount``). Without one, a
job that reads datasets is refused and no outputs are collected. The entrypoint runs with Ray's own
environment: a Python program names its interpreter by absolute path (Ray's venv has no torch).
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from pnyx.executors import job_dirs
from pnyx.executors.local_outputs import OutputCaps
from pnyx.jobs.executor import refuse_sealed
from pnyx.jobs.model import (
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

ENGINE = "ray"
log = logging.getLogger(__name__)

_STATES: Mapping[str, EngineState] = {
    "PENDING": EngineState.QUEUED,
    "RUNNING": EngineState.RUNNING,
    "SUCCEEDED": EngineState.SUCCEEDED,
    "FAILED": EngineState.FAILED,
    "STOPPED": EngineState.CANCELLED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RayConfig:
    base_url: str = "http://127.0.0.1:8265"
    accelerator_resource: str = "accelerator"  # the custom resource each node advertises
    driver_cpus: float = 0.1  # CPUs the entrypoint itself reserves
    max_safety_level: SafetyLevel = SafetyLevel.L1  # the highest level this cluster may run
    timeout_s: float = 10.0
    cycle_listing_max_s: float = 30.0  # a dispatch cycle's reads are never answered from for longer
    # one GET of a job costs about as much as this many entries of a listing (Ray 2.60, loaded 2-core
    # machine: 11 ms a GET, 0.4-1.1 s a listing of 1,100 jobs): fewer jobs than history / this: GETs
    listing_entries_per_get: float = 20.0
    working_directory: str | None = None  # where jobs start (pnyx-<key>/), on every node; None: Ray's
    work_mount: str | None = None  # the working directory as the control plane sees it; None: no outputs
    dataset_mount: str | None = None  # where nodes see the registry's dataset versions; None: same path
    outputs: OutputCaps = field(default_factory=OutputCaps)  # what collecting one job's outputs reads


def build_submission(spec: JobSpec, grant: Grant, config: RayConfig) -> dict[str, Any]:
    """The Jobs API body for a platform job (pure: no network)."""
    refuse_sealed(spec, "Ray")
    if not spec.command:
        raise EngineRejected("the Ray executor needs a command (its entrypoint)", field="command")
    if spec.safety_level > config.max_safety_level:
        raise EngineRejected(
            f"this Ray cluster runs jobs up to {config.max_safety_level.name}, not {spec.safety_level.name}",
            field="safety_level",
        )
    driver_share = spec.accelerators if spec.nodes <= 1 else spec.accelerators_per_node
    runtime_env: dict[str, Any] = {
        "env_vars": {
            **spec.env,
            "PNYX_JOB_ID": spec.job_id,
            "PNYX_IDEMPOTENCY_KEY": spec.idempotency_key,
            "PNYX_GANG_NODES": str(spec.nodes),
            "PNYX_ACCELERATORS_PER_NODE": str(spec.accelerators_per_node),
            "PNYX_GRANT_NODES": ",".join(grant.node_ids),
            "PNYX_GRANT_COUNTS": ",".join(str(c) for c in grant.counts),
        }
    }
    if spec.image:
        runtime_env["image_uri"] = spec.image
    body: dict[str, Any] = {
        "entrypoint": entrypoint(spec, config),
        "submission_id": spec.idempotency_key,
        "runtime_env": runtime_env,
        "entrypoint_num_cpus": config.driver_cpus,
        "metadata": {
            "pnyx_job_id": spec.job_id,
            "project": spec.project,
            "user": spec.user,
            "safety_level": spec.safety_level.name,
            "name": spec.name,
        },
    }
    if driver_share > 0:
        body["entrypoint_resources"] = {config.accelerator_resource: driver_share}
    return body


def entrypoint(spec: JobSpec, config: RayConfig) -> str:
    """The command, started in the job's own directory when the cluster has a working directory."""
    command = shlex.join(spec.command)
    if config.working_directory is None:
        if spec.inputs:
            raise EngineRejected(
                "this Ray cluster has no working_directory, where a job finds its dataset inputs",
                field="datasets",
            )
        return command
    job_dir = f"{config.working_directory}/{job_dirs.job_dir_name(spec.idempotency_key)}"
    if not job_dirs.PLAIN_PATH.match(job_dir):
        raise EngineRejected(f"ray.working_directory {config.working_directory!r} is not a plain path")
    lines = job_dirs.prelude(job_dir, spec.inputs, config.dataset_mount)
    return " && ".join([*lines, f"exec {command}"])


def engine_state(ray_status: str) -> EngineState:
    return _STATES.get(ray_status, EngineState.UNKNOWN)


def _millis(value: Any) -> datetime | None:
    if not isinstance(value, int) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def parse_status(ref: EngineRef, raw: Mapping[str, Any]) -> EngineStatus:
    state = engine_state(str(raw.get("status")))
    exit_code = raw.get("driver_exit_code")
    return EngineStatus(
        ref=ref,
        state=state,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        # Ray stamps start_time at submission; a PENDING job has not started
        started_at=_millis(raw.get("start_time")) if state is not EngineState.QUEUED else None,
        ended_at=_millis(raw.get("end_time")),
        message=str(raw.get("message") or ""),
    )


class RayExecutor:
    """The ``dispatch.Executor`` for Ray, over the Jobs REST API; a ``dispatch.handover.CycleListing``."""

    engine = ENGINE

    def __init__(self, config: RayConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        no_idle = httpx.Limits(max_keepalive_connections=0)  # no socket outlives its request (a dropped,
        # unclosed executor leaves none open); a local connect costs far less than Ray's answer
        self._http = httpx.Client(
            base_url=config.base_url, timeout=config.timeout_s, transport=transport, limits=no_idle
        )
        self._known: dict[str, Mapping[str, Any]] = {}  # this cycle's reads and submissions
        self._cycle_began: float | None = None  # monotonic; None: no dispatcher drives this executor
        self._listed = False  # this cycle's listing was taken
        self._history = 0  # entries in Ray's last listing (all its jobs, anyone's)
        self.listings = 0  # GET /api/jobs/ calls made
        self.gets = 0  # GET /api/jobs/<id> calls made

    def close(self) -> None:
        self._http.close()

    def begin_cycle(self) -> None:
        """A dispatch cycle begins: its reads go to Ray once, and the rest of the cycle answers from
        them (a job submitted in the cycle is PENDING: Ray took it)."""
        self._cycle_began, self._listed, self._known = time.monotonic(), False, {}

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        body = build_submission(spec, grant, self.config)
        key = spec.idempotency_key
        if key in self._known:
            return self._ref(key)
        response = self._request("POST", "/api/jobs/", json=body)
        if response.status_code == 200:
            self._known[key] = {"submission_id": key, "status": "PENDING"}
            return self._ref(str(response.json()["submission_id"]))
        if "already exists" in response.text:  # submitted before (a listing missed it, or a race)
            return self._ref(key)
        if response.status_code == 400:
            raise EngineRejected(f"Ray refused the job: {_last_line(response.text)}")
        raise EngineUnavailable(f"Ray answered {response.status_code}: {_last_line(response.text)}")

    def find(self, idempotency_key: str) -> EngineRef | None:
        return self.find_many([idempotency_key]).get(idempotency_key)

    def find_many(self, keys: Sequence[str]) -> dict[str, EngineRef]:
        jobs = self._read(keys)
        return {key: self._ref(key) for key in keys if key in jobs}

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        jobs = self._read([ref.engine_job_id for ref in refs])
        return [self._status(ref, jobs.get(ref.engine_job_id)) for ref in refs]

    def cancel(self, ref: EngineRef) -> None:
        response = self._request("POST", f"/api/jobs/{quote(ref.engine_job_id, safe='')}/stop")
        if response.status_code not in {200, 404}:
            raise EngineUnavailable(f"Ray did not stop {ref.engine_job_id}: {response.status_code}")

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        """The job's ``outputs/``, hashed where the control plane sees the working directory
        (``work_mount``; none without it). Ray's logs cannot take a note: skipped outputs are
        counted in the server's log."""
        found = job_dirs.collect(self.config.work_mount, ref.engine_job_id, self.config.outputs)
        if found.notes:
            skipped = len(found.notes)
            log.warning("Ray job %s: %d outputs not recorded: %s", ref.engine_job_id, skipped, found.notes[0])
        return found.artifacts

    def open_output(self, ref: EngineRef, path: str, size: int) -> BinaryIO:
        """``jobs.executor.OutputReader``: one recorded output, read through ``work_mount``."""
        return job_dirs.open_file(self.config.work_mount, ref.engine_job_id, path, size, ENGINE)

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        response = self._request("GET", f"/api/jobs/{quote(ref.engine_job_id, safe='')}/logs")
        if response.status_code == 404:
            return ""
        if response.status_code != 200:
            raise EngineUnavailable(f"Ray did not return logs of {ref.engine_job_id}: {response.status_code}")
        lines = str(response.json().get("logs") or "").splitlines()
        return "\n".join(lines[-tail_lines:]) if tail_lines > 0 else ""

    def _read(self, keys: Sequence[str]) -> Mapping[str, Mapping[str, Any]]:
        """These jobs as Ray holds them: in a cycle, what it already read or submitted; the rest from
        one listing, or one GET each where that is cheaper (a few jobs against a long history)."""
        in_cycle = self._in_cycle()
        if in_cycle and self._listed:
            return self._known
        wanted = [k for k in dict.fromkeys(keys) if not (in_cycle and k in self._known)]
        if not wanted:
            return self._known
        if len(wanted) * self.config.listing_entries_per_get >= self._history:  # 0: never listed yet
            return self._list()
        found = {key: raw for key in wanted if is_pnyx_job(raw := self._job(key)) and raw is not None}
        if not in_cycle:
            return found
        self._known.update(found)
        return self._known

    def _in_cycle(self) -> bool:
        """A dispatcher's cycle is under way (one that stalls, or reads after the last one, read afresh)."""
        began = self._cycle_began
        return began is not None and time.monotonic() - began <= self.config.cycle_listing_max_s

    def _list(self) -> Mapping[str, Mapping[str, Any]]:
        """Pnyx's jobs as Ray holds them now, by submission id: one ``GET /api/jobs/``."""
        response = self._request("GET", "/api/jobs/")
        if response.status_code != 200:
            raise EngineUnavailable(f"Ray answered {response.status_code} listing its jobs")
        listing = response.json()
        self._known, self._listed = pnyx_jobs(listing), True
        self._history = len(listing)
        self.listings += 1
        return self._known

    def _status(self, ref: EngineRef, raw: Mapping[str, Any] | None) -> EngineStatus:
        if raw is None:
            return EngineStatus(ref=ref, state=EngineState.UNKNOWN, message="Ray does not know it")
        return parse_status(ref, raw)

    def _job(self, submission_id: str) -> dict[str, Any] | None:
        self.gets += 1
        response = self._request("GET", f"/api/jobs/{quote(submission_id, safe='')}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise EngineUnavailable(f"Ray answered {response.status_code} for job {submission_id}")
        body = response.json()
        if not isinstance(body, dict):
            raise EngineUnavailable(f"Ray answered job {submission_id} with {type(body).__name__}")
        return body

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"Ray Jobs API at {self.config.base_url} unreachable: {exc}") from exc

    @staticmethod
    def _ref(submission_id: str) -> EngineRef:
        return EngineRef(engine=ENGINE, engine_job_id=submission_id)


def pnyx_jobs(listing: Any) -> dict[str, Mapping[str, Any]]:
    """The jobs of a ``GET /api/jobs/`` answer that Pnyx submitted, by submission id (pure)."""
    if not isinstance(listing, list):
        raise EngineUnavailable(f"Ray listed its jobs as {type(listing).__name__}, not a list")
    return {str(job["submission_id"]): job for job in listing if is_pnyx_job(job)}


def is_pnyx_job(job: Any) -> bool:
    """Submitted by Pnyx: it has a submission id and Pnyx's metadata."""
    return (
        isinstance(job, dict)
        and bool(job.get("submission_id"))
        and isinstance(job.get("metadata"), dict)
        and "pnyx_job_id" in job["metadata"]
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
