"""The facility the researcher's, operator's and auditor's portal tests act in, and how they sign in
(their screenshots: ``tests/portal/screens.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pnyx.wiring import Platform
from tests.integration.test_safety_classification import Facility

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.conftest import LiveServer


class Roles:
    """Alice (researcher, PI of an awarded project), bob (researcher, on no team), olga (operator),
    aude (auditor); an open call; a generated inventory of 64 accelerators."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.facility = Facility(platform)
        self.project = self.facility.project()
        for name, role in (("bob", "researcher"), ("olga", "operator"), ("aude", "auditor")):
            self.facility.world.user(name, [role])
        platform.inventory.generate(64, seed=1)

    def token(self, name: str) -> str:
        return self.platform.identity.issue_token(name).secret

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}"}


def sign_in(page: Page, server: LiveServer, path: str, token: str) -> None:
    page.goto(server.url + path)
    page.get_by_test_id("token").fill(token)
    page.get_by_role("button", name="Use token").click()
