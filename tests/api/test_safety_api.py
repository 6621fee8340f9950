"""Safety over HTTP: the public sees levels and keys only; officers act; bad input names its field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.wiring import Platform
from tests.integration.test_safety_classification import Facility, public_key

BASE = "/api/v1/safety"


@pytest.fixture
def facility(platform: Platform) -> Facility:
    return Facility(platform)


@pytest.fixture
def officers(platform: Platform, facility: Facility) -> dict[str, dict[str, str]]:
    """Bearer headers of the two officers, sofia and omar."""
    return {
        n: {"Authorization": "Bearer " + platform.identity.issue_token(n).secret} for n in ("sofia", "omar")
    }


def as_(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": tokens[role]}


def post(client: TestClient, path: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    return client.post(BASE + path, headers=headers or {}, json=body or None)


def test_the_public_sees_projects_per_level_and_nothing_else(
    client: TestClient, facility: Facility, platform: Platform
) -> None:
    narrow, wide = facility.project(), facility.project(general_purpose=True)
    for project in (narrow, wide):
        platform.safety.ensure_classified(project)
    levels = client.get(BASE + "/levels")
    assert levels.status_code == 200
    assert levels.json() == [
        {"level": "L1", "count": 1, "projects": [narrow]},
        {"level": "L2", "count": 1, "projects": [wide]},
        {"level": "L3", "count": 0, "projects": []},
        {"level": "L4", "count": 0, "projects": []},
    ]
    assert client.get(f"{BASE}/classifications/{wide}").status_code == 401
    assert client.get(BASE + "/queue").status_code == 401


def test_classification_flow(
    client: TestClient, tokens: dict[str, str], facility: Facility, officers: dict[str, dict[str, str]]
) -> None:
    project = facility.project(general_purpose=True)
    path = f"/classifications/{project}"
    assert post(client, path).status_code == 401
    assert post(client, path, as_(tokens, "researcher")).status_code == 403
    made = post(client, path, as_(tokens, "operator"))
    assert made.status_code == 200
    assert made.json() | {"basis": "", "updated_at": ""} == {
        "project": project,
        "level": "L2",
        "status": "proposed",
        "basis": "",
        "categories": [],
        "metered_flop": "0",
        "decided_by": [],
        "pending_level": None,
        "pending_by": None,
        "holds_jobs": True,
        "updated_at": "",
    }
    assert client.get(BASE + path, headers=as_(tokens, "auditor")).json()["level"] == "L2"
    assert client.get(BASE + path, headers=as_(tokens, "researcher")).status_code == 403
    queue = client.get(BASE + "/queue", headers=officers["sofia"]).json()
    assert [c["project"] for c in queue] == [project]

    assert post(client, path + "/confirm", as_(tokens, "operator")).status_code == 403
    confirmed = post(client, path + "/confirm", officers["sofia"]).json()
    assert (confirmed["status"], confirmed["decided_by"]) == ("confirmed", ["sofia"])
    raised = post(client, path + "/raise", officers["omar"], level="L3").json()
    assert (raised["level"], raised["status"]) == ("L3", "confirmed")

    lowering = post(client, path + "/lower", officers["sofia"], level="L2").json()
    assert (lowering["status"], lowering["pending_level"], lowering["pending_by"]) == (
        "lowering",
        "L2",
        "sofia",
    )
    same = post(client, path + "/agree-lower", officers["sofia"])
    assert (same.status_code, same.json()["field"], same.json()["code"]) == (403, "by", "same_officer")
    lowered = post(client, path + "/agree-lower", officers["omar"]).json()
    assert (lowered["level"], lowered["status"], lowered["decided_by"]) == (
        "L2",
        "confirmed",
        ["sofia", "omar"],  # each officer once (finding F7)
    )
    assert client.get(BASE + "/queue", headers=as_(tokens, "auditor")).json() == []


def test_bad_input_names_its_field(
    client: TestClient, tokens: dict[str, str], facility: Facility, officers: dict[str, dict[str, str]]
) -> None:
    project = facility.project(general_purpose=True)
    path = f"/classifications/{project}"
    sofia = officers["sofia"]
    assert post(client, path, as_(tokens, "operator")).status_code == 200
    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (path + "/raise", {"level": "L7"}, 422, "body.level"),
        (path + "/raise", {"level": "L1"}, 400, "level"),
        (path + "/raise", {"level": "L3", "why": "x"}, 422, "body.why"),
        (path + "/raise", {}, 422, "body"),
        (path + "/lower", {"level": "L2"}, 400, "level"),
        (path + "/agree-lower", {}, 409, "status"),
        ("/classifications/prj_none/confirm", {}, 404, "project_id"),
        ("/classifications/prj_none", {}, 404, "project_id"),
    ]
    for where, body, code, field in cases:
        response = client.post(BASE + where, headers=sofia, json=body or None)
        assert (response.status_code, response.json()["field"]) == (code, field), (where, response.json())
    assert client.get(BASE + path, headers=sofia).json()["status"] == "proposed"


def test_approvers_register_and_revoke_keys(
    client: TestClient, tokens: dict[str, str], facility: Facility, officers: dict[str, dict[str, str]]
) -> None:
    key = public_key()
    assert post(client, "/keys", public_key=key).status_code == 401
    assert post(client, "/keys", as_(tokens, "researcher"), public_key=key).status_code == 403
    bad = post(client, "/keys", officers["sofia"], public_key="not a key")
    assert (bad.status_code, bad.json()["field"]) == (400, "public_key")
    made = post(client, "/keys", officers["sofia"], public_key=key)
    assert made.status_code == 201
    key_id = made.json()["key_id"]
    assert (made.json()["user"], made.json()["public_key"]) == ("sofia", key)
    again = post(client, "/keys", officers["omar"], public_key=key)
    assert (again.status_code, again.json()["code"]) == (409, "key_exists")
    listed = client.get(BASE + "/keys", params={"user": "sofia"}).json()
    assert [k["key_id"] for k in listed] == [key_id]
    assert client.get(BASE + "/keys", params={"user": "Not A Name"}).status_code == 422
    assert post(client, f"/keys/{key_id}/revoke", officers["omar"]).status_code == 403
    assert post(client, "/keys/XYZ/revoke", officers["sofia"]).status_code == 422
    revoked = post(client, f"/keys/{key_id}/revoke", officers["sofia"])
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert post(client, f"/keys/{key_id}/revoke", officers["sofia"]).status_code == 409


def test_openapi_documents_the_safety_endpoints(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/levels", "/queue", "/classifications/{project_id}/raise", "/keys/{key_id}/revoke"):
        assert BASE + path in paths
    raise_body = paths[BASE + "/classifications/{project_id}/raise"]["post"]["requestBody"]
    assert raise_body["required"] is True
