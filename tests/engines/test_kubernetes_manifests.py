"""Kubernetes manifests, validated offline against the bundled Kubernetes schemas with
``kubernetes-validate --strict`` (library and CLI). No cluster is involved here.

JobSet is a custom resource, for which kubernetes-validate bundles no schema: its Job template is
validated strictly as a ``batch/v1`` Job, and its envelope is checked field by field below."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from pnyx.executors.kubernetes import (
    PRIORITY_LABEL,
    QUEUE_LABEL,
    KubernetesConfig,
    build_job,
    build_jobset,
    build_manifest,
    object_name,
    serialize,
)
from pnyx.jobs.model import EngineRejected, Grant, JobSpec
from pnyx.safety.model import SafetyLevel

K8S_VERSION = "1.31"
CONFIG = KubernetesConfig(
    namespace="research",
    priority_class="pnyx-batch",
    workload_priority_class="pnyx-normal",
    products={"H100": "NVIDIA-H100-80GB-HBM3"},
)


def spec(*, nodes: int = 1, per_node: int = 8, level: SafetyLevel = SafetyLevel.L1, **extra: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "job_id": "job-0001",
        "idempotency_key": "job-0001/attempt-1",
        "name": "pretrain 7B",
        "project": "prj-open-llm",
        "user": "alice",
        "accelerator_type": "H100",
        "accelerators": nodes * per_node,
        "nodes": nodes,
        "accelerators_per_node": per_node,
        "safety_level": level,
        "time_limit_s": 3600,
        "command": ("torchrun", "train.py"),
        "image": "registry.example/pnyx/train:1.0",
        "env": {"EPOCHS": "1"},
    }
    fields.update(extra)
    return JobSpec(**fields)


def grant(job: JobSpec) -> Grant:
    return Grant(
        node_ids=tuple(f"n{i}" for i in range(job.nodes)), counts=(job.accelerators_per_node,) * job.nodes
    )


def as_job(template: dict[str, Any]) -> dict[str, Any]:
    """A JobSet's Job template as a standalone Job, for the batch/v1 schema."""
    metadata = {"name": "template", **template.get("metadata", {})}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]}


def strict(manifest: dict[str, Any]) -> str:
    return str(kubernetes_validate.validate(manifest, K8S_VERSION, strict=True))


def test_single_node_job_is_suspended_queued_and_valid() -> None:
    job = spec()
    manifest = build_manifest(job, grant(job), CONFIG)

    assert strict(manifest) == K8S_VERSION
    assert manifest["kind"] == "Job"
    assert manifest["spec"]["suspend"] is True
    assert manifest["metadata"]["name"] == object_name(job.idempotency_key)
    assert manifest["metadata"]["labels"][QUEUE_LABEL] == "open"
    assert manifest["metadata"]["labels"][PRIORITY_LABEL] == "pnyx-normal"
    assert manifest["metadata"]["annotations"]["pnyx.eu/idempotency-key"] == job.idempotency_key
    pod = manifest["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "pnyx-batch"
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    (container,) = pod["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    assert container["command"] == ["torchrun", "train.py"]
    assert manifest["spec"]["activeDeadlineSeconds"] == 3600


def test_safety_level_picks_the_kueue_queue() -> None:
    job = spec(level=SafetyLevel.L3)
    assert build_manifest(job, grant(job), CONFIG)["metadata"]["labels"][QUEUE_LABEL] == "secure"


def test_a_multi_node_gang_is_a_suspended_jobset_whose_job_template_is_valid() -> None:
    job = spec(nodes=4)
    manifest = build_jobset(job, grant(job), CONFIG)

    assert manifest["apiVersion"] == "jobset.x-k8s.io/v1alpha2"
    assert manifest["kind"] == "JobSet"
    assert manifest["spec"]["suspend"] is True
    assert manifest["metadata"]["labels"][QUEUE_LABEL] == "open"
    assert set(manifest["spec"]) == {"suspend", "failurePolicy", "network", "replicatedJobs"}
    (replicated,) = manifest["spec"]["replicatedJobs"]
    assert set(replicated) == {"name", "replicas", "template"}
    template = replicated["template"]
    assert strict(as_job(template)) == K8S_VERSION
    assert template["spec"]["parallelism"] == template["spec"]["completions"] == 4
    assert template["spec"]["completionMode"] == "Indexed"
    assert "suspend" not in template["spec"]  # JobSet suspends its Jobs itself


def test_strict_validation_catches_a_wrong_field() -> None:
    job = spec()
    manifest = build_manifest(job, grant(job), CONFIG)
    manifest["spec"]["template"]["spec"]["containers"][0]["gpus"] = 8

    with pytest.raises(kubernetes_validate.ValidationError):
        strict(manifest)


def test_the_cli_validates_the_job_strictly(tmp_path: Path) -> None:
    job = spec()
    single = tmp_path / "job.json"
    single.write_text(json.dumps(serialize(build_job(job, grant(job), CONFIG))))
    gang = spec(nodes=2)
    template = build_jobset(gang, grant(gang), CONFIG)["spec"]["replicatedJobs"][0]["template"]
    inner = tmp_path / "jobset-template.json"
    inner.write_text(json.dumps(as_job(template)))

    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION, str(single), str(inner)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == 2


def test_names_are_dns_labels_stable_per_key() -> None:
    name = object_name("a/very:long key " * 20)
    assert name == object_name("a/very:long key " * 20)
    assert len(name) <= 63
    assert name.replace("-", "").isalnum()
    assert name.islower()


def test_a_job_without_image_is_refused() -> None:
    job = spec(image=None)
    with pytest.raises(EngineRejected, match="image"):
        build_manifest(job, grant(job), CONFIG)
