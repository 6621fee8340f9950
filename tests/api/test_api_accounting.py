"""Accounting over HTTP: the per-state comparison is public; recording usage needs an operator."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pnyx.wiring import Platform

USAGE = {
    "job_id": "j1",
    "project_id": "p1",
    "accelerator_type": "H100-SXM",
    "accelerators": 16,
    "started_at": "2026-11-02T00:00:00Z",
    "ended_at": "2026-11-02T10:00:00Z",
    "member_state": "DE",
}


def test_usage_flow(client: TestClient, tokens: dict[str, str], platform: Platform) -> None:
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=1, population=1)
    platform.inventory.generate(64)
    assert client.post("/api/v1/accounting/usage", json=USAGE).status_code == 401
    assert (
        client.post(
            "/api/v1/accounting/usage", json=USAGE, headers={"Authorization": tokens["researcher"]}
        ).status_code
        == 403
    )
    created = client.post(
        "/api/v1/accounting/usage", json=USAGE, headers={"Authorization": tokens["operator"]}
    )
    assert created.status_code == 201
    assert created.json()["accelerator_seconds"] == 16 * 36000
    report = client.get("/api/v1/accounting/member-states", params={"period": "2026-11"}).json()
    assert report["states"][0]["used_hours"] == "160.00"
    assert client.get("/api/v1/accounting/usage", params={"by": "project"}).status_code == 403
    assert (
        client.get("/api/v1/accounting/usage", params={"by": "pool", "period": "2026-11"}).status_code == 200
    )
    standing = client.get("/api/v1/accounting/projects/p1", headers={"Authorization": tokens["auditor"]})
    assert standing.json()["standing"] == "no-allocation"


def test_bad_usage_input(client: TestClient, tokens: dict[str, str]) -> None:
    auth = {"Authorization": tokens["operator"]}
    naive = {**USAGE, "started_at": "2026-11-02T00:00:00"}
    assert client.post("/api/v1/accounting/usage", json=naive, headers=auth).status_code == 422
    response = client.get("/api/v1/accounting/member-states", params={"period": "soon"})
    assert (response.status_code, response.json()["field"]) == (400, "period")
    response = client.post("/api/v1/accounting/usage", json={**USAGE, "accelerators": 0}, headers=auth)
    assert response.json()["field"] == "body.accelerators"
