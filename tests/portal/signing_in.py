"""How every portal test signs in: a user's token, its bearer header, and a browser signing in through
the page's form. With JavaScript the page keeps the token in the tab (desk.js); without it the form
posts to /portal/sign-in and the portal keeps a session (a cookie)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pnyx.wiring import Platform

if TYPE_CHECKING:
    from playwright.sync_api import Page


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
