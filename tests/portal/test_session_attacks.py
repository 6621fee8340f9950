"""The attack review of the portal's sessions (H9, issue 15), each finding held: one person's sign-ins
end only their own sessions and are throttled, a kept form is bounded, another site's post plants no
form and signs no one out, every portal post is refused from another origin (a sibling host's planted
sign-in cookie too), and an OpenID Connect flow is bound to the browser that started it, used once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from pnyx.core.clock import FrozenClock
from pnyx.core.ids import UserId
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.portal.oidc import CALLBACK, FLOW_COOKIE, START
from pnyx.portal.sessions import COOKIE, SessionStore
from pnyx.portal.sign_in_form import SIGN_IN_COOKIE, SIGN_IN_PAGE
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.portal.council_world import Council, council_world
from tests.portal.signing_in import FakeIssuer, hidden, session_of

DESK = "/portal/delegate"
MOTION = {"title": "Planted", "text": "Resolve what the stranger wants", "decision_type": "ordinary"}
CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


@pytest.fixture
def council(platform: Platform) -> Council:
    return council_world(platform)


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def store_of(client: TestClient) -> SessionStore:
    store: SessionStore = client.app.state.portal_sessions  # type: ignore[attr-defined]
    return store


def sign_in_form(client: TestClient, secret: str, **fields: str) -> dict[str, str]:
    """What the sign-in page's form posts with ``secret``: this browser's sign-in value, the page
    fetched for one where it has none."""
    client.cookies.delete(COOKIE)  # signed out, as from another browser of the same person
    value = client.cookies.get(SIGN_IN_COOKIE) or hidden(client.get(SIGN_IN_PAGE).text, "sign_in")
    return {"sign_in": value, "token": secret, **fields}


def person(name: str) -> Principal:
    return Principal(user_id=UserId(f"usr_{name}"), name=name, roles=frozenset({Role.DELEGATE}))


# -- F1: one person cannot sign everyone else out, nor fill the server's memory -------------------


def test_a_persons_sessions_are_capped_and_end_only_their_own(clock: FrozenClock) -> None:
    store = SessionStore(clock, limit=100, per_person=2)
    other = store.open(person("b"), lambda: person("b"))
    first, second, third = (store.open(person("a"), lambda: person("a")) for _ in range(3))
    assert store.find(first.id) is None
    assert (store.find(second.id), store.find(third.id), store.find(other.id)) == (second, third, other)


def test_ended_sessions_are_dropped_when_another_opens(clock: FrozenClock) -> None:
    store = SessionStore(clock)
    ended = store.open(person("a"), lambda: person("a"))
    clock.advance(timedelta(hours=9))
    live = store.open(person("b"), lambda: person("b"))
    assert (store.find(ended.id), store.find(live.id)) == (None, live)


def test_many_sign_ins_with_one_token_sign_no_one_else_out(client: TestClient, council: Council) -> None:
    client.app.state.portal_sessions = SessionStore(council.platform.clock, limit=6)  # type: ignore[attr-defined]
    session_of(client, council.token("delfr"), DESK)
    victim = client.cookies[COOKIE]
    attacker = council.token("delde")
    for _ in range(8):  # more than the store holds, beyond the attacker's own cap of 5
        session_of(client, attacker, DESK)
    client.cookies.clear()
    client.cookies.set(COOKIE, victim, path="/portal")
    assert "signed in as delfr" in client.get(DESK).text


def test_a_kept_forms_names_and_size_are_bounded(client: TestClient, council: Council) -> None:
    secret = council.token("delde")
    named = sign_in_form(client, secret, **{"kept-form": "table", "kept." + "n" * 5000: "x"})
    assert client.post(SIGN_IN_PAGE, data=named, follow_redirects=False).status_code == 400
    many = {f"kept.f{i}": "x" for i in range(21)}
    too_big = client.post(
        SIGN_IN_PAGE, data=sign_in_form(client, secret, next=DESK, **{"kept-form": "table", **many})
    )
    assert too_big.status_code == 200
    assert "signed in as delde" in too_big.text
    assert 'data-testid="done"' not in too_big.text  # signed in; the form is not kept
    one = {"kept-form": "table", "kept.title": "Mine"}
    kept = client.post(SIGN_IN_PAGE, data=sign_in_form(client, secret, next=DESK, **one))
    assert 'data-testid="done"' in kept.text
    assert 'value="Mine"' in kept.text


def test_sign_in_is_throttled_per_person(client: TestClient, council: Council, clock: FrozenClock) -> None:
    secret = council.token("delde")
    for _ in range(10):
        session_of(client, secret, DESK)
    refused = client.post(SIGN_IN_PAGE, data=sign_in_form(client, secret, next=DESK))
    assert refused.status_code == 429
    assert "too many sign-ins as delde" in refused.text
    session_of(client, council.token("delfr"), DESK)  # someone else from the same address may
    clock.advance(timedelta(minutes=1))
    session_of(client, secret, DESK)


def test_sign_in_is_throttled_per_client(client: TestClient, council: Council, clock: FrozenClock) -> None:
    for _ in range(30):
        wrong = client.post(SIGN_IN_PAGE, data=sign_in_form(client, "pnyx_not-a-token"))
        assert wrong.status_code == 401
    refused = client.post(SIGN_IN_PAGE, data=sign_in_form(client, council.token("delde")))
    assert refused.status_code == 429
    assert "too many sign-ins from your address" in refused.text
    assert COOKIE not in client.cookies
    clock.advance(timedelta(minutes=1))
    session_of(client, council.token("delde"), DESK)


# -- F2: another site's post plants no form ------------------------------------------------------


def test_another_sites_post_plants_no_form(client: TestClient, council: Council) -> None:
    refused = client.post(f"{DESK}/motions", data=MOTION, headers=CROSS_SITE)
    assert refused.status_code == 403
    assert "Planted" not in refused.text
    old_browser = client.post(f"{DESK}/motions", data=MOTION)  # no headers, no cookie
    assert old_browser.status_code == 401
    assert "Planted" not in old_browser.text
    assert 'name="kept-form"' not in old_browser.text
    fields = {"sign_in": hidden(old_browser.text, "sign_in"), "next": DESK, "token": council.token("delde")}
    page = client.post(SIGN_IN_PAGE, data=fields)
    assert (page.status_code, "Planted" in page.text) == (200, False)


def test_a_form_posted_as_a_session_ends_is_kept_with_a_warning(
    client: TestClient, council: Council, clock: FrozenClock
) -> None:
    csrf = session_of(client, council.token("delde"), DESK)
    clock.advance(timedelta(hours=9))
    ended = client.post(f"{DESK}/motions", data=MOTION | {"csrf": csrf})
    assert ended.status_code == 401
    assert 'name="kept.title" value="Planted"' in ended.text
    assert "check every field" in ended.text
    fields = {"sign_in": hidden(ended.text, "sign_in"), "next": DESK, "token": council.token("delde")}
    fields |= {"kept-form": "table"} | {f"kept.{k}": v for k, v in MOTION.items()}
    page = client.post(SIGN_IN_PAGE, data=fields)
    assert "A form was carried over from before you signed in: check every field" in page.text
    assert 'value="Planted"' in page.text
    assert council.platform.council.motions() == []  # shown again, not posted


# -- F3: no sign-out from another site -----------------------------------------------------------


def test_a_post_without_the_cookie_clears_no_cookie(client: TestClient, council: Council) -> None:
    answer = client.post(f"{DESK}/motions", data=MOTION)
    assert answer.status_code == 401
    assert COOKIE not in answer.headers.get("set-cookie", "")


def test_signing_out_needs_the_csrf_token_whatever_the_header(client: TestClient, council: Council) -> None:
    session_of(client, council.token("delde"), DESK)
    basic = client.post("/portal/sign-out", data={}, headers={"Authorization": "Basic eDp5"})
    assert basic.status_code == 403
    bearer = {"Authorization": f"Bearer {council.token('delfr')}"}
    tab = client.post("/portal/sign-out", data={}, headers=bearer, follow_redirects=False)
    assert tab.status_code == 303
    assert COOKIE not in tab.headers.get("set-cookie", "")
    assert "signed in as delde" in client.get(DESK).text  # the cookie's session goes on


# -- F5 and the third layer: posts from another origin ------------------------------------------


def test_a_sign_in_from_a_sibling_host_is_refused(client: TestClient, council: Council) -> None:
    """A sibling host can plant this site's sign-in cookie; its post is not same-origin."""
    client.cookies.set(SIGN_IN_COOKIE, "planted", path="/portal")
    planted = {"sign_in": "planted", "token": council.token("delde"), "next": DESK}
    for headers in (
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.testserver"},
        {"Origin": "null"},
    ):
        refused = client.post(SIGN_IN_PAGE, data=planted, headers=headers, follow_redirects=False)
        assert refused.status_code == 403, headers
        assert COOKIE not in refused.headers.get("set-cookie", "")
    own = {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    assert client.post(SIGN_IN_PAGE, data=planted, headers=own, follow_redirects=False).status_code == 303


def test_a_sessions_form_from_another_origin_is_refused_with_its_token(
    client: TestClient, council: Council
) -> None:
    csrf = session_of(client, council.token("delde"), DESK)
    body = MOTION | {"csrf": csrf}
    for headers in (CROSS_SITE, {"Sec-Fetch-Site": "same-site"}, {"Origin": "https://other.example"}):
        refused = client.post(f"{DESK}/motions", data=body, headers=headers, follow_redirects=False)
        assert refused.status_code == 403, headers
    assert council.platform.council.motions() == []
    own = client.post(
        f"{DESK}/motions", data=body, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False
    )
    assert own.status_code == 303
    assert [m.title for m in council.platform.council.motions()] == ["Planted"]


# -- F4: an OpenID Connect flow is this browser's, once -----------------------------------------


@pytest.fixture
def issuer(platform: Platform) -> FakeIssuer:
    return FakeIssuer(platform)


@pytest.fixture
def oidc(platform: Platform, issuer: FakeIssuer) -> Iterator[TestClient]:
    app = create_app(platform, run_appender=False, run_dispatcher=False, sign_in_provider=issuer)
    with TestClient(app) as c:
        yield c


def test_a_forged_flow_cookie_signs_no_one_in(oidc: TestClient, council: Council) -> None:
    oidc.cookies.set(FLOW_COOKIE, "x /portal/audit", path=START)
    forged = oidc.get(f"{CALLBACK}?code=user-delde.1&state=x")
    assert (forged.status_code, "did not start in this browser" in forged.text) == (401, True)
    assert COOKIE not in oidc.cookies


def test_a_stolen_code_works_in_no_other_browser(
    oidc: TestClient, issuer: FakeIssuer, council: Council
) -> None:
    victims = oidc.get(START, follow_redirects=False).headers["location"]
    oidc.cookies.clear()  # the attacker's browser
    with_victims_state = oidc.get(victims)
    assert (with_victims_state.status_code, "did not start in this browser" in with_victims_state.text) == (
        401,
        True,
    )
    own_state = oidc.get(START, follow_redirects=False).headers["location"].rpartition("state=")[2]
    stolen = oidc.get(f"{CALLBACK}?code={victims.split('code=')[1].split('&')[0]}&state={own_state}")
    assert (stolen.status_code, "did not vouch" in stolen.text) == (401, True)
    assert COOKIE not in oidc.cookies


def test_an_oidc_callback_is_used_once(oidc: TestClient, council: Council) -> None:
    back = oidc.get(f"{START}?next={DESK}", follow_redirects=False).headers["location"]
    assert "signed in as delde" in oidc.get(back).text
    replayed = oidc.get(back)
    assert (replayed.status_code, "was used" in replayed.text) == (401, True)


def test_an_oidc_sign_in_ends_the_browsers_earlier_session(oidc: TestClient, council: Council) -> None:
    session_of(oidc, council.token("delfr"), DESK)
    earlier = oidc.cookies[COOKIE]
    back = oidc.get(START, follow_redirects=False).headers["location"]  # from the portal's link
    oidc.cookies.delete(COOKIE)  # a strict cookie is not sent on the issuer's redirect back
    assert "signed in as delde" in oidc.get(back).text
    assert store_of(oidc).find(earlier) is None


def test_a_refused_flow_ends_its_cookie(oidc: TestClient, council: Council) -> None:
    state = oidc.get(START, follow_redirects=False).headers["location"].rpartition("state=")[2]
    refused = oidc.get(f"{CALLBACK}?error=access_denied&state={state}")
    assert refused.status_code == 401
    assert "access_denied" in refused.text
    assert f'{FLOW_COOKIE}=""' in refused.headers["set-cookie"]
    assert FLOW_COOKIE not in oidc.cookies


def test_a_disabled_person_cannot_finish_an_oidc_sign_in(oidc: TestClient, council: Council) -> None:
    back = oidc.get(START, follow_redirects=False).headers["location"]
    council.platform.identity.disable_user("delde", by=LOCAL_CONSOLE)
    assert oidc.get(back).status_code == 401
