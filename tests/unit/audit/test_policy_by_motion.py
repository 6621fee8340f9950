"""The council's own path to an entitlements policy (table, vote, close) logs what the auditor asks of
a policy: a motion decided adopted before it, with its effect, and the next version. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json

from pnyx.audit.entitlements import Entitlements
from pnyx.core.clock import FrozenClock
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.wiring import Platform


def test_a_policy_the_council_adopts_is_trusted(platform: Platform, clock: FrozenClock) -> None:
    platform.member_states.admit(code="DE", name="Germany", contribution_minor_units=900, population=84)
    platform.member_states.admit(code="FR", name="France", contribution_minor_units=100, population=68)
    delegates = {}
    for code in ("DE", "FR"):
        user = platform.identity.register_user(
            name=f"del{code.lower()}", roles=["delegate"], member_state=code
        )
        delegates[code] = Principal(user_id=user.id, name=user.name, roles=user.roles)
    for version, shares in enumerate(({"DE": "1/10", "FR": "9/10"}, {"DE": "1/2", "FR": "1/2"}), 1):
        motion = platform.council.table(
            title=f"Rebalance {version}",
            text="Shares change.",
            decision_type="ordinary",
            effect={"type": "set_member_shares", "shares": shares},
            effective_from=clock.now(),
            by=delegates["FR"],
        )
        platform.votes.open(motion.id, by=LOCAL_CONSOLE)
        for code in ("DE", "FR"):
            platform.votes.cast(motion.id, "yes", by=delegates[code])
        platform.votes.close(motion.id, by=LOCAL_CONSOLE)
    platform.log.drain()
    entitlements = Entitlements()
    for index, entry in enumerate(platform.log.entries(0, platform.log.size())):
        parsed = json.loads(entry.data)
        entitlements.see(index, parsed["type"], parsed["data"])  # raises on a policy it refuses
    assert [p.version for p in entitlements.policies] == [1, 2]
    given = entitlements._given(clock.now().timestamp() + 1)
    assert given.members == {"DE": 0.5, "FR": 0.5}
