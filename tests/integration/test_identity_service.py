"""Identity use cases on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role
from pnyx.wiring import Platform


def test_register_and_authenticate(platform: Platform) -> None:
    user = platform.identity.register_user(name="ada", roles=["researcher", "reviewer"], member_state="de")
    assert user.roles == {Role.RESEARCHER, Role.REVIEWER}
    assert user.member_state == "DE"
    issued = platform.identity.issue_token("ada", label="laptop")
    principal = platform.identity.authenticate(issued.secret)
    assert (principal.name, principal.roles) == ("ada", user.roles)


def test_tokens_are_stored_hashed(platform: Platform) -> None:
    platform.identity.register_user(name="ada", roles=["researcher"])
    issued = platform.identity.issue_token("ada")
    with platform.engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_tokens"))
    assert issued.secret not in dump


@pytest.mark.parametrize(
    ("name", "roles", "error"),
    [
        ("A", ["researcher"], InvalidInput),
        ("ok-name", ["wizard"], InvalidInput),
        ("ok-name", [], InvalidInput),
    ],
)
def test_bad_users_are_refused(
    platform: Platform, name: str, roles: list[str], error: type[Exception]
) -> None:
    with pytest.raises(error):
        platform.identity.register_user(name=name, roles=roles)
    assert platform.identity.list_users() == []
    assert platform.log.drain() == 0


def test_duplicate_user(platform: Platform) -> None:
    platform.identity.register_user(name="ada", roles=["researcher"])
    with pytest.raises(Conflict):
        platform.identity.register_user(name="ada", roles=["auditor"])


def test_token_expiry_and_revocation(platform: Platform, clock: FrozenClock) -> None:
    platform.identity.register_user(name="ada", roles=["researcher"])
    platform.identity.register_user(name="bob", roles=["researcher"])
    short = platform.identity.issue_token("ada", days=1)
    other = platform.identity.issue_token("ada", days=30)
    clock.advance(timedelta(days=2))
    with pytest.raises(Unauthenticated, match="expired"):
        platform.identity.authenticate(short.secret)
    bob = platform.identity.authenticate(platform.identity.issue_token("bob").secret)
    with pytest.raises(Forbidden):
        platform.identity.revoke_token(other.token.id, by=bob)
    platform.identity.revoke_token(other.token.id, by=LOCAL_CONSOLE)
    with pytest.raises(Unauthenticated, match="revoked"):
        platform.identity.authenticate(other.secret)
    with pytest.raises(Unauthenticated, match="unknown"):
        platform.identity.authenticate("pnyx_not-a-token")


def test_token_lifetime_is_bounded(platform: Platform) -> None:
    platform.identity.register_user(name="ada", roles=["researcher"])
    with pytest.raises(InvalidInput):
        platform.identity.issue_token("ada", days=0)
    with pytest.raises(InvalidInput):
        platform.identity.issue_token("ada", days=1000)
    with pytest.raises(NotFound):
        platform.identity.issue_token("nobody")


def test_set_roles(platform: Platform) -> None:
    platform.identity.register_user(name="ada", roles=["researcher"])
    changed = platform.identity.set_roles("ada", ["auditor", "operator"])
    assert changed.roles == {Role.AUDITOR, Role.OPERATOR}
    assert platform.identity.user("ada").roles == changed.roles
    owner = Principal(user_id=changed.id, name="ada", roles=changed.roles)
    assert owner.authenticated
