"""SME workspaces over HTTP (both databases): a member creates one, uploads objects encrypted on its
side, reads them back; other projects learn nothing, staff see ids and commitments only; the log
says commitments and nothing else; shredding destroys keys and ciphertexts; bad input is a 4xx
naming its field."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from pnyx.workspaces.store import workspace_objects
from tests.api.sme_world import Sealed, Teams, b64, entry_data, log_entries, seal

BASE = "/api/v1/sme/workspaces"
PLAINTEXT = b"patient notes, private: " * 50


@pytest.fixture
def teams(platform: Platform) -> Teams:
    return Teams(platform)


@pytest.fixture
def alice(teams: Teams) -> str:
    return teams.user("alice", "researcher")


@pytest.fixture
def bob(teams: Teams) -> str:
    return teams.user("bob", "researcher")


@pytest.fixture
def key() -> envelope.KeyPair:
    return envelope.generate_keypair()


@pytest.fixture
def workspace(client: TestClient, teams: Teams, alice: str, key: envelope.KeyPair) -> str:
    project = teams.project("alice")
    made = client.post(BASE, json={"project": project, "public_key": key.public_key}, headers=auth(alice))
    assert made.status_code == 201, made.text
    workspace_id: str = made.json()["id"]
    return workspace_id


def auth(token: str) -> dict[str, str]:
    return {"Authorization": token}


def upload(client: TestClient, workspace: str, sealed: Sealed, token: str) -> Any:
    return client.post(
        f"{BASE}/{workspace}/objects", content=sealed.ciphertext, headers=sealed.headers(token)
    )


def blob_files(platform: Platform) -> list[Path]:
    root = platform.settings.data_dir / "workspaces"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_member_uploads_lists_and_decrypts_what_only_it_can_open(
    client: TestClient, platform: Platform, workspace: str, alice: str, key: envelope.KeyPair
) -> None:
    sealed = seal(workspace, key.public_key, "notes.txt", PLAINTEXT)
    stored = client.post(
        f"{BASE}/{workspace}/objects", content=sealed.ciphertext, headers=sealed.headers(alice)
    )
    assert stored.status_code == 201, stored.text
    assert stored.json()["ciphertext_size"] == len(sealed.ciphertext)
    (listed,) = client.get(f"{BASE}/{workspace}/objects", headers=auth(alice)).json()
    assert (listed["id"], listed["commitment"]) == (sealed.object_id, sealed.commitment)
    one = client.get(f"{BASE}/{workspace}/objects/{sealed.object_id}", headers=auth(alice)).json()
    assert one["wrapped_key"] == b64(sealed.wrapped_key)
    body = client.get(f"{BASE}/{workspace}/objects/{sealed.object_id}/ciphertext", headers=auth(alice))
    assert body.content == sealed.ciphertext
    context = envelope.context_of(workspace, sealed.object_id)
    data_key = envelope.unwrap_key(sealed.wrapped_key, key.private_pem, context)
    out = io.BytesIO()
    envelope.decrypt_stream(io.BytesIO(body.content), out, data_key, context)
    assert out.getvalue() == PLAINTEXT
    (file,) = blob_files(platform)
    assert (file.stat().st_mode & 0o777, file.parent.stat().st_mode & 0o777) == (0o600, 0o700)


def test_the_log_says_commitments_only(
    client: TestClient, platform: Platform, workspace: str, alice: str, key: envelope.KeyPair
) -> None:
    sealed = seal(workspace, key.public_key, "secret-name.csv", PLAINTEXT)
    assert upload(client, workspace, sealed, alice).status_code == 201
    created, committed = log_entries(platform)
    assert entry_data(created)["workspace_id"] == workspace
    assert entry_data(committed) == {
        "workspace_id": workspace, "origin": "upload", "job_id": None, "commitments": [sealed.commitment],
    }  # fmt: skip
    for said in (b"secret-name", sealed.meta.plaintext_sha256.encode(), sealed.meta.salt.encode()):
        assert said not in committed
    assert str(len(PLAINTEXT)).encode() not in committed
    assert str(len(sealed.ciphertext)).encode() not in committed


def test_other_projects_learn_nothing_and_staff_see_ids_and_commitments(
    client: TestClient, platform: Platform, teams: Teams, workspace: str, alice: str, bob: str,
    key: envelope.KeyPair,
) -> None:  # fmt: skip
    sealed = seal(workspace, key.public_key, "notes.txt", PLAINTEXT)
    upload(client, workspace, sealed, alice)
    teams.project("bob")  # bob is a member of another project
    for path in ("", "/objects", f"/objects/{sealed.object_id}", f"/objects/{sealed.object_id}/ciphertext"):
        assert client.get(f"{BASE}/{workspace}{path}", headers=auth(bob)).status_code == 404, path
        assert client.get(f"{BASE}/{workspace}{path}").status_code == 401, path
    assert upload(client, workspace, seal(workspace, key.public_key, "x", b"x"), bob).status_code == 404
    auditor = teams.user("audrey", "auditor")
    (seen,) = client.get(f"{BASE}/{workspace}/objects", headers=auth(auditor)).json()
    assert (seen["commitment"], seen["wrapped_key"], seen["sealed_meta"]) == (sealed.commitment, None, None)
    refused = client.get(f"{BASE}/{workspace}/objects/{sealed.object_id}/ciphertext", headers=auth(auditor))
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")


def test_one_active_workspace_per_project_and_only_members_create(
    client: TestClient, teams: Teams, workspace: str, alice: str, bob: str, key: envelope.KeyPair
) -> None:
    project = client.get(f"{BASE}/{workspace}", headers=auth(alice)).json()["project"]
    again = client.post(BASE, json={"project": project, "public_key": key.public_key}, headers=auth(alice))
    assert (again.status_code, again.json()["field"]) == (409, "project")
    stranger = client.post(BASE, json={"project": project, "public_key": key.public_key}, headers=auth(bob))
    assert stranger.status_code == 404
    unknown = client.post(
        BASE, json={"project": "prj_none", "public_key": key.public_key}, headers=auth(alice)
    )
    assert (unknown.status_code, unknown.json()["field"]) == (404, "project")
    listed = client.get(BASE, params={"project": project}, headers=auth(alice)).json()
    assert [w["id"] for w in listed] == [workspace]


@pytest.mark.parametrize(
    ("header", "value", "field"),
    [
        ("X-Pnyx-Object-Id", "ABC", "object_id"),
        ("X-Pnyx-Wrapped-Key", b64(b"short"), "wrapped_key"),
        ("X-Pnyx-Wrapped-Key", "not base64!", "wrapped_key"),
        ("X-Pnyx-Sealed-Meta", "", "sealed_meta"),
        ("X-Pnyx-Sealed-Meta", b64(b"m" * (envelope.MAX_META + 1)), "sealed_meta"),
        ("X-Pnyx-Commitment", "z" * 64, "commitment"),
    ],
)
def test_bad_fields_are_refused_naming_them_and_nothing_is_kept(
    client: TestClient, platform: Platform, workspace: str, alice: str, key: envelope.KeyPair,
    header: str, value: str, field: str,
) -> None:  # fmt: skip
    sealed = seal(workspace, key.public_key, "notes.txt", PLAINTEXT)
    headers = sealed.headers(alice) | {header: value}
    refused = client.post(f"{BASE}/{workspace}/objects", content=sealed.ciphertext, headers=headers)
    assert (refused.status_code, refused.json()["field"]) == (400, field), refused.text
    assert blob_files(platform) == []
    assert client.get(f"{BASE}/{workspace}/objects", headers=auth(alice)).json() == []


def test_missing_fields_an_empty_body_and_a_bad_public_key_name_their_field(
    client: TestClient, platform: Platform, teams: Teams, workspace: str, alice: str, key: envelope.KeyPair
) -> None:
    sealed = seal(workspace, key.public_key, "notes.txt", PLAINTEXT)
    headers = {k: v for k, v in sealed.headers(alice).items() if k != "X-Pnyx-Commitment"}
    missing = client.post(f"{BASE}/{workspace}/objects", content=sealed.ciphertext, headers=headers)
    assert (missing.status_code, missing.json()["field"]) == (422, "header.X-Pnyx-Commitment")
    empty = client.post(f"{BASE}/{workspace}/objects", content=b"", headers=sealed.headers(alice))
    assert (empty.status_code, empty.json()["field"]) == (400, "ciphertext")
    bad_key = client.post(
        BASE, json={"project": teams.project("alice"), "public_key": "x25519:AAAA"}, headers=auth(alice)
    )
    assert (bad_key.status_code, bad_key.json()["field"]) == (400, "public_key")
    assert client.get(f"{BASE}/ws_nothex/objects", headers=auth(alice)).status_code == 422
    assert blob_files(platform) == []


def test_a_duplicate_object_id_is_a_conflict_and_keeps_the_first(
    client: TestClient, platform: Platform, workspace: str, alice: str, key: envelope.KeyPair
) -> None:
    sealed = seal(workspace, key.public_key, "notes.txt", PLAINTEXT)
    upload(client, workspace, sealed, alice)
    again = client.post(
        f"{BASE}/{workspace}/objects", content=b"other bytes" * 10, headers=sealed.headers(alice)
    )
    assert (again.status_code, again.json()["field"]) == (409, "object_id")
    body = client.get(f"{BASE}/{workspace}/objects/{sealed.object_id}/ciphertext", headers=auth(alice))
    assert body.content == sealed.ciphertext


def test_the_size_cap_is_its_own_setting_and_names_it(
    client: TestClient, platform: Platform, workspace: str, alice: str, key: envelope.KeyPair
) -> None:
    platform.workspaces.max_object_bytes = 1000
    sealed = seal(workspace, key.public_key, "big.bin", b"b" * 5000)
    declared = client.post(
        f"{BASE}/{workspace}/objects", content=sealed.ciphertext, headers=sealed.headers(alice)
    )
    assert declared.status_code == 413
    assert "PNYX_WORKSPACE_OBJECT_BYTES" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:
        yield from (sealed.ciphertext[i : i + 512] for i in range(0, len(sealed.ciphertext), 512))

    streamed = client.post(f"{BASE}/{workspace}/objects", content=chunks(), headers=sealed.headers(alice))
    assert (streamed.status_code, streamed.json()["field"]) == (400, "ciphertext")
    assert "PNYX_WORKSPACE_OBJECT_BYTES" in streamed.json()["detail"]
    assert blob_files(platform) == []
    platform.workspaces.max_object_bytes = 2 * 1024 * 1024  # above the app's 1 MiB body limit
    large = seal(workspace, key.public_key, "large.bin", b"L" * (1536 * 1024))
    assert upload(client, workspace, large, alice).status_code == 201


def test_shredding_destroys_keys_and_ciphertexts_and_is_logged_without_names(
    client: TestClient, platform: Platform, teams: Teams, workspace: str, alice: str, key: envelope.KeyPair
) -> None:
    objects = [seal(workspace, key.public_key, f"file-{i}.txt", PLAINTEXT) for i in range(2)]
    for sealed in objects:
        upload(client, workspace, sealed, alice)
    auditor = teams.user("audrey", "auditor")
    refused = client.post(f"{BASE}/{workspace}/shred", json={"reason": "done"}, headers=auth(auditor))
    assert refused.status_code == 403
    done = client.post(f"{BASE}/{workspace}/shred", json={"reason": "contract ended"}, headers=auth(alice))
    assert (done.status_code, done.json()["status"]) == (200, "shredded"), done.text
    with platform.engine.connect() as conn:
        keys = conn.execute(sa.select(workspace_objects.c.wrapped_key)).scalars().all()
    assert keys == [None, None]
    assert blob_files(platform) == []
    shredded = log_entries(platform)[-1]
    assert entry_data(shredded) == {
        "workspace_id": workspace, "project": done.json()["project"], "by": "alice", "objects": 2,
        "reason": "contract ended",
    }  # fmt: skip
    assert b"file-" not in shredded
    gone = client.get(f"{BASE}/{workspace}/objects/{objects[0].object_id}/ciphertext", headers=auth(alice))
    assert (gone.status_code, gone.json()["code"]) == (409, "workspace_shredded")
    shown = client.get(f"{BASE}/{workspace}/objects/{objects[0].object_id}", headers=auth(alice)).json()
    assert shown["wrapped_key"] is None
    again = client.post(f"{BASE}/{workspace}/shred", json={"reason": "again"}, headers=auth(alice))
    assert (again.status_code, again.json()["code"]) == (409, "workspace_shredded")
    late = upload(client, workspace, seal(workspace, key.public_key, "late", b"late"), alice)
    assert late.status_code == 409
    fresh = client.post(
        BASE, json={"project": done.json()["project"], "public_key": key.public_key}, headers=auth(alice)
    )
    assert fresh.status_code == 201


def test_an_operator_may_shred_and_a_reason_is_required(
    client: TestClient, teams: Teams, workspace: str, alice: str
) -> None:
    operator = teams.user("olga", "operator")
    blank = client.post(f"{BASE}/{workspace}/shred", json={"reason": "  "}, headers=auth(alice))
    assert (blank.status_code, blank.json()["field"]) == (400, "reason")
    done = client.post(f"{BASE}/{workspace}/shred", json={"reason": "court order"}, headers=auth(operator))
    assert done.json()["status"] == "shredded"
