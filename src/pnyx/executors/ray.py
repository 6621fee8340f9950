"""Ray executor: drives the Ray Jobs REST API of a cluster's dashboard; the control plane never
imports Ray.

The idempotency key is the Ray ``submission_id``: a second submission of the key is refused by Ray,
and ``find`` is one ``GET /api/jobs/<key>``. The driver reserves the gang's accelerators as a
custom resource (``entrypoint_resources``), so Ray never runs it on fewer than granted. Ray does
not refuse what it cannot place: a request for more than the cluster has stays PENDING for ever,
so the platform admits first (the scheduler's grant) and this executor passes only granted sizes.
A gang of several nodes reserves one node's share for the driver and tells the entrypoint the gang
shape (``PNYX_GANG_NODES``, ``PNYX_ACCELERATORS_PER_NODE``) for its own placement group.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from pnyx.inventory.model import SafetyLevel
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

ENGINE = "ray"

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


def build_submission(spec: JobSpec, grant: Grant, config: RayConfig) -> dict[str, Any]:
    """The Jobs API body for a platform job (pure: no network)."""
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
        "entrypoint": shlex.join(spec.command),
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
    """The ``dispatch.Executor`` for Ray, over the Jobs REST API."""

    engine = ENGINE

    def __init__(self, config: RayConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._http = httpx.Client(base_url=config.base_url, timeout=config.timeout_s, transport=transport)

    def close(self) -> None:
        self._http.close()

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        body = build_submission(spec, grant, self.config)
        existing = self.find(spec.idempotency_key)
        if existing is not None:
            return existing
        response = self._request("POST", "/api/jobs/", json=body)
        if response.status_code == 200:
            return EngineRef(engine=ENGINE, engine_job_id=str(response.json()["submission_id"]))
        if "already exists" in response.text:  # a submission of the same key raced ours
            return EngineRef(engine=ENGINE, engine_job_id=spec.idempotency_key)
        if response.status_code == 400:
            raise EngineRejected(f"Ray refused the job: {_last_line(response.text)}")
        raise EngineUnavailable(f"Ray answered {response.status_code}: {_last_line(response.text)}")

    def find(self, idempotency_key: str) -> EngineRef | None:
        raw = self._job(idempotency_key)
        if raw is None:
            return None
        return EngineRef(engine=ENGINE, engine_job_id=str(raw["submission_id"]))

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        statuses: list[EngineStatus] = []
        for ref in refs:
            raw = self._job(ref.engine_job_id)
            if raw is None:
                statuses.append(
                    EngineStatus(ref=ref, state=EngineState.UNKNOWN, message="Ray does not know it")
                )
            else:
                statuses.append(parse_status(ref, raw))
        return statuses

    def cancel(self, ref: EngineRef) -> None:
        response = self._request("POST", f"/api/jobs/{quote(ref.engine_job_id, safe='')}/stop")
        if response.status_code not in {200, 404}:
            raise EngineUnavailable(f"Ray did not stop {ref.engine_job_id}: {response.status_code}")

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        """Outputs stay on the Ray side's storage. Collecting and hashing them needs storage the
        control plane can read, which this executor does not have yet: it reports none."""
        return []

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        response = self._request("GET", f"/api/jobs/{quote(ref.engine_job_id, safe='')}/logs")
        if response.status_code == 404:
            return ""
        if response.status_code != 200:
            raise EngineUnavailable(f"Ray did not return logs of {ref.engine_job_id}: {response.status_code}")
        lines = str(response.json().get("logs") or "").splitlines()
        return "\n".join(lines[-tail_lines:]) if tail_lines > 0 else ""

    def _job(self, submission_id: str) -> dict[str, Any] | None:
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


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
