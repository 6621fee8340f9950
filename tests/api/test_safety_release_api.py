"""Releases and incidents over HTTP: role checks on every write, public reads of the public facts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.safety.signing import public_artifact
from pnyx.safety.verify import sign_approval
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.integration.release_world import SHA, World

ARTIFACT = "job_1/model.bin"


@pytest.fixture
def world(platform: Platform) -> World:
    world = World(platform)
    world.artifact(ARTIFACT, 2)
    world.containment.jobs["p1"] = ["job_1"]
    platform.identity.register_user(name="audrey", roles=["auditor"])
    return world


@pytest.fixture
def client(platform: Platform, world: World) -> Iterator[TestClient]:
    wired = dataclasses.replace(platform, releases=world.releases, incidents=world.incidents)
    with TestClient(create_app(wired, run_appender=False, run_dispatcher=False)) as c:
        yield c


@pytest.fixture
def auth(platform: Platform, world: World) -> dict[str, dict[str, str]]:
    names = ("olga", "omar", "oona", "rita", "rudi", "reza", "audrey")
    return {n: {"Authorization": "Bearer " + platform.identity.issue_token(n).secret} for n in names}


def _request(client: TestClient, headers: dict[str, str], **changes: Any) -> Any:
    body = {
        "artifact": ARTIFACT,
        "sha256": SHA,
        "from_label": "L2+project:p1",
        "to_label": "L1",
        "evaluations": ["safety-suite", "capability-screening"],
        **changes,
    }
    return client.post("/api/v1/safety/releases", json=body, headers=headers)


def _approve(client: TestClient, world: World, release_id: str, name: str, headers: dict[str, str]) -> Any:
    message = client.get(f"/api/v1/safety/releases/{release_id}/message").content
    s = sign_approval(world.private[name], message)
    body = {"key_id": s.key_id, "signature": s.signature}
    return client.post(f"/api/v1/safety/releases/{release_id}/approvals", json=body, headers=headers)


def test_a_release_over_http(client: TestClient, world: World, auth: dict[str, dict[str, str]]) -> None:
    created = _request(client, auth["rita"])
    assert created.status_code == 201, created.text
    release = created.json()
    assert release["status"] == "requested"
    assert release["missing"] == ["2 more approval(s) by: safety-officer"]
    public = client.get("/api/v1/safety/releases?status=requested").json()
    assert [r["id"] for r in public] == [release["id"]]
    job, ref = public_artifact(ARTIFACT)  # not released: named by its job and reference, not its path
    assert (public[0]["job"], public[0]["artifact_ref"], public[0]["artifact"]) == (job, ref, None)
    assert "model.bin" not in client.get(f"/api/v1/safety/releases/{release['id']}/message").text
    assert client.get(f"/api/v1/safety/releases/{release['id']}/released").json() is None
    first = _approve(client, world, release["id"], "olga", auth["olga"])
    assert first.status_code == 200, first.text
    again = _approve(client, world, release["id"], "olga", auth["olga"])
    assert (again.status_code, again.json()["code"]) == (409, "duplicate")
    done = _approve(client, world, release["id"], "omar", auth["omar"])
    assert done.json()["status"] == "released"
    assert done.json()["missing"] == []
    assert done.json()["artifact"] == ARTIFACT  # released: the record names it
    record = client.get(f"/api/v1/safety/releases/{release['id']}/released").json()
    assert (record["artifact"], record["sha256"], record["label"]) == (ARTIFACT, SHA, "L1")


def test_every_release_route_answers_404_for_an_unknown_release(client: TestClient) -> None:
    for route in ("", "/message", "/released"):
        response = client.get(f"/api/v1/safety/releases/rel_none{route}")
        assert (response.status_code, response.json()["code"]) == (404, "release_not_found"), route


def test_an_outsider_gets_the_answer_an_unknown_artifact_gets(
    client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    unknown = _request(client, auth["rudi"], artifact="job_1/nothing.bin")
    for changes in ({}, {"sha256": "ab" * 32}, {"from_label": "L3"}):  # exact, or guessing
        outsider = _request(client, auth["rudi"], artifact="job_1/nothing.bin", **changes)
        assert (outsider.status_code, outsider.json()) == (404, unknown.json())
        existing = _request(client, auth["rudi"], **changes)
        assert existing.status_code == 404
        assert existing.json() == {
            **unknown.json(),
            "detail": unknown.json()["detail"].replace("nothing", "model"),
        }
    assert client.get("/api/v1/safety/releases").json() == []


def test_only_the_councils_motion_for_the_release_opens_its_gate(
    client: TestClient, world: World, auth: dict[str, dict[str, str]]
) -> None:
    world.artifact("job_3/w.bin", 3)
    body = {"from_label": "L3+project:p1", "evaluations": ["independent-evaluation", "red-team"]}
    release = _request(client, auth["rita"], artifact="job_3/w.bin", **body).json()
    for name in ("olga", "omar"):
        assert _approve(client, world, release["id"], name, auth[name]).status_code == 200
    url = f"/api/v1/safety/releases/{release['id']}/motion"
    unrelated = world.table({"type": "approve_release", "release_id": "rel_another"})
    refused = client.post(url, json={"motion_id": unrelated}, headers=auth["rita"])
    assert (refused.status_code, refused.json()["code"], refused.json()["field"]) == (
        400,
        "motion_not_for_release",
        "motion_id",
    )
    approving = world.adopt_approval(world.releases.release(release["id"]))
    done = client.post(url, json={"motion_id": approving}, headers=auth["rita"])
    assert (done.json()["status"], done.json()["motion_id"]) == ("released", approving)


def test_bad_approvals_answer_clearly(
    client: TestClient, world: World, auth: dict[str, dict[str, str]]
) -> None:
    release = _request(client, auth["reza"]).json()
    own = _approve(client, world, release["id"], "reza", auth["reza"])
    assert (own.status_code, own.json()["code"], own.json()["field"]) == (
        403,
        "requester_approval",
        "approver",
    )
    foreign = _approve(client, world, release["id"], "omar", auth["olga"])  # omar's key, olga calling
    assert (foreign.status_code, foreign.json()["code"]) == (403, "key_not_yours")
    url = f"/api/v1/safety/releases/{release['id']}/approvals"
    forged = client.post(
        url, json={"key_id": world.key_ids["olga"], "signature": "AAAA"}, headers=auth["olga"]
    )
    assert (forged.status_code, forged.json()["code"]) == (400, "signature_invalid")
    anonymous = client.post(url, json={"key_id": world.key_ids["olga"], "signature": "AAAA"})
    assert anonymous.status_code == 401
    missing = client.post(
        "/api/v1/safety/releases/rel_none/approvals",
        json={"key_id": world.key_ids["olga"], "signature": "AAAA"},
        headers=auth["olga"],
    )
    assert missing.status_code == 404


def test_role_checks_on_release_writes(client: TestClient, auth: dict[str, dict[str, str]]) -> None:
    assert _request(client, {}).status_code == 401
    assert _request(client, auth["audrey"]).status_code == 403
    release = _request(client, auth["rita"]).json()
    base = f"/api/v1/safety/releases/{release['id']}"
    assert client.post(f"{base}/refuse", headers=auth["rita"]).status_code == 403
    assert client.post(f"{base}/withdraw", headers=auth["olga"]).status_code == 403
    assert (
        client.post(f"{base}/evaluations", json={"name": "red-team"}, headers=auth["audrey"]).status_code
        == 403
    )
    assert client.post(f"{base}/refuse", headers=auth["olga"]).json()["status"] == "refused"
    second = _request(client, auth["rita"]).json()
    withdrawn = client.post(f"/api/v1/safety/releases/{second['id']}/withdraw", headers=auth["rita"])
    assert withdrawn.json()["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"from_label": "L9"}, "from_label"),
        ({"to_label": "L1+bad category"}, "to_label"),
        ({"sha256": "AB" * 32}, "sha256"),
        ({"evaluations": ["Bad Name"]}, "evaluations.0"),
        ({"artifact": "x\x00y"}, "artifact"),
        ({"extra": 1}, "extra"),
        ({"motion_id": "mot_1"}, "motion_id"),  # attached once the council adopted it for the release
    ],
)
def test_bad_bodies_name_their_field(
    client: TestClient, auth: dict[str, dict[str, str]], changes: dict[str, Any], field: str
) -> None:
    response = _request(client, auth["rita"], **changes)
    assert response.status_code == 422, response.text
    assert any(e["field"] == f"body.{field}" for e in response.json()["errors"]), response.json()


def test_domain_refusals_name_their_field(client: TestClient, auth: dict[str, dict[str, str]]) -> None:
    for changes, status, field in [
        ({"artifact": "job_9/none"}, 404, "artifact"),
        ({"sha256": "ab" * 32}, 400, "sha256"),
        ({"from_label": "L3+project:p1"}, 400, "from_label"),
        ({"to_label": "L2+project:p1"}, 400, "to_label"),
    ]:
        response = _request(client, auth["rita"], **changes)
        assert (response.status_code, response.json().get("field")) == (status, field), response.text


def test_incidents_over_http(client: TestClient, auth: dict[str, dict[str, str]]) -> None:
    body = {"subject_kind": "project", "subject": "p1", "summary": "weights seen outside"}
    assert client.post("/api/v1/safety/incidents", json=body).status_code == 401
    assert client.post("/api/v1/safety/incidents", json=body, headers=auth["rita"]).status_code == 403
    unknown = client.post("/api/v1/safety/incidents", json={**body, "subject": "p9"}, headers=auth["olga"])
    assert (unknown.status_code, unknown.json()["field"]) == (404, "subject")
    opened = client.post("/api/v1/safety/incidents", json=body, headers=auth["olga"])
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert incident["details_withheld"] is True
    assert {(a["action"], a["target"]) for a in incident["actions"]} == {
        ("freeze-artifact", "project:p1"),
        ("preempt-job", "job_1"),
    }
    (listed,) = client.get("/api/v1/safety/incidents").json()
    assert (listed["summary"], listed["status"], listed["details_withheld"]) == (
        "weights seen outside",
        "open",
        True,
    )
    frozen = _request(client, auth["rita"])
    assert (frozen.status_code, frozen.json()["code"]) == (409, "artifact_frozen")
    lift = f"/api/v1/safety/incidents/{incident['id']}/lift"
    assert client.post(lift, headers=auth["rita"]).status_code == 403
    assert client.post(lift, headers=auth["olga"]).json()["status"] == "lifting"
    assert client.post(lift, headers=auth["olga"]).json()["code"] == "same_officer"
    assert client.post(lift, headers=auth["omar"]).json()["status"] == "lifted"
    assert client.get(f"/api/v1/safety/incidents/{incident['id']}").json()["lift_by"] == ["olga", "omar"]
    assert client.get("/api/v1/safety/incidents/inc_none").status_code == 404
