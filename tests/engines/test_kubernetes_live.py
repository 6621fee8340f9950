"""The Kubernetes executor against a live cluster: runs only when KUBECONFIG is set (never in this
project's CI, which has no cluster). PNYX_TEST_K8S_NAMESPACE picks the namespace (default
"default"). Without Kueue installed the suspended Job is never admitted, so this suite checks
create -> QUEUED -> find -> cancel -> UNKNOWN, which holds with or without Kueue."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from pnyx.executors.kubernetes import KubernetesConfig, KubernetesExecutor
from pnyx.jobs.model import EngineState
from tests.engines.test_kubernetes_manifests import grant, spec

pytestmark = [
    pytest.mark.engines,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="no KUBECONFIG: no live Kubernetes cluster"),
]


@pytest.fixture
def live() -> Iterator[KubernetesExecutor]:
    from kubernetes import config

    api = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])  # type: ignore[no-untyped-call]
    namespace = os.environ.get("PNYX_TEST_K8S_NAMESPACE", "default")
    yield KubernetesExecutor(KubernetesConfig(namespace=namespace), api)
    api.close()


def test_a_suspended_job_is_created_found_and_deleted(live: KubernetesExecutor) -> None:
    job = spec(per_node=0, image="busybox:1.36", command=("true",), idempotency_key=f"live-{time.time_ns()}")

    ref = live.submit(job, grant(job))
    try:
        assert live.submit(job, grant(job)) == ref
        assert live.find(job.idempotency_key) == ref
        assert live.status([ref])[0].state in {EngineState.QUEUED, EngineState.RUNNING, EngineState.SUCCEEDED}
    finally:
        live.cancel(ref)
    deadline = time.monotonic() + 60
    while live.status([ref])[0].state is not EngineState.UNKNOWN:
        assert time.monotonic() < deadline, "the Job was not deleted within 60 s"
        time.sleep(1)
