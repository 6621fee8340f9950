"""Roles are checked on every non-public endpoint; errors are problem+json naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from pnyx.identity.model import Principal
from pnyx.identity.rules import MAX_TOKENS_PER_HOUR
from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import World

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
        dataclasses.replace(platform, inventory=Broken()),  # type: ignore[arg-type]
        run_appender=False,
        run_dispatcher=False,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/inventory/summary")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "internal_error"
    assert "disk on fire" not in response.text  # details go to the server's log, not to callers


def test_operators_enrol_users_and_never_hold_their_tokens(
    client: TestClient, tokens: dict[str, str], platform: Platform
) -> None:
    op = {"Authorization": tokens["operator"]}
    platform.identity.register_user(name="newcomer", roles=["researcher"])
    refused = client.post("/api/v1/users/researcher/tokens", json={}, headers=op)
    assert (refused.status_code, refused.headers["content-type"]) == (403, PROBLEM)
    assert (refused.json()["code"], refused.json()["field"]) == ("not_in_person", "name")
    body = {"label": "welcome", "days": 3}
    not_op = {"Authorization": tokens["auditor"]}
    assert client.post("/api/v1/users/newcomer/enrolment", json=body, headers=not_op).status_code == 403
    assert client.post("/api/v1/users/newcomer/enrolment", json={"days": 8}, headers=op).status_code == 422
    enrolment = client.post("/api/v1/users/newcomer/enrolment", json=body, headers=op)
    assert enrolment.status_code == 201
    made = enrolment.json()
    assert (made["kind"], made["issued_by"]) == ("enrolment", platform.identity.user("operator").id)
    as_enrolment = client.get("/api/v1/me", headers={"Authorization": f"Bearer {made['secret']}"})
    assert (as_enrolment.status_code, as_enrolment.json()["code"]) == (401, "enrolment_token")
    redeemed = client.post("/api/v1/tokens/redeem", json={"secret": made["secret"], "label": "laptop"})
    assert redeemed.status_code == 201
    mine = redeemed.json()
    # issued by whoever enrolled the user: the record says who could have held it first
    assert (mine["kind"], mine["issued_by"]) == ("personal", platform.identity.user("operator").id)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {mine['secret']}"})
    assert me.json()["name"] == "newcomer"
    holder = client.post("/api/v1/users/researcher/enrolment", json=body, headers=op)
    assert (holder.status_code, holder.json()["code"]) == (409, "user_has_tokens")  # no silent takeover
    again = client.post("/api/v1/tokens/redeem", json={"secret": made["secret"]})
    assert (again.status_code, again.headers["content-type"]) == (401, PROBLEM)


def test_disabled_users_tokens_answer_401(
    client: TestClient, tokens: dict[str, str], platform: Platform
) -> None:
    op = {"Authorization": tokens["operator"]}
    pi = {"Authorization": tokens["researcher"]}
    assert client.get("/api/v1/me", headers=pi).status_code == 200
    assert client.post("/api/v1/users/researcher/disable", json={}, headers=pi).status_code == 403
    done = client.post("/api/v1/users/researcher/disable", json={"reason": "left"}, headers=op)
    assert (done.status_code, done.json()["disabled"]) == (200, True)
    response = client.get("/api/v1/me", headers=pi)
    assert (response.status_code, response.headers["content-type"]) == (401, PROBLEM)
    listed = client.get("/api/v1/users/researcher/tokens", headers=op).json()
    assert all(t["revoked_at"] is not None for t in listed)
    refused = client.post("/api/v1/users/researcher/enrolment", json={}, headers=op)
    assert (refused.status_code, refused.json()["code"]) == (409, "user_disabled")


def test_token_limits_answer_409_naming_the_field(client: TestClient, tokens: dict[str, str]) -> None:
    mine = {"Authorization": tokens["researcher"]}  # the fixture's token is the first this hour
    for _ in range(MAX_TOKENS_PER_HOUR - 1):
        assert client.post("/api/v1/users/researcher/tokens", json={}, headers=mine).status_code == 201
    response = client.post("/api/v1/users/researcher/tokens", json={}, headers=mine)
    assert (response.status_code, response.headers["content-type"]) == (409, PROBLEM)
    assert (response.json()["code"], response.json()["field"]) == ("token_rate_limit", "tokens_per_hour")


def test_team_members_confirm_in_person_over_http(
    client: TestClient, tokens: dict[str, str], platform: Platform
) -> None:
    w = World(platform)
    for name in ("researcher", "reviewer", "auditor"):
        user = platform.identity.user(name)
        w.principals[name] = Principal(user_id=user.id, name=name, roles=user.roles)
    call = w.call()
    platform.allocation.open_call(call.id)
    team = [{"name": "Rita Reviewer", "institution": "KTH", "user": "reviewer"}]
    p = w.propose(call, "researcher", team=team)
    url = f"/api/v1/proposals/{p.id}"
    shown = client.get(url, headers={"Authorization": tokens["researcher"]}).json()
    assert [m["confirmed"] for m in shown["team"]] == [True, False]
    outsider = client.post(f"{url}/team/confirm", headers={"Authorization": tokens["auditor"]})
    assert (outsider.status_code, outsider.json()["code"]) == (403, "not_on_team")
    confirmed = client.post(f"{url}/team/confirm", headers={"Authorization": tokens["reviewer"]})
    assert confirmed.status_code == 200
    assert [m["confirmed"] for m in confirmed.json()["team"]] == [True, True]
