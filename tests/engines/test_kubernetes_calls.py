"""The Kubernetes executor's call sequence (create, get status, delete, logs) through the official
client, against a FAKE transport: an in-memory stand-in for the API server that every response
marks as fake (``X-Pnyx-Transport: FAKE``). No cluster is involved here; see
test_kubernetes_live.py for the suite that needs one (KUBECONFIG)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes import client

from pnyx.executors.kubernetes import KubernetesConfig, KubernetesExecutor, object_name
from pnyx.jobs.executor import Executor
from pnyx.jobs.model import EngineState
from tests.engines.test_kubernetes_manifests import grant, spec

FAKE_HEADER = {
    "X-Pnyx-Transport": "FAKE in-memory Kubernetes API, no cluster",
    "Content-Type": "application/json",
}
COLLECTION = re.compile(
    r"^/apis?/(?P<api>.+)/namespaces/(?P<ns>[^/]+)/(?P<plural>jobs|jobsets|pods)(?:/(?P<name>[^/]+))?(?P<log>/log)?$"
)


@dataclass
class FakeResponse:
    status: int
    data: bytes
    reason: str = "fake"
    headers: dict[str, str] = field(default_factory=lambda: dict(FAKE_HEADER))

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def release_conn(self) -> None:
        pass


@dataclass
class FakeKubernetesTransport:
    """Says it is fake: ``is_fake``, ``repr`` and a header on every response."""

    is_fake: bool = True
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (plural, name) -> object
    pod_logs: dict[str, str] = field(default_factory=dict)  # pod name -> its log (the pods that exist)
    pod_exit_codes: dict[str, int] = field(default_factory=dict)  # pod name -> its main container's
    calls: list[tuple[str, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        return "FakeKubernetesTransport(FAKE: no API server, no cluster)"

    def request(self, method: str, url: str, body: str | None = None, **_: Any) -> FakeResponse:
        parts = urlsplit(url)
        match = COLLECTION.match(parts.path)
        assert match, f"the fake does not serve {method} {parts.path}"
        plural, name = match["plural"], match["name"]
        self.calls.append((method, f"{plural}/{name}" if name else plural))
        if plural == "pods":
            return self._pods(name, parse_qs(parts.query), log=bool(match["log"]))
        key = (plural, name or "")
        if method == "POST":
            obj = json.loads(body or "{}")
            key = (plural, obj["metadata"]["name"])
            if key in self.objects:
                return _status(409, "AlreadyExists")
            self.objects[key] = obj
            return FakeResponse(201, json.dumps(obj).encode())
        if key not in self.objects:
            return _status(404, "NotFound")
        if method == "DELETE":
            del self.objects[key]
            return _status(200, "Success")
        return FakeResponse(200, json.dumps(self.objects[key]).encode())

    def _pods(self, name: str | None, query: dict[str, list[str]], *, log: bool) -> FakeResponse:
        if log:
            lines = self.pod_logs[name or ""].splitlines(keepends=True)
            tail = int(query.get("tailLines", [len(lines)])[0])
            text = "".join(lines[len(lines) - tail :] if tail > 0 else [])
            return FakeResponse(200, text.encode(), headers={**FAKE_HEADER, "Content-Type": "text/plain"})
        selector = query.get("labelSelector", [""])[0]
        job = selector.split("=", 1)[1]
        items = [self._pod(pod) for pod in sorted(self.pod_logs) if pod.startswith(job)]
        return FakeResponse(200, json.dumps({"apiVersion": "v1", "kind": "PodList", "items": items}).encode())

    def _pod(self, name: str) -> dict[str, Any]:
        if name not in self.pod_exit_codes:
            return {"metadata": {"name": name}}
        terminated = {"exitCode": self.pod_exit_codes[name], "reason": "Error"}
        statuses = [
            {
                "name": "main",
                "image": "x",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
        ]
        return {"metadata": {"name": name}, "status": {"containerStatuses": statuses}}

    def clear(self) -> None:
        pass


def _status(code: int, reason: str) -> FakeResponse:
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code}
    return FakeResponse(code, json.dumps(status).encode(), reason=reason)


@pytest.fixture
def fake() -> FakeKubernetesTransport:
    return FakeKubernetesTransport()


@pytest.fixture
def kube(fake: FakeKubernetesTransport) -> Iterator[KubernetesExecutor]:
    configuration = client.Configuration(host="https://fake-apiserver.invalid")
    api = client.ApiClient(configuration)
    api.rest_client.pool_manager = fake  # type: ignore[assignment]
    yield KubernetesExecutor(KubernetesConfig(namespace="research"), api)
    api.close()  # type: ignore[no-untyped-call]


def test_the_transport_says_it_is_fake(fake: FakeKubernetesTransport) -> None:
    assert fake.is_fake
    assert "FAKE" in repr(fake)
    assert (
        "FAKE"
        in fake.request("GET", "https://x/apis/batch/v1/namespaces/n/jobs/none").headers["X-Pnyx-Transport"]
    )


def test_it_is_an_executor(kube: KubernetesExecutor) -> None:
    executor: Executor = kube
    assert executor.engine == "kubernetes"


def test_create_get_status_delete(kube: KubernetesExecutor, fake: FakeKubernetesTransport) -> None:
    job = spec()
    name = object_name(job.idempotency_key)

    ref = kube.submit(job, grant(job))
    queued = kube.status([ref])[0]
    fake.objects[("jobs", name)]["spec"]["suspend"] = False  # Kueue admits it
    fake.objects[("jobs", name)]["status"] = {"active": 1, "startTime": "2026-11-25T09:00:00Z"}
    running = kube.status([ref])[0]
    fake.objects[("jobs", name)]["status"] = {
        "startTime": "2026-11-25T09:00:00Z",
        "completionTime": "2026-11-25T10:00:00Z",
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    done = kube.status([ref])[0]
    kube.cancel(ref)  # it ended: left alone, record and logs stay
    kept = kube.status([ref])[0]

    assert ref.engine_job_id == f"job/{name}"
    assert [queued.state, running.state, done.state, kept.state] == [
        EngineState.QUEUED,
        EngineState.RUNNING,
        EngineState.SUCCEEDED,
        EngineState.SUCCEEDED,
    ]
    assert done.ended_at is not None
    assert fake.calls == [("POST", "jobs")] + [("GET", f"jobs/{name}")] * 5


def test_cancel_deletes_a_running_job_and_is_a_no_op_after(
    kube: KubernetesExecutor, fake: FakeKubernetesTransport
) -> None:
    job = spec()
    name = object_name(job.idempotency_key)
    ref = kube.submit(job, grant(job))

    kube.cancel(ref)
    gone = kube.status([ref])[0]
    kube.cancel(ref)  # 404: a no-op

    assert gone.state is EngineState.UNKNOWN
    assert fake.calls == [
        ("POST", "jobs"),
        ("GET", f"jobs/{name}"),
        ("DELETE", f"jobs/{name}"),
        ("GET", f"jobs/{name}"),
        ("GET", f"jobs/{name}"),
    ]


def test_submit_twice_creates_once_and_find_reconciles(
    kube: KubernetesExecutor, fake: FakeKubernetesTransport
) -> None:
    job = spec()

    first = kube.submit(job, grant(job))
    second = kube.submit(job, grant(job))  # the API server answers 409 AlreadyExists

    assert second == first
    assert len(fake.objects) == 1
    assert kube.find(job.idempotency_key) == first
    assert kube.find("never-submitted") is None


def test_a_gang_becomes_a_jobset_and_its_failure_is_reported(
    kube: KubernetesExecutor, fake: FakeKubernetesTransport
) -> None:
    job = spec(nodes=2)
    name = object_name(job.idempotency_key)

    ref = kube.submit(job, grant(job))
    fake.objects[("jobsets", name)]["status"] = {
        "conditions": [{"type": "Failed", "status": "True", "message": "pod n1 OOMKilled"}]
    }

    fake.pod_logs |= {f"{name}-node-0-0-a": "", f"{name}-node-0-1-b": ""}
    fake.pod_exit_codes |= {f"{name}-node-0-0-a": 0, f"{name}-node-0-1-b": 137}

    assert ref.engine_job_id == f"jobset/{name}"
    assert fake.calls[0] == ("POST", "jobsets")
    status = kube.status([ref])[0]
    assert status.state is EngineState.FAILED
    assert status.exit_code == 137  # the failing pod's, not the other's 0
    assert "OOMKilled" in status.message


def test_logs_come_from_the_jobs_pods(kube: KubernetesExecutor, fake: FakeKubernetesTransport) -> None:
    job = spec()
    ref = kube.submit(job, grant(job))
    fake.pod_logs[f"{object_name(job.idempotency_key)}-abcde"] = "step 1 loss 2.0\nstep 2 loss 1.5\n"

    assert "step 2 loss 1.5" in kube.logs(ref)
