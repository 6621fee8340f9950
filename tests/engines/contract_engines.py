"""The engines the executor contract runs against, each behind one small harness.

Real engines (local bubblewrap, Slurm, Ray) run the job's shell command and are polled; the two
in-memory ones (the fake executor, Kubernetes over its FAKE transport) run nothing, so their
harness plays the engine's part: it reports the start and the end the command would have had.
Either way the test talks to the executor only through ``pnyx.jobs.executor.Executor``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

import httpx
from kubernetes import client

from pnyx.executors.fake import FakeExecutor
from pnyx.executors.kubernetes import KubernetesConfig, KubernetesExecutor, object_name
from pnyx.executors.local import LocalExecutor
from pnyx.executors.ray import RayConfig, RayExecutor
from pnyx.executors.slurm import SlurmConfig, SlurmExecutor
from pnyx.executors.slurm_jobs import job_name
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import Artifact, EngineRef, EngineState, EngineStatus, Grant, JobSpec
from tests.engines.conftest import final, grant_for, make_spec, running_or_final, wait_for
from tests.engines.test_kubernetes_calls import FakeKubernetesTransport

RESULT = b"result\n"  # what a succeeding job leaves in its output directory, as result.txt
FAIL_CODE = 3


class Behaviour(Enum):
    SUCCEED = "succeed"
    FAIL = "fail"
    SLEEP = "sleep"


SCRIPTS = {
    Behaviour.SUCCEED: 'echo "contract ok $PNYX_JOB_ID"; '
    'if [ -n "${PNYX_OUTPUT_DIR:-}" ]; then echo result > "$PNYX_OUTPUT_DIR/result.txt"; fi',
    Behaviour.FAIL: f'echo "contract fail $PNYX_JOB_ID"; exit {FAIL_CODE}',
    Behaviour.SLEEP: 'echo "contract sleep $PNYX_JOB_ID"; sleep 300',
}


def marker(spec: JobSpec, behaviour: Behaviour) -> str:
    """The line the job prints first."""
    word = {Behaviour.SUCCEED: "ok", Behaviour.FAIL: "fail", Behaviour.SLEEP: "sleep"}[behaviour]
    return f"contract {word} {spec.job_id}"


def result_artifact() -> Artifact:
    return Artifact(path="result.txt", sha256=hashlib.sha256(RESULT).hexdigest(), size=len(RESULT))


class Engine:
    """A real engine: it runs the command; the harness only waits."""

    name = "engine"
    artifacts_readable = False  # its outputs lie on storage the control plane cannot read
    cancelled_state = EngineState.CANCELLED  # what status says once cancel stopped a running job
    timeout_s = 90.0

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.closers: list[Callable[[], None]] = []

    def spec(self, behaviour: Behaviour) -> JobSpec:
        return make_spec(("sh", "-c", SCRIPTS[behaviour]))

    def grant(self, spec: JobSpec) -> Grant:
        return grant_for(spec)

    def started(self, ref: EngineRef, spec: JobSpec, behaviour: Behaviour) -> EngineStatus:
        read = lambda: self.executor.status([ref])[0]  # noqa: E731
        return wait_for(read, running_or_final, timeout_s=self.timeout_s)

    def ended(self, ref: EngineRef, spec: JobSpec, behaviour: Behaviour) -> EngineStatus:
        read = lambda: self.executor.status([ref])[0]  # noqa: E731
        return wait_for(read, final, timeout_s=self.timeout_s)

    def runs(self, ref: EngineRef, spec: JobSpec) -> int:
        """How many engine jobs ran for the spec's key (after it ended)."""
        return self.executor.logs(ref).count(marker(spec, Behaviour.SUCCEED))

    def unknown_ref(self) -> EngineRef:
        return EngineRef(engine=self.executor.engine, engine_job_id=f"never-submitted-{uuid.uuid4().hex[:8]}")

    def reopened(self) -> Executor:
        """A fresh executor on the same engine (a dispatcher that restarted)."""
        raise NotImplementedError

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


class LocalEngine(Engine):
    name = "local"
    artifacts_readable = True
    timeout_s = 60.0

    def __init__(self, root: Path) -> None:
        self.root = root
        super().__init__(LocalExecutor(root))

    def grant(self, spec: JobSpec) -> Grant:
        return Grant(node_ids=("local-n0",), counts=(spec.accelerators_per_node,))

    def reopened(self) -> Executor:
        return LocalExecutor(self.root)


class SlurmEngine(Engine):
    name = "slurm"

    def __init__(self, config: SlurmConfig) -> None:
        self.config = config
        slurm = SlurmExecutor(config)
        super().__init__(slurm)
        self.slurm = slurm
        self.closers.append(slurm.close)

    def runs(self, ref: EngineRef, spec: JobSpec) -> int:
        return sum(j.name == job_name(spec.idempotency_key) for j in self.slurm.controller_jobs())

    def unknown_ref(self) -> EngineRef:
        return EngineRef(engine="slurm", engine_job_id="987654321")

    def reopened(self) -> Executor:
        fresh = SlurmExecutor(self.config)
        self.closers.append(fresh.close)
        return fresh


class RayEngine(Engine):
    name = "ray"

    def __init__(self, config: RayConfig) -> None:
        self.config = config
        ray = RayExecutor(config)
        super().__init__(ray)
        self.closers.append(ray.close)

    def runs(self, ref: EngineRef, spec: JobSpec) -> int:
        listing = httpx.get(f"{self.config.base_url}/api/jobs/", timeout=30).json()
        return sum(job.get("submission_id") == spec.idempotency_key for job in listing)

    def reopened(self) -> Executor:
        fresh = RayExecutor(self.config)
        self.closers.append(fresh.close)
        return fresh


class FakeEngine(Engine):
    """The in-memory fake: the harness says how each job ended."""

    name = "fake"
    artifacts_readable = True
    timeout_s = 0.0

    def __init__(self) -> None:
        self.fake = FakeExecutor()
        super().__init__(self.fake)

    def started(self, ref: EngineRef, spec: JobSpec, behaviour: Behaviour) -> EngineStatus:
        return self.fake.status([ref])[0]  # RUNNING from submission on

    def ended(self, ref: EngineRef, spec: JobSpec, behaviour: Behaviour) -> EngineStatus:
        if behaviour is Behaviour.SUCCEED:
            self.fake.finish(
                spec.idempotency_key, output=marker(spec, behaviour) + "\n", artifacts=[result_artifact()]
            )
        elif behaviour is Behaviour.FAIL:
            self.fake.finish(
                spec.idempotency_key, EngineState.FAILED, exit_code=FAIL_CODE, output=marker(spec, behaviour)
            )
        return self.fake.status([ref])[0]

    def runs(self, ref: EngineRef, spec: JobSpec) -> int:
        return sum(key == spec.idempotency_key for key in self.fake.submitted)

    def reopened(self) -> Executor:
        return self.fake  # its memory is the engine


class KubernetesEngine(Engine):
    """Kubernetes through the official client over the FAKE transport: the harness plays the Job
    controller (admission, pod start, completion, the pod's exit code and log)."""

    name = "kubernetes-fake-transport"
    cancelled_state = EngineState.UNKNOWN  # cancel deletes the object: the cluster forgets it
    timeout_s = 0.0

    def __init__(self) -> None:
        self.transport = FakeKubernetesTransport()
        self.api = client.ApiClient(client.Configuration(host="https://fake-apiserver.invalid"))
        self.api.rest_client.pool_manager = self.transport  # type: ignore[assignment]
        super().__init__(KubernetesExecutor(KubernetesConfig(namespace="research"), self.api))
        self.closers.append(self.api.close)

    def spec(self, behaviour: Behaviour) -> JobSpec:
        return dataclasses.replace(super().spec(behaviour), image="busybox:1.36")

    def started(self, ref: EngineRef, spec: JobSpec, behaviour: Behaviour) -> EngineStatus:
        job = self.transport.objects[("jobs", object_name(spec.idempotency_key))]
        job["spec"]["suspend"] = False  # Kueue admits it
        job["status"] = {"active": 1, "startTime": _now()}
        return self.executor.status([ref])[0]

    def ended(self, ref: EngineRef, spec: JobSpec, behaviour: Behaviour) -> EngineStatus:
        self.started(ref, spec, behaviour)
        name = object_name(spec.idempotency_key)
        job = self.transport.objects[("jobs", name)]
        pod = f"{name}-x7k2p"
        self.transport.pod_logs[pod] = marker(spec, behaviour) + "\n"
        if behaviour is Behaviour.SUCCEED:
            self.transport.pod_exit_codes[pod] = 0
            job["status"] |= {"active": 0, "completionTime": _now(), "conditions": [_true("Complete")]}
        elif behaviour is Behaviour.FAIL:
            self.transport.pod_exit_codes[pod] = FAIL_CODE
            job["status"] |= {"active": 0, "conditions": [_true("Failed", reason="BackoffLimitExceeded")]}
        return self.executor.status([ref])[0]

    def runs(self, ref: EngineRef, spec: JobSpec) -> int:
        return sum(name == object_name(spec.idempotency_key) for _, name in self.transport.objects)

    def unknown_ref(self) -> EngineRef:
        return EngineRef(engine="kubernetes", engine_job_id=f"job/{object_name('never-submitted')}")

    def reopened(self) -> Executor:
        return KubernetesExecutor(KubernetesConfig(namespace="research"), self.api)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _true(kind: str, reason: str = "") -> dict[str, str]:
    return {"type": kind, "status": "True", "reason": reason, "lastTransitionTime": _now()}
