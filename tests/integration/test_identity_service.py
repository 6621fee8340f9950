"""Identity use cases on both databases."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from pnyx.core.clock import FrozenClock
from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from pnyx.identity.model import LOCAL_CONSOLE, Principal, Role, TokenKind
from pnyx.identity.rules import MAX_ACTIVE_TOKENS, MAX_TOKENS_PER_HOUR
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


def _entries(platform: Platform, kind: str) -> list[dict[str, Any]]:
    platform.log.drain()
    found = [json.loads(e.data) for e in platform.log.entries(0, platform.log.size())]
    return [e["data"] for e in found if e["type"] == kind]


def _operator(platform: Platform) -> Principal:
    user = platform.identity.register_user(name="olga", roles=["operator"])
    return Principal(user_id=user.id, name=user.name, roles=user.roles)


def test_nobody_obtains_a_usable_token_for_someone_else(platform: Platform) -> None:
    olga = _operator(platform)
    ada = platform.identity.register_user(name="ada", roles=["delegate", "reviewer"])
    with pytest.raises(Forbidden) as caught:
        platform.identity.issue_token("ada", by=olga)
    assert caught.value.code == "not_in_person"
    with pytest.raises(Forbidden):
        platform.identity.issue_token("ada", by=LOCAL_CONSOLE)
    enrolment = platform.identity.enrol("ada", by=olga, label="welcome")
    assert enrolment.token.kind is TokenKind.ENROLMENT
    assert enrolment.token.issued_by == olga.user_id
    with pytest.raises(Unauthenticated) as refused:
        platform.identity.authenticate(enrolment.secret)  # it acts for nobody
    assert refused.value.code == "enrolment_token"
    mine = platform.identity.redeem(enrolment.secret, label="laptop", days=30)
    assert (mine.token.kind, mine.token.issued_by) == (TokenKind.PERSONAL, olga.user_id)
    assert platform.identity.authenticate(mine.secret).name == "ada"
    with pytest.raises(Unauthenticated, match="revoked or used"):
        platform.identity.redeem(enrolment.secret)  # once only: a second holder gets nothing
    issued = _entries(platform, "identity.token.issued")
    assert [(e["kind"], e["issued_by"], e["enrolment_token_id"]) for e in issued] == [
        ("enrolment", olga.user_id, None),
        ("personal", olga.user_id, enrolment.token.id),  # whoever enrolled ada could have held it
    ]
    with pytest.raises(Conflict) as taken:
        platform.identity.enrol("ada", by=olga)  # ada holds a token: no second, silent way in
    assert taken.value.code == "user_has_tokens"
    ada_in_person = platform.identity.authenticate(mine.secret)
    again = platform.identity.issue_token("ada", by=ada_in_person)
    assert again.token.issued_by == ada.id


def test_only_operators_enrol(platform: Platform) -> None:
    bob = platform.identity.register_user(name="bob", roles=["researcher"])
    platform.identity.register_user(name="ada", roles=["researcher"])
    with pytest.raises(Forbidden):
        platform.identity.enrol("ada", by=Principal(user_id=bob.id, name="bob", roles=bob.roles))
    with pytest.raises(InvalidInput):
        platform.identity.enrol("ada", by=LOCAL_CONSOLE, days=8)
    with pytest.raises(Unauthenticated):
        platform.identity.redeem("pnyx_enrol_not-a-token")
    personal = platform.identity.issue_token("ada")
    with pytest.raises(Unauthenticated):
        platform.identity.redeem(personal.secret)  # a personal token is not an enrolment


def test_disabling_a_user_revokes_everything_they_hold(platform: Platform) -> None:
    olga = _operator(platform)
    ada = platform.identity.register_user(name="ada", roles=["researcher"])
    pending = platform.identity.enrol("ada", by=olga)
    first = platform.identity.issue_token("ada")
    second = platform.identity.issue_token("ada")
    with pytest.raises(Forbidden):
        platform.identity.disable_user("olga", by=olga)  # nobody locks themselves out
    with pytest.raises(Forbidden):
        platform.identity.disable_user("olga", by=platform.identity.authenticate(first.secret))
    disabled = platform.identity.disable_user("ada", by=olga, reason="left the project")
    assert disabled.disabled
    assert platform.identity.user("ada").disabled
    for secret in (first.secret, second.secret):
        with pytest.raises(Unauthenticated):
            platform.identity.authenticate(secret)
    with pytest.raises(Unauthenticated):
        platform.identity.redeem(pending.secret)
    with pytest.raises(Conflict, match="disabled"):
        platform.identity.enrol("ada", by=olga)
    with pytest.raises(Conflict, match="disabled"):
        platform.identity.issue_token("ada")
    assert all(t.revoked_at is not None for t in platform.identity.tokens_of("ada"))
    assert platform.identity.disable_user("ada", by=olga) == disabled  # once is enough
    [event] = _entries(platform, "identity.user.disabled")
    revoked = sorted(event.pop("revoked_tokens"))
    assert revoked == sorted([first.token.id, second.token.id, pending.token.id])
    assert event == {"user_id": ada.id, "disabled_by": olga.user_id, "reason": "left the project"}


def test_token_creation_is_limited_per_user(platform: Platform, clock: FrozenClock) -> None:
    platform.identity.register_user(name="ada", roles=["researcher"])
    platform.identity.register_user(name="bob", roles=["researcher"])
    made = [platform.identity.issue_token("ada") for _ in range(MAX_TOKENS_PER_HOUR)]
    with pytest.raises(Conflict) as caught:
        platform.identity.issue_token("ada")
    assert (caught.value.code, caught.value.field) == ("token_rate_limit", "tokens_per_hour")
    platform.identity.issue_token("bob")  # the limit is per user
    clock.advance(timedelta(minutes=61))
    made += [platform.identity.issue_token("ada") for _ in range(MAX_ACTIVE_TOKENS - len(made))]
    clock.advance(timedelta(minutes=61))
    with pytest.raises(Conflict) as caught:
        platform.identity.issue_token("ada")
    assert (caught.value.code, caught.value.field) == ("token_limit", "active_tokens")
    platform.identity.revoke_token(made[0].token.id, by=LOCAL_CONSOLE)
    platform.identity.issue_token("ada")
    assert len(_entries(platform, "identity.token.issued")) == MAX_ACTIVE_TOKENS + 2
