"""The SME endpoints refuse what attack1 found them taking (both databases): a job of a project whose
workspace an operator shredded (409 naming the project, never run unsealed), a workspace created
under open jobs (409 naming them), a low-order public key, and loose base64url in the upload headers
and the authorisation body (400 naming the field)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.api.schemas.sme import decode, encode
from pnyx.core.errors import InvalidInput
from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from tests.api.sme_world import Teams, b64, seal
from tests.api.test_sme_jobs_api import submitted_job

BASE = "/api/v1/sme/workspaces"
JOBS = "/api/v1/jobs"


@pytest.fixture
def teams(platform: Platform) -> Teams:
    platform.inventory.generate(64, seed=1)
    return Teams(platform)


def job_body(project: str) -> dict[str, Any]:
    return {
        "name": "ft2",
        "project": project,
        "accelerators": 1,
        "estimate_s": 60,
        "command": ["python3", "x"],
    }


def test_after_an_operators_shred_the_smes_jobs_are_refused_not_run_unsealed(
    client: TestClient, teams: Teams
) -> None:
    ada, olga = teams.user("ada", "researcher"), teams.user("olga", "operator")
    project, key = teams.project("ada"), envelope.generate_keypair()
    made = client.post(
        BASE, json={"project": project, "public_key": key.public_key}, headers={"Authorization": ada}
    )
    shred = client.post(
        f"{BASE}/{made.json()['id']}/shred", json={"reason": "maintenance"}, headers={"Authorization": olga}
    )
    assert shred.status_code == 200, shred.text
    refused = client.post(JOBS, json=job_body(project), headers={"Authorization": ada})
    assert (refused.status_code, refused.json()["field"], refused.json()["code"]) == (
        409, "project", "workspace_shredded",
    ), refused.text  # fmt: skip
    assert "create a new workspace before running jobs" in refused.json()["detail"]
    assert client.get(JOBS, headers={"Authorization": ada}).json() == []
    again = client.post(
        BASE, json={"project": project, "public_key": key.public_key}, headers={"Authorization": ada}
    )
    accepted = client.post(JOBS, json=job_body(project), headers={"Authorization": ada})
    assert (accepted.status_code, accepted.json()["workspace_id"]) == (201, again.json()["id"]), accepted.text


def test_a_workspace_is_not_created_under_open_jobs(client: TestClient, teams: Teams) -> None:
    ada, project = teams.user("ada", "researcher"), teams.project("ada")
    job = client.post(JOBS, json=job_body(project), headers={"Authorization": ada})
    assert (job.status_code, job.json()["workspace_id"]) == (201, None), job.text
    body = {"project": project, "public_key": envelope.generate_keypair().public_key}
    refused = client.post(BASE, json=body, headers={"Authorization": ada})
    assert (refused.status_code, refused.json()["field"], refused.json()["code"]) == (
        409,
        "project",
        "open_jobs",
    )
    assert job.json()["id"] in refused.json()["detail"]
    assert client.get(BASE, params={"project": project}, headers={"Authorization": ada}).json() == []


def test_a_low_order_public_key_is_refused(client: TestClient, teams: Teams) -> None:
    ada, project = teams.user("ada", "researcher"), teams.project("ada")
    refused = client.post(
        BASE, json={"project": project, "public_key": "x25519:" + "A" * 43}, headers={"Authorization": ada}
    )
    assert (refused.status_code, refused.json()["field"]) == (400, "public_key"), refused.text


LOOSE = ["!!!!", "+/" * 64, "AAAA=AAA", "AAAAA", "AAA==", "AAAA====", "AB", " QUJD", "QUJD\n"]


def loose_spellings(text: str) -> list[str]:
    """Texts a lax decoder reads as the same bytes as ``text`` (a valid unpadded base64url)."""
    standard = text.replace("-", "+").replace("_", "/")
    spaced = text[:8] + " " + text[8:]
    return [text[:8] + "!!!!" + text[8:], standard, spaced, text + "=" * (4 + -len(text) % 4)]


@pytest.mark.parametrize("header", ["X-Pnyx-Wrapped-Key", "X-Pnyx-Sealed-Meta"])
def test_upload_headers_are_strict_base64url(client: TestClient, teams: Teams, header: str) -> None:
    ada, project, key = teams.user("ada", "researcher"), teams.project("ada"), envelope.generate_keypair()
    made = client.post(
        BASE, json={"project": project, "public_key": key.public_key}, headers={"Authorization": ada}
    )
    workspace = made.json()["id"]
    sealed = seal(workspace, key.public_key, "a.txt", b"rows " * 40)
    while "-" not in sealed.headers(ada)[header] and "_" not in sealed.headers(ada)[header]:
        sealed = seal(workspace, key.public_key, "a.txt", b"rows " * 40)  # so the + / spelling differs
    field = header.removeprefix("X-Pnyx-").lower().replace("-", "_")
    for value in loose_spellings(sealed.headers(ada)[header]):
        refused = client.post(
            f"{BASE}/{workspace}/objects",
            content=sealed.ciphertext,
            headers=sealed.headers(ada) | {header: value},
        )
        assert (refused.status_code, refused.json()["field"]) == (400, field), (value, refused.text)
    padded = b64(sealed.sealed_meta) + "=" * (-len(b64(sealed.sealed_meta)) % 4)
    kept = client.post(
        f"{BASE}/{workspace}/objects", content=sealed.ciphertext,
        headers=sealed.headers(ada) | {"X-Pnyx-Sealed-Meta": padded},
    )  # fmt: skip
    assert kept.status_code == 201, kept.text


def test_the_authorisation_body_is_strict_base64url(
    platform: Platform, client: TestClient, teams: Teams
) -> None:
    alice = teams.user("alice", "researcher")
    job, _workspace, _object = submitted_job(client, teams, alice, envelope.generate_keypair())
    if client.get(f"{JOBS}/{job}", headers={"Authorization": alice}).json()["status"] != "awaiting_keys":
        pytest.skip("the project's level awaits an officer here")
    key_id = platform.authorisations.publish(envelope.generate_keypair().public_key)
    path = f"/api/v1/sme/jobs/{job}/authorisation"
    sealed = b64(envelope.WRAP_MAGIC + b"\xfb\xff" * 40)  # shaped like a bundle: only its spelling is wrong
    for value in loose_spellings(sealed):
        body = {"delivery_key_id": key_id, "sealed": value}
        posted = client.post(path, json=body, headers={"Authorization": alice})
        assert (posted.status_code, posted.json()["field"]) == (400, "sealed"), (value, posted.text)
    assert client.get(f"{JOBS}/{job}", headers={"Authorization": alice}).json()["status"] == "awaiting_keys"
    taken = client.post(
        path, json={"delivery_key_id": key_id, "sealed": sealed}, headers={"Authorization": alice}
    )
    assert taken.status_code == 200, taken.text


@pytest.mark.parametrize("data", [b"", b"a", b"ab", b"abc", bytes(range(256))])
def test_decode_takes_what_encode_writes_padded_or_not(data: bytes) -> None:
    text = encode(data)
    assert decode(text, "f") == data
    assert decode(text + "=" * (-len(text) % 4), "f") == data


@pytest.mark.parametrize("text", LOOSE)
def test_decode_refuses_loose_text_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        decode(text, "wrapped_key")
    assert info.value.field == "wrapped_key"
