"""Portal sessions without a browser: the cookie's attributes, CSRF on every form a session posts,
login CSRF, same-site redirects only, a revoked token or disabled user ending the session, sign-out,
the store's bound, and the OpenID Connect seam with a fake issuer (no network)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from pnyx.core.clock import FrozenClock
from pnyx.identity.model import LOCAL_CONSOLE
from pnyx.portal.sessions import SessionStore
from pnyx.portal.sign_in_form import SIGN_IN_PAGE, safe_next
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.portal.council_world import Council, council_world
from tests.portal.signing_in import FakeIssuer

DESK = "/portal/delegate"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HIDDEN = re.compile(r'name="(sign_in|csrf)" value="([^"]*)"')


@pytest.fixture
def council(platform: Platform) -> Council:
    return council_world(platform)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def hidden(html: str, name: str) -> str:
    return str(next(v for k, v in HIDDEN.findall(html) if k == name))


def signed_in(client: TestClient, secret: str, next_page: str = DESK) -> str:
    """Sign in through the form; the page's CSRF token."""
    form = hidden(client.get(SIGN_IN_PAGE).text, "sign_in")
    answer = client.post(SIGN_IN_PAGE, data={"token": secret, "sign_in": form, "next": next_page})
    assert answer.status_code == 200, answer.text  # followed the redirect to next_page
    return hidden(answer.text, "csrf")


def test_the_session_cookie_is_http_only_strict_and_holds_no_token(
    client: TestClient, council: Council
) -> None:
    secret = council.token("delde")
    form = hidden(client.get(SIGN_IN_PAGE).text, "sign_in")
    answer = client.post(
        SIGN_IN_PAGE, data={"token": secret, "sign_in": form, "next": DESK}, follow_redirects=False
    )
    assert (answer.status_code, answer.headers["location"]) == (303, DESK)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("pnyx_session=")
    for attribute in ("HttpOnly", "Path=/portal", "SameSite=strict", "Max-Age=28800"):
        assert attribute.lower() in cookie.lower(), cookie
    assert secret not in cookie
    assert "secure" not in cookie.lower()  # plain http here: not Secure


def test_a_form_without_the_sessions_csrf_token_is_refused(client: TestClient, council: Council) -> None:
    csrf = signed_in(client, council.token("delfr"))
    body = {"title": "T", "text": "Keep this", "decision_type": "ordinary"}
    for forged in ({}, {"csrf": "not-it"}):
        answer = client.post(f"{DESK}/motions", data=body | forged, follow_redirects=False)
        assert answer.status_code == 403, answer.text
        assert "CSRF" in answer.text
    assert council.platform.council.motions() == []
    done = client.post(f"{DESK}/motions", data=body | {"csrf": csrf}, follow_redirects=False)
    assert (done.status_code, done.headers["location"]) == (303, DESK)
    assert [m.title for m in council.platform.council.motions()] == ["T"]
    shown = client.get(DESK)
    assert "tabled: deliberation" in shown.text
    assert "tabled: deliberation" not in client.get(DESK).text  # the note is shown once


def test_sign_in_needs_the_pages_own_form(client: TestClient, council: Council) -> None:
    """Login CSRF: another site's form has no value matching this browser's sign-in cookie."""
    answer = client.post(SIGN_IN_PAGE, data={"token": council.token("delde"), "sign_in": "guess"})
    assert answer.status_code == 403
    assert "pnyx_session" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    ("raw", "goes"),
    [
        ("/portal/delegate/motions/m1?x=1", "/portal/delegate/motions/m1?x=1"),
        ("https://evil.example/portal/", SIGN_IN_PAGE),
        ("//evil.example/portal/", SIGN_IN_PAGE),
        ("/\\evil.example", SIGN_IN_PAGE),
        ("/portal\\..\\x", SIGN_IN_PAGE),
        ("javascript:alert(1)", SIGN_IN_PAGE),
        ("/api/v1/tokens", SIGN_IN_PAGE),
        ("/portal/x\r\nSet-Cookie: a=b", SIGN_IN_PAGE),
        ("/portal/../../evil", SIGN_IN_PAGE),
        ("/portal/%2e%2e/api/v1/tokens", SIGN_IN_PAGE),
        ("/portal/./delegate", SIGN_IN_PAGE),
        ("/portal/delegate?back=../x", "/portal/delegate?back=../x"),
        ("", SIGN_IN_PAGE),
    ],
)
def test_after_sign_in_only_a_portal_path(raw: str, goes: str) -> None:
    assert safe_next(raw) == goes


def test_a_revoked_token_ends_the_session_with_the_reason(client: TestClient, council: Council) -> None:
    signed_in(client, council.token("delit"))
    [token] = [t for t in council.platform.identity.tokens_of("delit") if t.revoked_at is None]
    council.platform.identity.revoke_token(token.id, by=LOCAL_CONSOLE)
    answer = client.get(DESK)
    assert answer.status_code == 401
    assert 'data-testid="sign-in-reason"' in answer.text
    assert "revoked" in answer.text
    cleared = answer.headers["set-cookie"].lower()
    assert "pnyx_session=" in cleared
    assert "max-age=0" in cleared


def test_signing_out_ends_the_session(client: TestClient, council: Council) -> None:
    csrf = signed_in(client, council.token("delnl"))
    assert client.post("/portal/sign-out", data={}).status_code == 403  # its CSRF token too
    out = client.post("/portal/sign-out", data={"csrf": csrf})
    assert "You are signed out." in out.text
    answer = client.post(f"{DESK}/motions", data={"title": "T", "csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 401  # no session: the sign-in form
    assert council.platform.council.motions() == []


def test_the_store_keeps_at_most_its_limit(clock: FrozenClock) -> None:
    store = SessionStore(clock, limit=2)
    first, second = (store.open(LOCAL_CONSOLE, lambda: LOCAL_CONSOLE) for _ in range(2))
    clock.advance(timedelta(hours=9))
    third = store.open(LOCAL_CONSOLE, lambda: LOCAL_CONSOLE)
    assert (store.find(first.id), store.find(second.id), store.find(third.id)) == (None, None, third)
    fourth = store.open(LOCAL_CONSOLE, lambda: LOCAL_CONSOLE)
    fifth = store.open(LOCAL_CONSOLE, lambda: LOCAL_CONSOLE)  # none ended: the oldest goes
    assert (store.find(third.id), store.find(fourth.id), store.find(fifth.id)) == (None, fourth, fifth)


def test_without_an_issuer_there_is_no_oidc_sign_in(client: TestClient) -> None:
    assert 'data-testid="oidc-sign-in"' not in client.get(SIGN_IN_PAGE).text
    assert client.get("/portal/sign-in/oidc").status_code == 404


def test_signing_in_with_an_oidc_issuer(platform: Platform, council: Council) -> None:
    issuer = FakeIssuer(platform)
    app = create_app(platform, run_appender=False, run_dispatcher=False, sign_in_provider=issuer)
    with TestClient(app) as client:
        assert 'data-testid="oidc-sign-in"' in client.get(DESK).text
        start = client.get(f"/portal/sign-in/oidc?next={DESK}", follow_redirects=False)
        assert start.status_code == 303
        landed = client.get(start.headers["location"])  # the issuer sends the browser back
        assert landed.status_code == 200, landed.text
        assert "signed in as delde" in landed.text
        assert f'href="{DESK}"' in landed.text
        assert "Cast the ballot" not in landed.text
        assert 'data-testid="whoami"' in client.get(DESK).text
        assert "signed in as delde" in client.get(DESK).text
        platform.identity.disable_user("delde", by=LOCAL_CONSOLE)
        ended = client.get(DESK)
        assert (ended.status_code, "disabled" in ended.text) == (401, True)


def test_an_oidc_answer_for_another_browsers_state_is_refused(platform: Platform, council: Council) -> None:
    issuer = FakeIssuer(platform)
    app = create_app(platform, run_appender=False, run_dispatcher=False, sign_in_provider=issuer)
    with TestClient(app) as client:
        client.get("/portal/sign-in/oidc", follow_redirects=False)
        forged = client.get("/portal/sign-in/oidc/callback?code=user-delde&state=someone-elses")
        assert (forged.status_code, "did not start in this browser" in forged.text) == (401, True)
        refused = client.get(f"/portal/sign-in/oidc/callback?code=nobody&state={issuer.states[-1]}")
        assert (refused.status_code, "did not vouch" in refused.text) == (401, True)
        assert "pnyx_session" not in client.cookies
