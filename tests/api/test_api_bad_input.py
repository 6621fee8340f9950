"""Bad input answers 4xx problem+json naming the field, never a 500, on both databases, anonymous or not.

What the fuzzer found: integers past 64 bits, periods and times outside any sane range, naive times,
NUL characters and lone surrogates that PostgreSQL (or the UTF-8 encoder) refuses, numbers written
to make ``Fraction`` compute for minutes. The last test is a bounded schemathesis run (marked slow).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.wiring import Platform
from tests.unit.allocation.allocation_builders import form

PROBLEM = "application/problem+json"
BIG = 2**63  # one past what both databases store
T = "2026-11-25T09:00:00Z"


def assert_problem(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field


def post(client: TestClient, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    """JSON with escapes (``\\ud800`` cannot be sent as UTF-8, but JSON can spell it)."""
    headers = {"Content-Type": "application/json"} | ({"Authorization": token} if token else {})
    return client.post(path, content=json.dumps(body), headers=headers)


def call_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Regular access 2027",
        "mode": "regular",
        "pool": "open_calls",
        "budget_hours": 50000,
        "applicant_types": ["researcher"],
        "member_state_required": False,
        "opens_at": T,
        "closes_at": "2026-12-25T09:00:00Z",
        "review_deadline": "2027-01-25T09:00:00Z",
        "decision_at": "2027-02-10T09:00:00Z",
        "allocation_starts_at": "2027-03-01T00:00:00Z",
        "allocation_ends_at": "2028-03-01T00:00:00Z",
    }
    return body | overrides


def proposal(**overrides: Any) -> dict[str, Any]:
    return {"call_id": "c"} | form(**overrides)


def member_state(**overrides: Any) -> dict[str, Any]:
    return {"code": "PT", "name": "P", "contribution_minor_units": 1, "population": 1} | overrides


def usage(**overrides: Any) -> dict[str, Any]:
    return USAGE | overrides


def motion(**overrides: Any) -> dict[str, Any]:
    return {"title": "A resolution", "text": "Open weights.", "decision_type": "ordinary"} | overrides


def reviewer(**overrides: Any) -> dict[str, Any]:
    return {"user": "r", "institution": "U", "expertise": ["llm"]} | overrides


def user(**overrides: Any) -> dict[str, Any]:
    return {"name": "ada", "roles": ["researcher"]} | overrides


USAGE = {
    "job_id": "j1",
    "project_id": "p1",
    "accelerator_type": "H100-SXM",
    "accelerators": 16,
    "started_at": "2026-11-02T00:00:00Z",
    "ended_at": "2026-11-02T10:00:00Z",
}
NUL_MEMBER = [{"name": "B", "institution": "U", "user": "\x00"}]
EARLY = "0001-01-01T00:00:00+14:00"  # before year 1 in UTC: overflowed on its way to the database
LATE = "9999-12-31T23:59:59-23:59"
NAIVE = "2027-01-01T00:00:00"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/log/entries", {"start": BIG}, "query.start"),
        ("/api/v1/log/entries/9223372036854775808", {}, "path.index"),
        ("/api/v1/log/proofs/inclusion/0", {"size": BIG}, "query.size"),
        ("/api/v1/log/proofs/consistency", {"first": BIG}, "query.first"),
        ("/api/v1/log/proofs/consistency", {"first": 1, "second": 10**30}, "query.second"),
    ],
)
def test_log_integers_past_64_bits_are_422(
    client: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    assert_problem(client.get(path, params=params), 422, field)


def test_log_reads_at_the_edge_of_64_bits_are_empty_or_missing(
    client: TestClient, platform: Platform
) -> None:
    platform.identity.register_user(name="someone", roles=["researcher"])
    platform.log.drain()
    assert client.get("/api/v1/log/entries", params={"start": BIG - 1, "count": 1000}).json() == []
    assert client.get(f"/api/v1/log/entries/{BIG - 1}").status_code == 404
    assert_problem(client.get("/api/v1/log/proofs/inclusion/0", params={"size": BIG - 1}), 400, "size")
    assert client.get("/log/tile/0/x999/x999/x999/x999/x999/x999/999").status_code == 404


@pytest.mark.parametrize(
    "period", ["9999-12", "0000-01", "1969-12", "2026-13", "9999", "9999-Q4", "9999-12-31..9999-12-31"]
)
@pytest.mark.parametrize("path", ["/api/v1/accounting/member-states", "/api/v1/accounting/usage"])
def test_periods_outside_the_years_are_400(client: TestClient, path: str, period: str) -> None:
    assert_problem(client.get(path, params={"period": period}), 400, "period")


def test_the_last_year_is_a_period(client: TestClient) -> None:
    response = client.get("/api/v1/accounting/usage", params={"period": "2999-12-01..2999-12-31"})
    assert response.status_code == 200


@pytest.mark.parametrize("at", [NAIVE, EARLY, LATE, "1969-12-31T00:00Z"])
def test_naive_or_out_of_range_times_in_queries_are_422(
    client: TestClient, tokens: dict[str, str], at: str
) -> None:
    assert_problem(client.get("/api/v1/policies/in-force", params={"at": at}), 422, "query.at")
    auditor = {"Authorization": tokens["auditor"]}
    for path in ("/api/v1/allocations", "/api/v1/allocations/shares"):
        assert_problem(client.get(path, params={"at": at}, headers=auditor), 422, "query.at")


@pytest.mark.parametrize(
    ("path", "role", "body", "field"),
    [
        ("/api/v1/calls", "operator", call_body(opens_at=LATE), "body.opens_at"),
        ("/api/v1/calls", "operator", call_body(closes_at=NAIVE), "body.closes_at"),
        ("/api/v1/calls", "operator", call_body(budget_hours=BIG), "body.budget_hours"),
        ("/api/v1/calls", "operator", call_body(budget_hours=10**30), "body.budget_hours"),
        ("/api/v1/calls", "operator", call_body(max_request_hours=-1), "body.max_request_hours"),
        ("/api/v1/calls", "operator", call_body(title="a\x00b"), "body.title"),
        ("/api/v1/calls", "operator", call_body(accelerator_types=["\ud800"]), "body.accelerator_types.0"),
        (
            "/api/v1/proposals",
            "researcher",
            proposal(requested_hours={"H100": 10**30}),
            "body.requested_hours.H100",
        ),
        ("/api/v1/proposals", "researcher", proposal(team=NUL_MEMBER), "body.team.0.user"),
        (
            "/api/v1/proposals",
            "researcher",
            proposal(suggested_reviewers=["\ud800"]),
            "body.suggested_reviewers.0",
        ),
        ("/api/v1/proposals", "researcher", proposal(call_id="c\x00"), "body.call_id"),
        ("/api/v1/accounting/usage", "operator", usage(accelerators=BIG), "body.accelerators"),
        ("/api/v1/accounting/usage", "operator", usage(project_id="\x00"), "body.project_id"),
        ("/api/v1/accounting/usage", "operator", usage(ended_at=EARLY), "body.ended_at"),
        (
            "/api/v1/member-states",
            "operator",
            member_state(contribution_minor_units=BIG),
            "body.contribution_minor_units",
        ),
        ("/api/v1/member-states", "operator", member_state(name="P\x00"), "body.name"),
        ("/api/v1/member-states", "operator", member_state(joined_on="9999-12-31"), "body.joined_on"),
        ("/api/v1/council/motions", "delegate", motion(text="\x00"), "body.text"),
        ("/api/v1/council/motions", "delegate", motion(effective_from=NAIVE), "body.effective_from"),
        ("/api/v1/council/motions", "delegate", motion(effect={"type": "none", "x\x00": 1}), "body.effect"),
        ("/api/v1/reviewers", "operator", reviewer(user="\x00"), "body.user"),
        ("/api/v1/reviewers", "operator", reviewer(expertise=["\ud800"]), "body.expertise.0"),
        ("/api/v1/users", "operator", user(display_name="\x00"), "body.display_name"),
        ("/api/v1/users", "operator", user(name="a\x00b"), "body.name"),
        ("/api/v1/users", "operator", user(email="\ud800@x.eu"), "body.email"),
        ("/api/v1/users/ada/tokens", "researcher", {"label": "a\x00b"}, "body.label"),
        ("/api/v1/users/ada/enrolment", "operator", {"label": "\x00"}, "body.label"),
        ("/api/v1/users/ada/disable", "operator", {"reason": "\x00"}, "body.reason"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    client: TestClient, tokens: dict[str, str], path: str, role: str, body: dict[str, Any], field: str
) -> None:
    assert post(client, path, body).status_code == 401
    assert_problem(post(client, path, body, tokens[role]), 422, field)


def test_decide_refuses_a_seed_past_64_bits(client: TestClient, tokens: dict[str, str]) -> None:
    operator = {"Authorization": tokens["operator"]}
    response = client.post("/api/v1/calls/c1/decide", json={"seed": BIG}, headers=operator)
    assert_problem(response, 422, "body.seed")
    response = client.post("/api/v1/calls/c1/decide", json={"grants": {"p": 10**30}}, headers=operator)
    assert_problem(response, 422, "body.grants.p")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/calls/%00", "path.call_id"),
        ("/api/v1/calls/a%00/awards", "path.call_id"),
        ("/api/v1/council/motions/%00", "path.motion_id"),
        ("/api/v1/council/motions/a%00/ballots", "path.motion_id"),
        ("/api/v1/council/motions/a%00/tally-files", "path.motion_id"),
        ("/api/v1/accounting/projects/%00", "path.project_id"),
        ("/api/v1/proposals/%00", "path.proposal_id"),
        ("/api/v1/proposals?call_id=%00", "query.call_id"),
        ("/api/v1/inventory/nodes?site=%00", "query.site"),
    ],
)
@pytest.mark.parametrize("role", [None, "auditor"])
def test_nul_in_paths_and_queries_is_422(
    client: TestClient, tokens: dict[str, str], path: str, field: str, role: str | None
) -> None:
    headers = {"Authorization": tokens[role]} if role else {}
    response = client.get(path, headers=headers)
    if response.status_code == 401:  # staff-only reads refuse the anonymous first
        assert role is None
        return
    assert_problem(response, 422, field)


@pytest.mark.parametrize(
    ("method", "path", "role", "field"),
    [
        ("DELETE", "/api/v1/tokens/%00", "operator", "path.token_id"),
        ("DELETE", "/api/v1/tokens/tok%00", "researcher", "path.token_id"),
        ("GET", "/api/v1/users/%00/tokens", "operator", "path.name"),
        ("GET", "/api/v1/users/%00/tokens", "auditor", "path.name"),
        ("POST", "/api/v1/users/%00/disable", "operator", "path.name"),
        ("POST", "/api/v1/users/%00/enrolment", "operator", "path.name"),
        ("POST", "/api/v1/users/%00/tokens", "operator", "path.name"),
        ("POST", "/api/v1/users/%00/tokens", "researcher", "path.name"),
    ],
)
def test_nul_in_identity_paths_is_422(
    client: TestClient, tokens: dict[str, str], method: str, path: str, role: str, field: str
) -> None:
    """PostgreSQL refused the name or id in its query (a 500): the edge refuses it first."""
    body = json.dumps({}) if method == "POST" else None
    assert client.request(method, path, content=body).status_code == 401
    response = client.request(method, path, content=body, headers={"Authorization": tokens[role]})
    assert_problem(response, 422, field)


def test_redeem_refuses_nul_before_looking_the_secret_up(client: TestClient) -> None:
    """No token needed here, so the bad field is the first answer."""
    assert_problem(post(client, "/api/v1/tokens/redeem", {"secret": "a\x00"}), 422, "body.secret")
    assert_problem(post(client, "/api/v1/tokens/redeem", {"secret": "s", "label": "\x00"}), 422, "body.label")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/portal/council/motions/%00", 404),
        ("/portal/council/motions/a%00b", 404),
        ("/portal/council/motions/" + "m" * 201, 404),
        ("/portal/council/motions/mot_nope", 404),
        ("/portal/usage?period=%00", 400),
        ("/portal/log?start=9223372036854775808", 400),  # a query: the page names the field
        ("/portal/log/entries/9223372036854775808", 404),
    ],
)
def test_portal_paths_a_database_cannot_hold_are_no_such_page(
    client: TestClient, path: str, status: int
) -> None:
    """People in browsers get a page, not JSON and not a 500 (PostgreSQL refused a NUL)."""
    response = client.get(path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "content",
    [
        b'{"name": ' + b"9" * 5000 + b"}",  # past Python's 4,300 digits for an int
        b"[" * 100_000,  # past the parser's recursion limit
        b'{"name": "\xc3\x28"}',  # not UTF-8
    ],
    ids=["long-number", "deep-nesting", "not-utf8"],
)
@pytest.mark.parametrize("role", [None, "operator"])
def test_a_body_that_cannot_be_parsed_is_400_naming_the_body(
    client: TestClient, tokens: dict[str, str], content: bytes, role: str | None
) -> None:
    headers = {"Content-Type": "application/json"} | ({"Authorization": tokens[role]} if role else {})
    response = client.post("/api/v1/users", content=content, headers=headers)
    assert_problem(response, 400, "body")
    assert response.json()["code"] == "body_unparseable"


@pytest.mark.parametrize(
    ("effect", "field"),
    [
        (
            {
                "type": "set_pool_split",
                "member_pools": "1e-100000000",
                "open_calls": "0",
                "sme": "0",
                "directors_reserve": "0",
            },
            "effect.member_pools",
        ),
        (
            {"type": "set_call_budget", "target": "pool:sme", "accelerator_hours": "1e99999"},
            "effect.accelerator_hours",
        ),
        ({"type": "set_safety_threshold", "name": "flop", "value": "NaN"}, "effect.value"),
        ({"type": []}, "effect.type"),
        ({"type": {}}, "effect.type"),
    ],
)
def test_effect_numbers_are_bounded_before_arithmetic(
    client: TestClient, tokens: dict[str, str], effect: dict[str, Any], field: str
) -> None:
    operator = {"Authorization": tokens["operator"]}
    response = client.post("/api/v1/council/motions", json=motion(effect=effect), headers=operator)
    assert_problem(response, 400, field)


def test_a_rule_file_with_a_power_of_ten_bomb_is_400(client: TestClient, tokens: dict[str, str]) -> None:
    rules = {
        "name": "r",
        "decision_types": {
            "t": {"majorities": [{"name": "s", "threshold": {"fraction": "1e-100000000"}}]},
        },
    }
    response = client.put("/api/v1/council/rules", json=rules, headers={"Authorization": tokens["operator"]})
    assert_problem(response, 400, "decision_types.t.majorities[0].threshold.fraction")


# -- a bounded fuzz of the whole OpenAPI ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("role", [None, "operator"])
def test_fuzzed_requests_never_answer_500(
    client: TestClient, tokens: dict[str, str], role: str | None
) -> None:
    """Schema-valid requests (schemathesis' negative mode costs minutes here; the cases above cover it)."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", client.app)
    headers = {"Authorization": tokens[role]} if role else {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=10,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
            sent = {k: kwargs[k] for k in ("params", "headers", "json", "content") if k in kwargs}
            response = client.request(kwargs["method"], kwargs["url"], **sent)
            if response.status_code >= 500:
                failures.append(f"{kwargs['method']} {kwargs['url']} {sent.get('params')} -> {response.text}")

        fuzz()
    assert not failures, "\n".join(failures[:10])
