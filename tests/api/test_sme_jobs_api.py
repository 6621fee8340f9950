"""A workspace job over HTTP and through ``pnyx sme authorize`` (both databases): submitted with its
objects it awaits keys; the SME's CLI fetches the request, unwraps the keys on its side and posts
them sealed to the dispatcher's delivery key (the test holds that key, as the dispatcher would, and
opens the bundle); a wrong key posts nothing; another project's member learns nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pnyx.cli.main import app
from pnyx.jobs.sealed_store import SealedRepository
from pnyx.wiring import Platform
from pnyx.workspaces import envelope
from pnyx.workspaces.authorisation import open_authorisation
from tests.api.sme_world import Teams, b64, seal
from tests.conftest import LiveServer

JOBS = "/api/v1/jobs"


@pytest.fixture
def teams(platform: Platform) -> Teams:
    platform.inventory.generate(64, seed=1)
    return Teams(platform)


def submitted_job(
    client: TestClient, teams: Teams, token: str, sme: envelope.KeyPair
) -> tuple[str, str, str]:
    """A workspace with one object, and a job that reads it: (job, workspace, object)."""
    project = teams.project("alice")
    headers = {"Authorization": token}
    made = client.post(
        "/api/v1/sme/workspaces", json={"project": project, "public_key": sme.public_key}, headers=headers
    )
    workspace = made.json()["id"]
    sealed = seal(workspace, sme.public_key, "data.txt", b"private rows " * 40)
    stored = client.post(
        f"/api/v1/sme/workspaces/{workspace}/objects",
        content=sealed.ciphertext,
        headers=sealed.headers(token),
    )
    assert stored.status_code == 201, stored.text
    body = {
        "project": project,
        "accelerators": 1,
        "estimate_s": 60,
        "command": ["python", "train.py"],
        "workspace_objects": [sealed.object_id],
    }
    job = client.post(JOBS, json=body, headers=headers)
    assert job.status_code == 201, job.text
    assert job.json()["status"] in ("awaiting_keys", "held_for_safety")
    assert job.json()["sealed_inputs"] == 1
    return job.json()["id"], workspace, sealed.object_id


def test_authorize_through_the_cli_delivers_the_keys_sealed(
    platform: Platform, client: TestClient, teams: Teams, live_server: LiveServer, tmp_path: Path
) -> None:
    alice, sme = teams.user("alice", "researcher"), envelope.generate_keypair()
    job, workspace, object_id = submitted_job(client, teams, alice, sme)
    if client.get(f"{JOBS}/{job}", headers={"Authorization": alice}).json()["status"] != "awaiting_keys":
        pytest.skip("the project's level awaits an officer here")
    dispatcher_key = envelope.generate_keypair()  # as the dispatcher holds it, in memory
    key_id = platform.authorisations.publish(dispatcher_key.public_key)
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(envelope.generate_keypair().private_pem)
    right = tmp_path / "sme.pem"
    right.write_bytes(sme.private_pem)
    args = ["sme", "authorize", job, "--server", live_server.url, "--token", alice.removeprefix("Bearer ")]

    refused = CliRunner().invoke(app, [*args, "--key", str(wrong)])
    assert isinstance(refused.exception, envelope.WrongKey)
    with platform.uow.read() as conn:
        assert SealedRepository(conn).bundle(job) is None  # nothing was sent

    done = CliRunner().invoke(app, [*args, "--key", str(right)])
    assert done.exit_code == 0, done.output
    assert "authorised" in done.output
    assert client.get(f"{JOBS}/{job}", headers={"Authorization": alice}).json()["status"] == "pending"
    with platform.uow.read() as conn:
        bundle = SealedRepository(conn).bundle(job)
    assert bundle is not None
    assert bundle.delivery_key_id == key_id
    keys = open_authorisation(envelope.load_private_key(dispatcher_key.private_pem), bundle, job, [object_id])
    assert len(keys[object_id]) == envelope.KEY_BYTES
    assert workspace.startswith("ws_")


def test_another_projects_member_cannot_fetch_the_request(
    platform: Platform, client: TestClient, teams: Teams
) -> None:
    alice, bob = teams.user("alice", "researcher"), teams.user("bob", "researcher")
    job, _workspace, _object = submitted_job(client, teams, alice, envelope.generate_keypair())
    platform.authorisations.publish(envelope.generate_keypair().public_key)
    path = f"/api/v1/sme/jobs/{job}/authorisation"
    assert client.get(path, headers={"Authorization": bob}).status_code == 404
    posted = client.post(
        path, json={"delivery_key_id": 1, "sealed": b64(b"PXW1" + bytes(80))}, headers={"Authorization": bob}
    )
    assert posted.status_code == 404


def test_an_object_of_no_workspace_of_the_project_is_refused(client: TestClient, teams: Teams) -> None:
    alice = teams.user("alice", "researcher")
    project = teams.project("alice")
    body = {
        "project": project,
        "accelerators": 1,
        "estimate_s": 60,
        "command": ["x"],
        "workspace_objects": ["a" * 32],
    }
    refused = client.post(JOBS, json=body, headers={"Authorization": alice})
    assert refused.status_code == 400
    assert refused.json()["field"] == "workspace_objects"
