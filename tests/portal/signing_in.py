"""How every portal test signs in: a user's token, its bearer header, and a browser signing in through
the page's form. With JavaScript the page keeps the token in the tab (desk.js); without it the form
posts to /portal/sign-in and the portal keeps a session (a cookie). ``FakeIssuer`` stands in for an
OpenID Connect issuer (no network)."""

from __future__ import annotations

import hmac
import re
import secrets
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from pnyx.core.errors import Unauthenticated
from pnyx.identity.model import Principal
from pnyx.portal.sign_in_form import SIGN_IN_PAGE
from pnyx.wiring import Platform

if TYPE_CHECKING:
    from playwright.sync_api import Page

HIDDEN = re.compile(r'name="(sign_in|csrf)" value="([^"]*)"')


def token(platform: Platform, name: str) -> str:
    """A fresh personal token of the user ``name``."""
    return platform.identity.issue_token(name).secret


def bearer(platform: Platform, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(platform, name)}"}


def sign_in(page: Page, url: str, secret: str) -> None:
    """Open ``url`` and sign in with ``secret`` through its form."""
    page.goto(url)
    page.get_by_test_id("token").fill(secret)
    page.get_by_role("button", name="Use token").click()


def hidden(html: str, name: str) -> str:
    """The value of the page's hidden ``sign_in`` or ``csrf`` field."""
    return str(next(v for k, v in HIDDEN.findall(html) if k == name))


def session_of(client: TestClient, secret: str, next_page: str) -> str:
    """Sign ``client`` in through the form, as a browser without JavaScript does (a session cookie,
    any earlier one cleared first); the CSRF token of the page it lands on."""
    client.cookies.clear()
    form = hidden(client.get(SIGN_IN_PAGE).text, "sign_in")
    answer = client.post(SIGN_IN_PAGE, data={"token": secret, "sign_in": form, "next": next_page})
    assert answer.status_code == 200, answer.text
    return hidden(answer.text, "csrf")


class FakeIssuer:
    """An OpenID Connect issuer that approves at once: the code names the Pnyx user it signs in. As
    a real issuer with PKCE, a code is good once, and only with the secret of the flow it came from."""

    issuer = "Test IdP"

    def __init__(self, platform: Platform, user: str = "delde") -> None:
        self.platform = platform
        self.user = user
        self.states: list[str] = []
        self.codes: dict[str, str] = {}  # code -> the secret of the flow it was issued in

    def authorization_url(self, *, state: str) -> tuple[str, str]:
        self.states.append(state)
        code, secret = f"user-{self.user}.{len(self.states)}", secrets.token_urlsafe(16)
        self.codes[code] = secret
        return f"/portal/sign-in/oidc/callback?code={code}&state={state}", secret

    def principal(self, *, code: str, flow: str) -> Principal:
        issued = self.codes.pop(code, None)
        if issued is None or not hmac.compare_digest(issued, flow):
            raise Unauthenticated("the issuer did not vouch for this code")
        return self.platform.identity.principal_of(code.removeprefix("user-").partition(".")[0])
