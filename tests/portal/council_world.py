"""A council for the delegate's pages: four member states with a delegate each, and a researcher."""

from __future__ import annotations

from dataclasses import dataclass

from pnyx.governance.motion import Motion
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.wiring import Platform
from tests.portal import signing_in

STATES = {"DE": (400, 84), "FR": (300, 68), "IT": (200, 59), "NL": (100, 18)}


@dataclass
class Council:
    platform: Platform
    delegates: dict[str, Principal]

    def token(self, name: str) -> str:
        return signing_in.token(self.platform, name)

    def bearer(self, name: str) -> dict[str, str]:
        return signing_in.bearer(self.platform, name)

    def motion(self, title: str = "Open the archive", *, voting: bool = False) -> Motion:
        motion = self.platform.council.table(
            title=title,
            text="The council resolves to open the archive.",
            decision_type="ordinary",
            by=self.delegates["NL"],
        )
        return self.platform.votes.open(motion.id, by=LOCAL_CONSOLE) if voting else motion


def council_world(platform: Platform) -> Council:
    delegates = {}
    for code, (contribution, population) in STATES.items():
        platform.member_states.admit(
            code=code, name=f"State {code}", contribution_minor_units=contribution, population=population
        )
        user = platform.identity.register_user(
            name=f"del{code.lower()}", roles=["delegate"], member_state=code
        )
        delegates[code] = Principal(user_id=user.id, name=user.name, roles=user.roles)
    platform.identity.register_user(name="rosa", roles=["researcher"], member_state="DE")
    return Council(platform=platform, delegates=delegates)
