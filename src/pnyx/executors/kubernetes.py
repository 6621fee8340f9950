"""Kubernetes executor: a job becomes a suspended ``batch/v1`` Job (one node) or a JobSet (a gang of
several nodes), labelled for Kueue, which admits it by un-suspending it when its queue has quota.

Manifests are built with the official client's models (the JobSet's pod template too; the JobSet
envelope is a custom resource the client has no model for). The object name derives from the
idempotency key (``pnyx-<sha256 prefix>``), so a second create of the same key is refused by the
API server with 409 and ``find`` is one read. Cancelling deletes the object (pods go with it):
afterwards the engine reports UNKNOWN, and the platform's own record says why; a job that already
ended is left alone (its record and logs stay). A failed job's exit code is its ``main``
container's, read from its pods (none when they are gone). Needs the extra ``kubernetes``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import BaseModel

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

ENGINE = "kubernetes"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
KEY_ANNOTATION = "pnyx.eu/idempotency-key"
JOBSET_GROUP, JOBSET_VERSION, JOBSET_PLURAL = "jobset.x-k8s.io", "v1alpha2", "jobsets"
POD_SELECTORS = {"job": "batch.kubernetes.io/job-name", "jobset": "jobset.sigs.k8s.io/jobset-name"}
_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]")

DEFAULT_QUEUES: Mapping[SafetyLevel, str] = {
    SafetyLevel.L1: "open",
    SafetyLevel.L2: "secure",
    SafetyLevel.L3: "secure",
    SafetyLevel.L4: "secure",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesConfig:
    namespace: str = "pnyx"
    queues: Mapping[SafetyLevel, str] = field(
        default_factory=lambda: dict(DEFAULT_QUEUES)
    )  # Kueue LocalQueues
    priority_class: str | None = None  # the pods' PriorityClass (preemption by kube-scheduler)
    workload_priority_class: str | None = None  # Kueue's WorkloadPriorityClass (admission order)
    accelerator_resource: str = "nvidia.com/gpu"
    product_label: str = "nvidia.com/gpu.product"  # node label that names the accelerator model
    products: Mapping[str, str] = field(default_factory=dict)  # accelerator type -> product label value
    default_image: str | None = None  # for command-only jobs; None: they are refused

    def queue_for(self, level: SafetyLevel) -> str:
        queue = self.queues.get(level)
        if queue is None:
            raise EngineRejected(f"no Kueue queue is configured for safety level {level.name}")
        return queue


def object_name(idempotency_key: str) -> str:
    """A DNS-1123 label, stable per key (keys may be longer or use other characters)."""
    return "pnyx-" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


def _label_value(text: str) -> str:
    cleaned = _LABEL_VALUE.sub("-", text)[:63].strip("-_.")
    return cleaned or "x"


def _metadata(spec: JobSpec, config: KubernetesConfig, *, queue_label: bool) -> client.V1ObjectMeta:
    labels = {"app.kubernetes.io/managed-by": "pnyx", "pnyx.eu/job-id": _label_value(spec.job_id)}
    if queue_label:
        labels[QUEUE_LABEL] = config.queue_for(spec.safety_level)
        if config.workload_priority_class:
            labels[PRIORITY_LABEL] = config.workload_priority_class
    return client.V1ObjectMeta(
        name=object_name(spec.idempotency_key),
        namespace=config.namespace,
        labels=labels,
        annotations={
            KEY_ANNOTATION: spec.idempotency_key,
            "pnyx.eu/job-id": spec.job_id,
            "pnyx.eu/project": spec.project,
            "pnyx.eu/safety-level": spec.safety_level.name,
        },
    )


def _pod_template(spec: JobSpec, grant: Grant, config: KubernetesConfig) -> client.V1PodTemplateSpec:
    refuse_sealed(spec, "Kubernetes")
    image = spec.image or config.default_image
    if image is None:
        raise EngineRejected("the Kubernetes executor needs a container image", field="image")
    env = {
        **spec.env,
        "PNYX_JOB_ID": spec.job_id,
        "PNYX_IDEMPOTENCY_KEY": spec.idempotency_key,
        "PNYX_GANG_NODES": str(spec.nodes),
        "PNYX_ACCELERATORS_PER_NODE": str(spec.accelerators_per_node),
        "PNYX_GRANT_NODES": ",".join(grant.node_ids),
    }
    resources = None
    if spec.accelerators_per_node > 0:
        amount = {config.accelerator_resource: str(spec.accelerators_per_node)}
        resources = client.V1ResourceRequirements(limits=amount, requests=amount)
    product = config.products.get(spec.accelerator_type)
    return client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app.kubernetes.io/managed-by": "pnyx"}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            priority_class_name=config.priority_class,
            node_selector={config.product_label: product} if product else None,
            containers=[
                client.V1Container(
                    name="main",
                    image=image,
                    command=list(spec.command) or None,
                    env=[client.V1EnvVar(name=k, value=v) for k, v in sorted(env.items())],
                    resources=resources,
                )
            ],
        ),
    )


def _job_spec(
    spec: JobSpec, grant: Grant, config: KubernetesConfig, *, suspend: bool | None
) -> client.V1JobSpec:
    indexed = spec.nodes > 1
    return client.V1JobSpec(
        suspend=suspend,
        backoff_limit=0,
        active_deadline_seconds=spec.time_limit_s,
        parallelism=spec.nodes if indexed else None,
        completions=spec.nodes if indexed else None,
        completion_mode="Indexed" if indexed else None,
        template=_pod_template(spec, grant, config),
    )


def build_job(spec: JobSpec, grant: Grant, config: KubernetesConfig) -> client.V1Job:
    """A suspended Job for Kueue (one node)."""
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=_metadata(spec, config, queue_label=True),
        spec=_job_spec(spec, grant, config, suspend=True),
    )


def build_jobset(spec: JobSpec, grant: Grant, config: KubernetesConfig) -> dict[str, Any]:
    """A suspended JobSet for Kueue: one indexed Job of ``nodes`` pods, one per node."""
    template = client.V1JobTemplateSpec(
        metadata=client.V1ObjectMeta(labels={"app.kubernetes.io/managed-by": "pnyx"}),
        spec=_job_spec(spec, grant, config, suspend=None),
    )
    return {
        "apiVersion": f"{JOBSET_GROUP}/{JOBSET_VERSION}",
        "kind": "JobSet",
        "metadata": serialize(_metadata(spec, config, queue_label=True)),
        "spec": {
            "suspend": True,
            "failurePolicy": {"maxRestarts": 0},
            "network": {"enableDNSHostnames": True},
            "replicatedJobs": [{"name": "node", "replicas": 1, "template": serialize(template)}],
        },
    }


def build_manifest(spec: JobSpec, grant: Grant, config: KubernetesConfig) -> dict[str, Any]:
    """The manifest the executor creates, as JSON-ready data (camelCase, as the API server reads it)."""
    if spec.nodes > 1:
        return build_jobset(spec, grant, config)
    return serialize(build_job(spec, grant, config))


def serialize(model: BaseModel) -> dict[str, Any]:
    """A client model as the API server reads it: camelCase, without unset fields."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


def job_status(ref: EngineRef, job: Mapping[str, Any]) -> EngineStatus:
    """State of a ``batch/v1`` Job (camelCase data)."""
    status = job.get("status") or {}
    conditions = _true_conditions(status)
    started = _time(status.get("startTime"))
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        done = conditions.get("Complete") or conditions["SuccessCriteriaMet"]
        ended = _time(status.get("completionTime")) or _time(done.get("lastTransitionTime"))
        return EngineStatus(
            ref=ref, state=EngineState.SUCCEEDED, exit_code=0, started_at=started, ended_at=ended
        )
    if "Failed" in conditions or "FailureTarget" in conditions:
        failed = conditions.get("Failed") or conditions["FailureTarget"]
        return EngineStatus(
            ref=ref,
            state=EngineState.FAILED,
            started_at=started,
            ended_at=_time(failed.get("lastTransitionTime")),
            message=f"{failed.get('reason', '')}: {failed.get('message', '')}".strip(": "),
        )
    if (job.get("spec") or {}).get("suspend") or "Suspended" in conditions:
        return EngineStatus(
            ref=ref, state=EngineState.QUEUED, message="suspended: waiting for Kueue admission"
        )
    if int(status.get("active") or 0) > 0:
        return EngineStatus(ref=ref, state=EngineState.RUNNING, started_at=started)
    return EngineStatus(ref=ref, state=EngineState.QUEUED, message="admitted; pods not yet active")


def jobset_status(ref: EngineRef, jobset: Mapping[str, Any]) -> EngineStatus:
    """State of a JobSet (camelCase data)."""
    status = jobset.get("status") or {}
    conditions = _true_conditions(status)
    if "Completed" in conditions:
        when = _time(conditions["Completed"].get("lastTransitionTime"))
        return EngineStatus(ref=ref, state=EngineState.SUCCEEDED, exit_code=0, ended_at=when)
    if "Failed" in conditions:
        failed = conditions["Failed"]
        return EngineStatus(
            ref=ref,
            state=EngineState.FAILED,
            ended_at=_time(failed.get("lastTransitionTime")),
            message=str(failed.get("message") or failed.get("reason") or ""),
        )
    if (jobset.get("spec") or {}).get("suspend") or "Suspended" in conditions:
        return EngineStatus(
            ref=ref, state=EngineState.QUEUED, message="suspended: waiting for Kueue admission"
        )
    active = sum(int(r.get("active") or 0) for r in status.get("replicatedJobsStatus") or [])
    if active > 0:
        return EngineStatus(ref=ref, state=EngineState.RUNNING)
    return EngineStatus(ref=ref, state=EngineState.QUEUED, message="admitted; jobs not yet active")


def exit_code_of(pods: Sequence[Any]) -> int | None:
    """The first non-zero exit code of a ``main`` container that terminated, else the last zero."""
    codes = [
        c.state.terminated.exit_code
        for pod in pods
        for c in (pod.status.container_statuses or [] if pod.status else [])
        if c.name == "main" and c.state is not None and c.state.terminated is not None
    ]
    return next((code for code in codes if code != 0), codes[-1] if codes else None)


def _true_conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or [] if str(c.get("status")) == "True"}


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


class KubernetesExecutor:
    """The ``dispatch.Executor`` for Kubernetes + Kueue (+ JobSet for gangs of several nodes)."""

    engine = ENGINE

    def __init__(self, config: KubernetesConfig, api_client: client.ApiClient) -> None:
        self.config = config
        self._api = api_client
        self._batch = client.BatchV1Api(api_client)
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._jobsets = (JOBSET_GROUP, JOBSET_VERSION, config.namespace, JOBSET_PLURAL)

    def submit(self, spec: JobSpec, grant: Grant) -> EngineRef:
        name = object_name(spec.idempotency_key)
        is_jobset = spec.nodes > 1
        ref = EngineRef(engine=ENGINE, engine_job_id=f"{'jobset' if is_jobset else 'job'}/{name}")
        try:
            if is_jobset:
                self._custom.create_namespaced_custom_object(
                    *self._jobsets, build_jobset(spec, grant, self.config)
                )
            else:
                self._batch.create_namespaced_job(self.config.namespace, build_job(spec, grant, self.config))
        except ApiException as exc:
            if exc.status == 409:  # AlreadyExists: the same key was submitted before
                return ref
            if exc.status in {400, 422}:
                raise EngineRejected(f"Kubernetes refused {ref.engine_job_id}: {exc.reason}") from exc
            raise EngineUnavailable(f"Kubernetes answered {exc.status} creating {ref.engine_job_id}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise EngineUnavailable(f"Kubernetes API unreachable: {exc}") from exc
        return ref

    def find(self, idempotency_key: str) -> EngineRef | None:
        name = object_name(idempotency_key)
        for kind in ("job", "jobset"):
            ref = EngineRef(engine=ENGINE, engine_job_id=f"{kind}/{name}")
            annotations = ((self._read(ref) or {}).get("metadata") or {}).get("annotations") or {}
            if annotations.get(KEY_ANNOTATION) == idempotency_key:
                return ref
        return None

    def status(self, refs: Sequence[EngineRef]) -> list[EngineStatus]:
        return [self._status(ref) for ref in refs]

    def _status(self, ref: EngineRef) -> EngineStatus:
        found = self._read(ref)
        if found is None:
            return EngineStatus(ref=ref, state=EngineState.UNKNOWN, message="not in the cluster")
        kind, name = _split(ref)
        status = jobset_status(ref, found) if kind == "jobset" else job_status(ref, found)
        if status.state is EngineState.FAILED and status.exit_code is None:
            return replace(status, exit_code=exit_code_of(self._pods(kind, name)))
        return status

    def cancel(self, ref: EngineRef) -> None:
        """Delete the job's object; a no-op for one that is gone or already ended."""
        if self._status(ref).state in {EngineState.UNKNOWN, *FINAL_ENGINE_STATES}:
            return
        kind, name = _split(ref)
        delete = (
            partial(self._custom.delete_namespaced_custom_object, *self._jobsets, name)
            if kind == "jobset"
            else partial(self._batch.delete_namespaced_job, name, self.config.namespace)
        )
        self._call(f"deleting {ref.engine_job_id}", partial(delete, propagation_policy="Foreground"))

    def artifacts(self, ref: EngineRef) -> list[Artifact]:
        """Outputs stay on the Kubernetes side's storage. Collecting and hashing them needs storage the
        control plane can read, which this executor does not have yet: it reports none."""
        return []

    def logs(self, ref: EngineRef, tail_lines: int = 200) -> str:
        kind, name = _split(ref)
        names = sorted(p.metadata.name for p in self._pods(kind, name) if p.metadata and p.metadata.name)
        read = partial(
            self._core.read_namespaced_pod_log, namespace=self.config.namespace, tail_lines=tail_lines
        )
        parts = []
        for pod_name in names:
            text = self._call(f"reading logs of {pod_name}", partial(read, pod_name))
            parts.append(f"==> {pod_name} <==\n{text}" if len(names) > 1 else str(text or ""))
        return "\n".join(parts)

    def _pods(self, kind: str, name: str) -> list[Any]:
        """The job's pods (``V1Pod``), oldest name first; none once the object is gone."""
        selector = f"{POD_SELECTORS[kind]}={name}"
        list_pods = partial(self._core.list_namespaced_pod, self.config.namespace, label_selector=selector)
        pods = self._call(f"listing the pods of {name}", list_pods)
        return list(pods.items or []) if pods is not None else []

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """A read of the API server; None for 404."""
        try:
            return call()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise EngineUnavailable(f"Kubernetes answered {exc.status} {what}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise EngineUnavailable(f"Kubernetes API unreachable: {exc}") from exc

    def _read(self, ref: EngineRef) -> dict[str, Any] | None:
        kind, name = _split(ref)
        what = f"reading {ref.engine_job_id}"
        if kind == "jobset":
            found: Any = self._call(
                what, partial(self._custom.get_namespaced_custom_object, *self._jobsets, name)
            )
        else:
            job = self._call(what, partial(self._batch.read_namespaced_job, name, self.config.namespace))
            found = None if job is None else serialize(job)
        if found is not None and not isinstance(found, dict):
            raise EngineUnavailable(f"Kubernetes answered {ref.engine_job_id} with {type(found).__name__}")
        return found


def _split(ref: EngineRef) -> tuple[str, str]:
    kind, _, name = ref.engine_job_id.partition("/")
    if kind not in {"job", "jobset"} or not name:
        raise EngineRejected(f"not a Kubernetes job ref: {ref.engine_job_id!r}")
    return kind, name
