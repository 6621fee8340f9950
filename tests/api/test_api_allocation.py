"""Calls, proposals, review and awards over HTTP, with role checks and reviewer anonymity."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from pnyx.core.clock import FrozenClock
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import form, score

T = "2026-11-25T09:00:00Z"


def call_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Regular access 2027",
        "mode": "regular",
        "pool": "open_calls",
        "budget_hours": 50000,
        "applicant_types": ["researcher"],
        "max_request_hours": 40000,
        "member_state_required": False,
        "opens_at": T,
        "closes_at": "2026-12-25T09:00:00Z",
        "review_deadline": "2027-01-25T09:00:00Z",
        "decision_at": "2027-02-10T09:00:00Z",
        "allocation_starts_at": "2027-03-01T00:00:00Z",
        "allocation_ends_at": "2028-03-01T00:00:00Z",
        "technical_reviewers": 1,
        "scientific_reviewers": 1,
    }
    return body | overrides


def second_reviewer(platform: Platform) -> str:
    platform.identity.register_user(name="rita", roles=["reviewer"])
    platform.review.register_reviewer("rita", institution="KTH", expertise=["llm"])
    return "Bearer " + platform.identity.issue_token("rita").secret


def test_public_sees_open_calls_only(client: TestClient, tokens: dict[str, str]) -> None:
    op = {"Authorization": tokens["operator"]}
    assert (
        client.post(
            "/api/v1/calls", json=call_body(), headers={"Authorization": tokens["researcher"]}
        ).status_code
        == 403
    )
    assert client.post("/api/v1/calls", json=call_body()).status_code == 401
    call = client.post("/api/v1/calls", json=call_body(), headers=op).json()
    assert client.get("/api/v1/calls").json() == []  # a draft is not public
    assert "Regular access 2027" not in client.get("/portal/access").text
    assert client.get(f"/api/v1/calls/{call['id']}").status_code == 403
    assert len(client.get("/api/v1/calls", headers=op).json()) == 1
    client.post(f"/api/v1/calls/{call['id']}/open", headers=op).raise_for_status()
    public = client.get("/api/v1/calls").json()
    assert [c["state"] for c in public] == ["open"]
    assert public[0]["budget_hours"] == 50000


def test_bad_call_is_a_problem(client: TestClient, tokens: dict[str, str]) -> None:
    op = {"Authorization": tokens["operator"]}
    r = client.post("/api/v1/calls", json=call_body(budget_hours=0), headers=op)
    assert r.status_code == 400
    assert r.json()["field"] == "budget"
    r = client.post("/api/v1/calls", json=call_body(mode="benchmark"), headers=op)
    assert r.status_code == 400
    assert r.json()["field"] == "scientific_reviewers"
    assert client.get("/api/v1/calls", headers=op).json() == []


def test_whole_flow(
    client: TestClient, tokens: dict[str, str], platform: Platform, clock: FrozenClock
) -> None:
    op = {"Authorization": tokens["operator"]}
    pi = {"Authorization": tokens["researcher"]}
    rev = {"Authorization": tokens["reviewer"]}
    rita = {"Authorization": second_reviewer(platform)}
    client.post(
        "/api/v1/reviewers", json={"user": "reviewer", "institution": "ETH", "expertise": ["llm"]}, headers=op
    ).raise_for_status()
    assert len(client.get("/api/v1/reviewers", headers=op).json()) == 2
    call = client.post("/api/v1/calls", json=call_body(), headers=op).json()
    client.post(f"/api/v1/calls/{call['id']}/open", headers=op).raise_for_status()
    platform.identity.register_user(name="other", roles=["researcher"], member_state="FR")

    body = form(suggested_reviewers=["rita"]) | {"call_id": call["id"]}
    r = client.post("/api/v1/proposals", json=body, headers=pi)
    assert r.status_code == 201, r.text
    proposal = r.json()
    assert proposal["state"] == "draft"
    too_big = client.put(
        f"/api/v1/proposals/{proposal['id']}", json=form(requested_hours={"H100": 45000}), headers=pi
    )
    assert too_big.status_code == 200
    r = client.post(f"/api/v1/proposals/{proposal['id']}/submit", headers=pi)
    assert r.status_code == 400
    assert r.json()["code"] == "request_too_large"
    client.put(
        f"/api/v1/proposals/{proposal['id']}", json=form(suggested_reviewers=["rita"]), headers=pi
    ).raise_for_status()
    assert (
        client.post(f"/api/v1/proposals/{proposal['id']}/submit", headers=pi).json()["state"] == "submitted"
    )
    assert client.get("/api/v1/proposals", headers=pi).json()[0]["id"] == proposal["id"]
    assert (
        client.get(f"/api/v1/proposals/{proposal['id']}", headers=rev).status_code == 403
    )  # not assigned yet

    clock.advance(timedelta(days=31))
    client.post(f"/api/v1/calls/{call['id']}/close", headers=op).raise_for_status()
    assert client.post(f"/api/v1/calls/{call['id']}/review", headers=op).json() == {"assignments": 2}
    mine = client.get("/api/v1/reviews/assignments", headers=rev).json()
    assert len(mine) == 1
    seen = client.get(f"/api/v1/proposals/{proposal['id']}", headers=rev).json()
    assert seen["suggested_reviewers"] is None  # reviewers do not see who was suggested
    kind = mine[0]["kind"]
    bad = score(kind, 3) | {next(iter(score(kind, 3))): 6}
    r = client.post(
        f"/api/v1/proposals/{proposal['id']}/reviews", json={"scores": bad, "comments": "x"}, headers=rev
    )
    assert r.status_code == 400
    assert r.json()["code"] == "score_out_of_range"
    r = client.post(
        f"/api/v1/proposals/{proposal['id']}/reviews",
        json={"scores": score(kind, 4), "comments": "x"},
        headers=pi,
    )
    assert r.status_code == 403
    assert r.json()["code"] == "own_proposal"
    for who in (rev, rita):
        kind = client.get("/api/v1/reviews/assignments", headers=who).json()[0]["kind"]
        client.post(
            f"/api/v1/proposals/{proposal['id']}/reviews",
            json={"scores": score(kind, 4), "comments": "SECRET review text"},
            headers=who,
        ).raise_for_status()

    reviews = client.get(f"/api/v1/proposals/{proposal['id']}/reviews", headers=pi)
    assert {v["reviewer"] for v in reviews.json()} == {"technical reviewer 1", "scientific reviewer 1"}
    reviewer_ids = {u.id for u in platform.identity.list_users() if u.name in {"reviewer", "rita"}}
    assert not any(i in reviews.text for i in reviewer_ids)
    assert "reviewer_id" not in reviews.text
    staff = client.get(
        f"/api/v1/proposals/{proposal['id']}/reviews", headers={"Authorization": tokens["auditor"]}
    )
    assert {v["reviewer_id"] for v in staff.json()} == reviewer_ids
    other = {"Authorization": "Bearer " + platform.identity.issue_token("other").secret}
    assert client.get(f"/api/v1/proposals/{proposal['id']}/reviews", headers=other).status_code == 403
    assert client.get(f"/api/v1/proposals/{proposal['id']}", headers=other).status_code == 403

    client.post(
        f"/api/v1/proposals/{proposal['id']}/reply", json={"reply": "Thanks"}, headers=pi
    ).raise_for_status()
    ranking = client.post(f"/api/v1/calls/{call['id']}/rank", headers=op).json()
    assert ranking[0]["merit"] == "4.00"
    awards = client.post(f"/api/v1/calls/{call['id']}/decide", json={}, headers=op).json()
    assert awards[0]["total_hours"] == 20000
    public = client.get("/api/v1/awards").json()
    assert public[0]["project_id"] == awards[0]["project_id"]
    record = client.get(f"/api/v1/calls/{call['id']}/awards").json()
    assert record["awarded_hours"] == 20000
    assert "SECRET" not in client.get(f"/api/v1/calls/{call['id']}/awards").text
    assert client.get("/api/v1/allocations", headers=pi).status_code == 403
    at = {"at": "2027-06-01T00:00:00Z"}
    active = client.get("/api/v1/allocations", params=at, headers=op).json()
    assert [a["project_id"] for a in active] == [awards[0]["project_id"]]
    shares = client.get("/api/v1/allocations/shares", params=at, headers=op).json()
    assert shares[0]["share_of_pool"] == "1"
    page = client.get("/portal/access")
    assert page.status_code == 200
    assert awards[0]["project_id"] in page.text
    assert "Regular access 2027" in page.text
    assert "SECRET" not in page.text


def test_conflicts_and_waivers(client: TestClient, tokens: dict[str, str], platform: Platform) -> None:
    op = {"Authorization": tokens["operator"]}
    pi = {"Authorization": tokens["researcher"]}
    rev = {"Authorization": tokens["reviewer"]}
    client.post(
        "/api/v1/reviewers",
        json={"user": "reviewer", "institution": "Uni Nowhere", "expertise": ["llm"]},
        headers=op,
    ).raise_for_status()
    call = client.post("/api/v1/calls", json=call_body(), headers=op).json()
    client.post(f"/api/v1/calls/{call['id']}/open", headers=op).raise_for_status()
    p = client.post("/api/v1/proposals", json=form() | {"call_id": call["id"]}, headers=pi).json()
    found = client.get(f"/api/v1/proposals/{p['id']}/conflicts", headers=op).json()
    assert [c["kind"] for c in found] == ["same-institution"]
    assert client.get(f"/api/v1/proposals/{p['id']}/conflicts", headers=pi).status_code == 403
    r = client.post(
        f"/api/v1/proposals/{p['id']}/waivers",
        json={
            "reviewer": "reviewer",
            "kinds": ["same-institution"],
            "reason": "different department, no contact",
        },
        headers=op,
    )
    assert r.status_code == 201
    assert client.get(f"/api/v1/proposals/{p['id']}/conflicts", headers=op).json()[0]["waived"] is True
    r = client.post(f"/api/v1/proposals/{p['id']}/conflicts", json={"reason": "my cousin"}, headers=rev)
    assert r.status_code == 204
    kinds = {
        c["kind"]: c["waived"]
        for c in client.get(f"/api/v1/proposals/{p['id']}/conflicts", headers=op).json()
    }
    assert kinds == {"same-institution": True, "declared": False}
