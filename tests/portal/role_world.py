"""The facility the researcher's, operator's and auditor's portal tests act in (signing in:
``tests/portal/signing_in.py``; screenshots: ``tests/portal/screens.py``)."""

from __future__ import annotations

from pnyx.wiring import Platform
from tests.integration.test_safety_classification import Facility
from tests.portal import signing_in


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
        return signing_in.token(self.platform, name)

    def bearer(self, name: str) -> dict[str, str]:
        return signing_in.bearer(self.platform, name)
