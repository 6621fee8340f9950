"""The council over HTTP: roles, the public reads, refusals as problem+json naming the field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pnyx.wiring import Platform

PROBLEM = "application/problem+json"


def setup_council(platform: Platform) -> dict[str, dict[str, str]]:
    auth = {}
    for code, contribution in (("DE", 300), ("FR", 200), ("NL", 100)):
        platform.member_states.admit(
            code=code, name=code, contribution_minor_units=contribution, population=10
        )
        name = f"delegate{code.lower()}"
        platform.identity.register_user(name=name, roles=["delegate"], member_state=code)
        auth[code] = {"Authorization": "Bearer " + platform.identity.issue_token(name).secret}
    return auth


def test_a_vote_over_http(client: TestClient, tokens: dict[str, str], platform: Platform) -> None:
    delegates = setup_council(platform)
    operator = {"Authorization": tokens["operator"]}
    body = {
        "title": "Open calls get a fifth",
        "text": "Split capacity 70/20/5/5.",
        "decision_type": "ordinary",
        "effect": {
            "type": "set_pool_split",
            "member_pools": "0.7",
            "open_calls": "0.2",
            "sme": "0.05",
            "directors_reserve": "0.05",
        },
    }
    assert client.post("/api/v1/council/motions", json=body).status_code == 401
    assert (
        client.post(
            "/api/v1/council/motions", json=body, headers={"Authorization": tokens["researcher"]}
        ).status_code
        == 403
    )
    created = client.post("/api/v1/council/motions", json=body, headers=delegates["NL"])
    assert created.status_code == 201, created.json()
    motion = created.json()["id"]
    assert created.json()["state"] == "deliberation"
    comment = client.post(
        f"/api/v1/council/motions/{motion}/comments", json={"text": "Agreed."}, headers=delegates["FR"]
    )
    assert comment.status_code == 201
    assert client.get(f"/api/v1/council/motions/{motion}/comments").json()[0]["member_state"] == "FR"

    assert (
        client.post(f"/api/v1/council/motions/{motion}/voting", json={}, headers=delegates["NL"]).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/council/motions/{motion}/voting", json={}, headers=operator).json()["state"]
        == "voting"
    )
    for code, choice in (("DE", "no"), ("FR", "yes"), ("NL", "yes")):
        response = client.post(
            f"/api/v1/council/motions/{motion}/ballots", json={"choice": choice}, headers=delegates[code]
        )
        assert response.status_code == 201, response.json()

    twice = client.post(
        f"/api/v1/council/motions/{motion}/ballots", json={"choice": "yes"}, headers=delegates["DE"]
    )
    assert (twice.status_code, twice.json()["code"], twice.headers["content-type"]) == (
        409,
        "already_voted",
        PROBLEM,
    )
    other = client.post(
        f"/api/v1/council/motions/{motion}/ballots",
        json={"choice": "no", "member_state": "FR"},
        headers=delegates["DE"],
    )
    assert (other.status_code, other.json()["code"], other.json()["field"]) == (
        403,
        "not_your_state",
        "member_state",
    )
    other = client.put(
        f"/api/v1/council/motions/{motion}/ballots/FR", json={"choice": "no"}, headers=delegates["DE"]
    )
    assert other.status_code == 403
    by_operator = client.post(
        f"/api/v1/council/motions/{motion}/ballots", json={"choice": "no"}, headers=operator
    )
    assert by_operator.status_code == 403
    changed = client.put(
        f"/api/v1/council/motions/{motion}/ballots/DE", json={"choice": "abstain"}, headers=delegates["DE"]
    )
    assert changed.status_code == 200
    assert changed.json()["changed_at"] is not None
    assert [b["choice"] for b in client.get(f"/api/v1/council/motions/{motion}/ballots").json()] == [
        "abstain",
        "yes",
        "yes",
    ]

    closed = client.post(f"/api/v1/council/motions/{motion}/close", headers=operator)
    assert closed.status_code == 200
    assert closed.json()["state"] == "adopted"
    assert closed.json()["outcome"]["conditions"][0]["met"]
    late = client.post(
        f"/api/v1/council/motions/{motion}/ballots", json={"choice": "no"}, headers=delegates["DE"]
    )
    assert (late.status_code, late.json()["code"]) == (409, "voting_closed")

    files = client.get(f"/api/v1/council/motions/{motion}/tally-files").json()
    assert files["ballots"]["ballots"] == {"DE": "abstain", "FR": "yes", "NL": "yes"}
    in_force = client.get("/api/v1/policies/in-force").json()
    assert in_force["pool_split"]["open_calls"] == "1/5"
    assert in_force["member_shares"]["DE"] == "0.5"
    assert in_force["policies"][0]["motion_id"] == motion
    assert client.get("/api/v1/policies").json()[0]["kind"] == "pool_split"
    assert client.get("/api/v1/council/motions").json()[0]["id"] == motion


def test_bad_council_input_names_the_field(
    client: TestClient, tokens: dict[str, str], platform: Platform
) -> None:
    delegates = setup_council(platform)
    base = {"title": "t", "text": "x", "decision_type": "ordinary"}
    response = client.post(
        "/api/v1/council/motions", json={**base, "decision_type": "coronation"}, headers=delegates["DE"]
    )
    assert (response.status_code, response.json()["code"], response.json()["field"]) == (
        400,
        "unknown_decision_type",
        "decision_type",
    )
    response = client.post(
        "/api/v1/council/motions",
        json={**base, "effect": {"type": "set_pool_split", "sme": "1"}},
        headers=delegates["DE"],
    )
    assert (response.status_code, response.json()["field"]) == (400, "effect.member_pools")
    response = client.post("/api/v1/council/motions", json={**base, "colour": "red"}, headers=delegates["DE"])
    assert response.status_code == 422
    assert client.get("/api/v1/council/motions").json() == []
    operator = {"Authorization": tokens["operator"]}
    bad_rules = {"name": "r", "decision_types": {"t": {"majorities": [{"name": "s", "threshold": "most"}]}}}
    response = client.put("/api/v1/council/rules", json=bad_rules, headers=operator)
    assert (response.status_code, response.json()["field"]) == (
        400,
        "decision_types.t.majorities[0].threshold",
    )
    assert client.put("/api/v1/council/rules", json=bad_rules, headers=delegates["DE"]).status_code == 403
    assert client.get("/api/v1/council/rules").json()["name"].startswith("default")
    assert client.get("/api/v1/council/motions/mot_nope").status_code == 404
    response = client.get("/api/v1/policies/in-force", params={"at": "2027-01-01T00:00:00"})
    assert (response.status_code, response.json()["field"]) == (422, "query.at")
    assert client.get("/api/v1/policies/in-force", params={"at": "2027-01-01T00:00:00Z"}).status_code == 200


def test_council_portal_pages(client: TestClient, platform: Platform) -> None:
    delegates = setup_council(platform)
    assert "No motions yet" in client.get("/portal/council").text
    motion = client.post(
        "/api/v1/council/motions",
        json={"title": "A resolution on openness", "text": "Open weights.", "decision_type": "ordinary"},
        headers=delegates["DE"],
    ).json()["id"]
    page = client.get("/portal/council")
    assert page.status_code == 200
    assert "A resolution on openness" in page.text
    detail = client.get(f"/portal/council/motions/{motion}")
    assert "Open weights." in detail.text
    assert client.get("/portal/council/motions/nope").status_code == 404
    policies = client.get("/portal/policies")
    assert policies.status_code == 200
    assert "50.00%" in policies.text  # DE's contribution share
