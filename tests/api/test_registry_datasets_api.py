"""The dataset registry over HTTP (both databases): public reads without a token, uploads of an
import directory as a tar, checked shard downloads, takedowns by role, a project's datasets by
clearance (the real wiring: membership and label from allocation and safety)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pnyx.registry.samples import write_samples
from pnyx.wiring import Platform
from tests.integration.test_safety_classification import Facility

BASE = "/api/v1/registry/datasets"


def tar_of(directory: Path, **extra: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(directory, arcname="demo")
        for name, data in extra.items():
            info = tarfile.TarInfo(name.replace("__", "/"))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def upload(tmp_path: Path) -> bytes:
    write_samples(tmp_path / "demo", per_source=2)
    return tar_of(tmp_path / "demo")


def post_import(client: TestClient, token: str | None, body: bytes, **query: Any) -> Any:
    headers = {"Content-Type": "application/octet-stream"} | ({"Authorization": token} if token else {})
    params: dict[str, str | int] = {"name": "demo", "shard_samples": 3, **query}
    return client.post(f"{BASE}/imports", params=params, content=body, headers=headers)


def test_an_operator_imports_and_anyone_reads(
    client: TestClient, tokens: dict[str, str], upload: bytes
) -> None:
    response = post_import(client, tokens["operator"], upload)
    assert response.status_code == 201, response.text
    body = response.json()
    version = body["version"]["version"]
    assert (body["created"], body["left_out"], body["version"]["samples"]) == (True, 2, 8)
    assert body["version"]["label"] == "L1"
    listed = client.get(BASE).json()
    assert [v["version"] for v in listed] == [version]
    shown = client.get(f"{BASE}/versions/{version}").json()
    assert [s["index"] for s in shown["shards"]] == [0, 1, 2]
    assert {s["name"]: s["reserved"] for s in shown["sources"]}["news"] is True
    manifest = client.get(f"{BASE}/versions/{version}/manifest")
    assert manifest.headers["X-Content-SHA256"] == hashlib.sha256(manifest.content).hexdigest()
    assert manifest.headers["X-Content-SHA256"] == shown["manifest_sha256"]
    assert json.loads(manifest.content)["version"] == version
    shard = client.get(f"{BASE}/versions/{version}/shards/2")
    digest = hashlib.sha256(shard.content).digest()
    assert shard.status_code == 200
    assert shard.headers["Digest"] == "sha-256=" + base64.b64encode(digest).decode()
    assert shard.headers["X-Content-SHA256"] == digest.hex() == shown["shards"][2]["sha256"]
    croissant = client.get(f"{BASE}/versions/{version}/croissant")
    assert croissant.headers["content-type"].startswith("application/ld+json")
    assert croissant.json()["url"] == f"http://127.0.0.1:8000{BASE}/versions/{version}"  # never the Host
    forged = client.get(f"{BASE}/versions/{version}/croissant", headers={"Host": "evil.example"})
    assert "evil.example" not in forged.text
    card = client.get(f"{BASE}/versions/{version}/card")
    assert card.headers["content-type"].startswith("text/markdown")
    assert card.text.startswith('---\npretty_name: "demo"\n')


def test_imports_need_the_right_role(client: TestClient, tokens: dict[str, str], upload: bytes) -> None:
    assert post_import(client, None, upload).status_code == 401
    refused = post_import(client, tokens["researcher"], upload)
    assert refused.status_code == 403
    assert "operator" in refused.json()["detail"]
    assert client.get(BASE).json() == []


def test_a_hostile_upload_is_refused_naming_what_is_wrong(
    client: TestClient, tokens: dict[str, str], tmp_path: Path, platform: Platform
) -> None:
    write_samples(tmp_path / "demo", per_source=1)
    evil = tar_of(tmp_path / "demo", **{"demo__..__..__evil.txt": b"x"})
    response = post_import(client, tokens["operator"], evil)
    assert response.status_code == 400
    assert response.json()["field"] == "demo/../../evil.txt"
    (tmp_path / "demo" / "code" / "bad.exe").write_bytes(b"MZ")
    response = post_import(client, tokens["operator"], tar_of(tmp_path / "demo"))
    assert (response.status_code, response.json()["field"]) == (400, "code/bad.exe")
    assert post_import(client, tokens["operator"], b"").status_code == 400
    assert post_import(client, tokens["operator"], b"junk" * 100).json()["code"] == "invalid_input"
    with platform.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dataset_versions")).scalar_one() == 0


def test_takedowns_by_role_and_what_they_withdraw(
    client: TestClient, tokens: dict[str, str], upload: bytes
) -> None:
    old = post_import(client, tokens["operator"], upload).json()["version"]["version"]
    body = {"reason": "rights holder request", "origin": "https://sounds.example/"}
    assert client.post(f"{BASE}/demo/takedowns", json=body).status_code == 401
    assert (
        client.post(
            f"{BASE}/demo/takedowns", json=body, headers={"Authorization": tokens["auditor"]}
        ).status_code
        == 403
    )
    response = client.post(
        f"{BASE}/demo/takedowns", json=body, headers={"Authorization": tokens["safety-officer"]}
    )
    assert response.status_code == 201, response.text
    done = response.json()
    assert (done["from_version"], done["removed"], done["withdrawn"]) == (old, 2, [old])
    assert done["affected_models"] == []
    assert client.get(f"{BASE}/versions/{old}").json()["status"] == "withdrawn"
    gone = client.get(f"{BASE}/versions/{old}/shards/0")
    assert (gone.status_code, gone.json()["code"]) == (409, "dataset_withdrawn")
    assert client.get(f"{BASE}/versions/{done['to_version']}").json()["parent"] == old
    assert [t["id"] for t in client.get(f"{BASE}/demo/takedowns").json()] == [done["id"]]
    bad = client.post(
        f"{BASE}/demo/takedowns",
        json={"reason": "x", "samples": ["nope"]},
        headers={"Authorization": tokens["operator"]},
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "samples")


def test_a_researcher_imports_into_their_project_under_its_label(
    client: TestClient, platform: Platform, upload: bytes
) -> None:
    facility = Facility(platform)
    project = facility.project()
    alice = "Bearer " + platform.identity.issue_token("alice").secret
    response = post_import(client, alice, upload, project=project)
    assert response.status_code == 201, response.text
    made = response.json()["version"]
    assert made["label"] == f"L1+project:{project}"
    assert client.get(f"{BASE}/versions/{made['version']}").status_code == 404
    assert client.get(BASE).json() == []
    mine = client.get(f"{BASE}/versions/{made['version']}", headers={"Authorization": alice})
    assert mine.json()["project"] == project
    other = platform.identity.register_user(name="bob", roles=["researcher"])
    bob = "Bearer " + platform.identity.issue_token(other.name).secret
    assert post_import(client, bob, upload, project=project, name="bobs").status_code == 403


def test_unknown_versions_and_bad_paths(client: TestClient) -> None:
    assert client.get(f"{BASE}/versions/{'0' * 64}").status_code == 404
    assert client.get(f"{BASE}/versions/not-hex").status_code == 422
    assert client.get(f"{BASE}/versions/{'0' * 64}/shards/-1").status_code == 422


def test_who_may_import_is_checked_before_the_body_is_read(
    client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    bomb = b"\x1f\x8b" + b"not even gzip" * 100  # never unpacked: the role is refused first
    for who in ("researcher", "auditor"):
        refused = post_import(client, tokens[who], bomb)
        assert refused.status_code == 403, refused.text
    write_samples(tmp_path / "demo", per_source=1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:  # as `tar -C demo -czf x.tgz .` makes it
        tar.add(tmp_path / "demo", arcname=".")
    response = post_import(client, tokens["operator"], buffer.getvalue())
    assert response.status_code == 201, response.text
    taken = post_import(client, tokens["operator"], b"junk", name="demo", shard_samples=2)
    assert taken.status_code == 400  # the operator may: the body is read, and refused
    cut = post_import(client, tokens["operator"], buffer.getvalue()[:-12], name="other")
    assert (cut.status_code, cut.json()["field"]) == (400, "body")
    assert "pnyx-import" not in cut.text
