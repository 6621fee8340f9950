"""/api/v1/registry/models over the real app and wiring (both databases): a finished training job's
outputs registered by the platform's own intake, read by clearance, made public by safety officers'
release decisions, downloaded with the log's digest and proof, refused when a blob was tampered."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pnyx.executors.local import LocalExecutor
from pnyx.registry.lineage_model import FileRole, ModelVersion
from pnyx.registry.lineage_rules import PUBLIC
from pnyx.registry.lineage_store import ModelRepository
from pnyx.registry.model_downloads import check_download, parse_proof
from pnyx.settings import Settings
from pnyx.wiring import Platform
from tests.unit.registry.lineage_outputs import finished_job, import_dataset, outputs, run_for

API = "/api/v1/registry/models"


@pytest.fixture
def settings(database_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The platform's settings with a job root of this test's own (outside its data directory)."""
    return Settings.from_env(
        {
            "PNYX_DATABASE_URL": database_url,
            "PNYX_DATA_DIR": str(tmp_path),
            "PNYX_LOG_ORIGIN": "test.pnyx.example/log",
            "PNYX_JOB_ROOT": str(tmp_path_factory.mktemp("jobs")),
        }
    )


@dataclass
class Registered:
    model: ModelVersion  # as stored (nobody but its project reads it through the API yet)
    files: dict[str, bytes]  # what the job wrote


@pytest.fixture
def registered(platform: Platform, tmp_path: Path) -> Registered:
    """A model version registered by the platform's own intake from a finished job's outputs."""
    files = outputs(run_for(import_dataset(platform, tmp_path / "import")))
    executor = platform.executors["local"]
    assert isinstance(executor, LocalExecutor)
    job = finished_job(platform, executor, files)
    assert platform.models.intake(job) is None
    with platform.engine.connect() as conn:
        (model,) = ModelRepository(conn).search(name=None, limit=2)
    return Registered(model, files)


def _publish(platform: Platform, model: ModelVersion) -> None:
    """Safety officer sofia releases the weights, the card and the data order to the public label."""
    platform.identity.register_user(name="sofia", roles=["safety-officer"])
    for role in (FileRole.WEIGHTS, FileRole.CARD, FileRole.DATA_ORDER):
        f = model.role(role)
        platform.releases.request(
            platform.identity.principal_of("sofia"), artifact=f"model:{model.version}/{f.path}",
            sha256=f.sha256, from_label=model.label, to_label=PUBLIC, evaluations=["licence-provenance"],
        )  # fmt: skip


@pytest.fixture
def ada(platform: Platform) -> str:
    """The job's owner (the fixture job's user), who sees its intake."""
    platform.identity.register_user(name="ada", roles=["researcher"])
    return "Bearer " + platform.identity.issue_token("ada").secret


def _release(client: TestClient, token: str, model: ModelVersion, role: FileRole) -> None:
    file = model.role(role)
    body = {
        "artifact": f"model:{model.version}/{file.path}",
        "sha256": file.sha256,
        "from_label": str(model.label),
        "to_label": "L1",
        "evaluations": ["licence-provenance"],  # what a release out of L1 needs
    }
    response = client.post("/api/v1/safety/releases", json=body, headers={"Authorization": token})
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "released"


def test_a_version_is_private_until_released_then_public_and_checked(
    client: TestClient,
    tokens: dict[str, str],
    ada: str,
    platform: Platform,
    registered: Registered,
) -> None:
    version, files = registered.model.version, registered.files
    unknown = client.get(f"{API}/{'0' * 64}").json()
    for headers in ({}, {"Authorization": tokens["researcher"]}):
        for path in ("", "/card", "/lineage", "/files/model.safetensors", "/proofs/model.safetensors"):
            refused = client.get(f"{API}/{version}{path}", headers=headers)
            assert refused.status_code == 404  # as for a version that does not exist: no oracle
            assert refused.json()["code"] == unknown["code"] == "model_version_not_found"
            assert "L1" not in refused.json()["detail"]
        assert client.get(API, headers=headers).json() == []
    (intake,) = client.get(f"{API}/intakes/job_train01", headers={"Authorization": ada}).json()
    assert (intake["outcome"], intake["version"]) == ("registered", version)
    officer = {"Authorization": tokens["safety-officer"]}
    assert client.get(f"{API}/{version}", headers=officer).json()["public"] is False  # staff read L1
    for role in (FileRole.WEIGHTS, FileRole.CARD, FileRole.DATA_ORDER):
        _release(client, tokens["safety-officer"], registered.model, role)
    shown = client.get(f"{API}/{version}").json()  # public now: no token needed
    assert (shown["public"], shown["name"], shown["steps"]) == (True, "tiny-lm", 4)
    assert [m["version"] for m in client.get(API).json()] == [version]
    assert client.get(f"{API}/{version}/files/model.safetensors").status_code == 503  # not logged yet
    assert client.get(f"{API}/{version}/files/model.safetensors").json()["code"] == "not_yet_logged"
    platform.log.drain()
    _download_and_check(client, platform, version, files)
    lineage = client.get(f"{API}/{version}/lineage").json()
    assert lineage["datasets"][0]["name"] == "demo"
    assert lineage["job"]["job_id"] == "job_train01"
    assert {r["path"] for r in lineage["releases"]} == {"model.safetensors", "README.md", "data-order.jsonl"}
    assert [c["step"] for c in client.get(f"{API}/{version}/checkpoints").json()] == [2, 4]
    card = client.get(f"{API}/{version}/card")
    assert card.headers["content-type"].startswith("text/markdown")
    assert card.text.startswith("---\nlicense: ")


def _download_and_check(
    client: TestClient, platform: Platform, version: str, files: dict[str, bytes]
) -> None:
    response = client.get(f"{API}/{version}/files/model.safetensors")
    assert response.status_code == 200
    assert response.content == files["model.safetensors"]
    digest = hashlib.sha256(response.content)
    assert response.headers["x-content-sha256"] == digest.hexdigest()
    assert response.headers["digest"] == "sha-256=" + base64.b64encode(digest.digest()).decode()
    proof = parse_proof(client.get(f"{API}/{version}/proofs/model.safetensors").json())
    assert proof.log_index == int(response.headers["x-pnyx-log-index"])
    assert platform.log.signer is not None
    logged = check_download(proof, digest.hexdigest(), platform.log.signer.verifier)
    assert logged.size == len(files["model.safetensors"])
    order = client.get(f"{API}/{version}/data-order")
    assert order.content == files["data-order.jsonl"]
    listed = {f["path"]: f for f in client.get(f"{API}/{version}/files").json()}
    assert listed["model.safetensors"]["log_index"] == proof.log_index


def test_a_tampered_blob_is_refused_naming_the_file_and_both_digests(
    client: TestClient, platform: Platform, registered: Registered
) -> None:
    model = registered.model
    _publish(platform, model)
    platform.log.drain()
    stored = model.role(FileRole.DATA_ORDER)
    blob = platform.models.blobs.path(stored.sha256)
    blob.write_bytes(blob.read_bytes().replace(b'"rank":0', b'"rank":1', 1))
    found = hashlib.sha256(blob.read_bytes()).hexdigest()
    refused = client.get(f"{API}/{model.version}/data-order")
    assert refused.status_code == 500
    problem = refused.json()
    assert problem["code"] == "digest_mismatch"
    assert f"data-order.jsonl of model version {model.version} hashes to {found}" in problem["detail"]
    assert f"logs {stored.sha256}" in problem["detail"]


def test_unknown_versions_and_files(client: TestClient, platform: Platform, registered: Registered) -> None:
    _publish(platform, registered.model)
    version = registered.model.version
    missing = client.get(f"{API}/{'0' * 64}")
    assert (missing.status_code, missing.json()["code"]) == (404, "model_version_not_found")
    assert client.get(f"{API}/not-a-version").status_code == 422
    assert client.get(f"{API}/{version}/files/weights.bin").json()["code"] == "model_file_not_found"
    assert client.get(f"{API}/intakes/job_train01").status_code == 401
