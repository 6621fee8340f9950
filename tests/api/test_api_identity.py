"""Roles are checked on every non-public endpoint; errors are problem+json naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pnyx.wiring import Platform

PROBLEM = "application/problem+json"


def test_public_endpoints_need_no_token(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/api/v1/member-states").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/v1/users", {"operator", "auditor"}),
        ("GET", "/api/v1/inventory/nodes", {"operator", "auditor"}),
    ],
)
def test_roles_are_enforced(
    client: TestClient, tokens: dict[str, str], method: str, path: str, allowed: set[str], platform: Platform
) -> None:
    platform.inventory.generate(64)
    assert client.request(method, path).status_code == 401
    for role, header in tokens.items():
        status = client.request(method, path, headers={"Authorization": header}).status_code
        assert status == (200 if role in allowed else 403), role


def test_only_operators_add_users(client: TestClient, tokens: dict[str, str]) -> None:
    body = {"name": "newbie", "roles": ["researcher"]}
    for role, header in tokens.items():
        response = client.post("/api/v1/users", json=body, headers={"Authorization": header})
        if role == "operator":
            assert response.status_code == 201
            assert response.json()["roles"] == ["researcher"]
        else:
            assert response.status_code == 403
            assert response.headers["content-type"] == PROBLEM


def test_wrong_token_is_401_with_problem(client: TestClient) -> None:
    for header in ("Bearer wrong", "Basic abc", "Bearer "):
        response = client.get("/api/v1/me", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"] == "Bearer"


def test_malformed_body_names_the_field(client: TestClient, tokens: dict[str, str]) -> None:
    auth = {"Authorization": tokens["operator"]}
    response = client.post("/api/v1/users", json={"name": "x1", "roles": ["wizard"]}, headers=auth)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert problem["field"] == "body.roles.0"
    response = client.post("/api/v1/users", json={"name": "Bad Name", "roles": ["auditor"]}, headers=auth)
    assert (response.status_code, response.json()["field"]) == (400, "name")
    response = client.post(
        "/api/v1/users", content=b"{not json", headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 422


def test_nothing_half_written_on_failure(
    client: TestClient, tokens: dict[str, str], platform: Platform
) -> None:
    auth = {"Authorization": tokens["operator"]}
    before = len(platform.identity.list_users())
    assert (
        client.post(
            "/api/v1/users", json={"name": "operator", "roles": ["auditor"]}, headers=auth
        ).status_code
        == 409
    )
    assert len(platform.identity.list_users()) == before


def test_token_lifecycle_over_http(client: TestClient, tokens: dict[str, str]) -> None:
    auth = {"Authorization": tokens["researcher"]}
    created = client.post("/api/v1/users/researcher/tokens", json={"label": "ci", "days": 7}, headers=auth)
    assert created.status_code == 201
    secret = created.json()["secret"]
    mine = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=mine).json() == {"name": "researcher", "roles": ["researcher"]}
    listed = client.get("/api/v1/users/researcher/tokens", headers=auth).json()
    assert all("secret" not in t for t in listed)
    assert client.post("/api/v1/users/operator/tokens", json={}, headers=auth).status_code == 403
    assert client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=auth).status_code == 200
    assert client.get("/api/v1/me", headers=mine).status_code == 401


def test_member_states_admitted_by_operators(client: TestClient, tokens: dict[str, str]) -> None:
    body = {"code": "DE", "name": "Germany", "contribution_minor_units": 100, "population": 84_000_000}
    assert client.post("/api/v1/member-states", json=body).status_code == 401
    assert (
        client.post(
            "/api/v1/member-states", json=body, headers={"Authorization": tokens["delegate"]}
        ).status_code
        == 403
    )
    response = client.post("/api/v1/member-states", json=body, headers={"Authorization": tokens["operator"]})
    assert response.status_code == 201
    assert response.json()["contribution_share"] == 1.0
    bad = {**body, "code": "D1"}
    response = client.post("/api/v1/member-states", json=bad, headers={"Authorization": tokens["operator"]})
    assert (response.status_code, response.json()["field"]) == (400, "code")


def test_an_unexpected_failure_is_still_problem_json(platform: Platform) -> None:
    import dataclasses

    from pnyx.server import create_app

    class Broken:
        def summary(self) -> object:
            raise RuntimeError("disk on fire")

    app = create_app(
        dataclasses.replace(platform, inventory=Broken()),
        run_appender=False,  # type: ignore[arg-type]
        run_dispatcher=False,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/inventory/summary")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "internal_error"
    assert "disk on fire" not in response.text  # details go to the server's log, not to callers
