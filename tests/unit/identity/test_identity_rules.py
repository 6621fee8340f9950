"""Pure identity rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from pnyx.core.ids import TokenId, UserId
from pnyx.identity.model import ANONYMOUS, LOCAL_CONSOLE, ApiToken, Principal, Role, TokenKind, User
from pnyx.identity.rules import (
    MAX_ACTIVE_TOKENS,
    MAX_TOKENS_PER_HOUR,
    check_may_enrol,
    check_may_mint,
    check_redeemable,
    check_token_quota,
    check_token_usable,
    hash_token,
    parse_roles,
    require_role,
    token_lifetime,
    validate_email,
    validate_user_name,
)

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_names_and_emails() -> None:
    assert validate_user_name("ada.l-1") == "ada.l-1"
    for bad in ("A", "1ada", "ada lovelace", "x" * 64, ""):
        with pytest.raises(InvalidInput):
            validate_user_name(bad)
    with pytest.raises(InvalidInput):
        validate_email("not-an-email")


def test_roles() -> None:
    assert parse_roles(["operator", " auditor"]) == {Role.OPERATOR, Role.AUDITOR}
    with pytest.raises(InvalidInput, match="roles are"):
        parse_roles(["root"])


def test_role_checks() -> None:
    with pytest.raises(Unauthenticated):
        require_role(ANONYMOUS, Role.OPERATOR)
    user = Principal(user_id=UserId("u"), name="u", roles=frozenset({Role.RESEARCHER}))
    with pytest.raises(Forbidden, match="operator or auditor"):
        require_role(user, Role.OPERATOR, Role.AUDITOR)
    require_role(user, Role.RESEARCHER)


def _token(
    kind: TokenKind = TokenKind.PERSONAL, created_at: datetime = NOW, revoked_at: datetime | None = None
) -> ApiToken:
    return ApiToken(
        id=TokenId("t"),
        user_id=UserId("u"),
        label="",
        created_at=created_at,
        expires_at=created_at + timedelta(1),
        issued_by=UserId("u"),
        kind=kind,
        revoked_at=revoked_at,
    )


ADA = User(
    id=UserId("usr_ada"),
    name="ada",
    display_name="Ada",
    email="ada@x.example",
    roles=frozenset({Role.RESEARCHER}),
    member_state=None,
    created_at=NOW,
)
OLGA_ID = UserId("usr_olga")
OLGA = Principal(user_id=OLGA_ID, name="olga", roles=frozenset({Role.OPERATOR}))


def test_token_rules() -> None:
    token = _token()
    check_token_usable(token, NOW)
    with pytest.raises(Unauthenticated, match="expired"):
        check_token_usable(token, NOW + timedelta(days=1))
    assert hash_token("a") != hash_token("b")
    assert len(hash_token("a")) == 64
    with pytest.raises(InvalidInput):
        token_lifetime(367)
    with pytest.raises(InvalidInput, match="enrolment tokens live 1 to 7 days"):
        token_lifetime(8, TokenKind.ENROLMENT)


def test_enrolment_tokens_authenticate_nothing_and_redeem_once() -> None:
    enrolment = _token(TokenKind.ENROLMENT)
    with pytest.raises(Unauthenticated) as caught:
        check_token_usable(enrolment, NOW)
    assert caught.value.code == "enrolment_token"
    assert check_redeemable(enrolment, NOW) is enrolment
    for bad in (None, _token(), _token(TokenKind.ENROLMENT, revoked_at=NOW)):
        with pytest.raises(Unauthenticated):
            check_redeemable(bad, NOW)
    with pytest.raises(Unauthenticated, match="expired"):
        check_redeemable(enrolment, NOW + timedelta(days=1))


def test_nobody_mints_a_usable_token_for_someone_else() -> None:
    me = Principal(user_id=ADA.id, name="ada", roles=ADA.roles)
    check_may_mint(ADA, me)
    check_may_mint(ADA, None)  # the user in person
    for other in (OLGA, LOCAL_CONSOLE):
        with pytest.raises(Forbidden) as caught:
            check_may_mint(ADA, other)
        assert caught.value.code == "not_in_person"
    check_may_enrol(ADA, OLGA, [], NOW)
    check_may_enrol(ADA, LOCAL_CONSOLE, [], NOW)
    with pytest.raises(Forbidden):
        check_may_enrol(ADA, me, [], NOW)
    gone = dataclasses.replace(ADA, disabled=True)
    with pytest.raises(Conflict, match="disabled"):
        check_may_mint(gone, None)
    with pytest.raises(Conflict, match="disabled"):
        check_may_enrol(gone, OLGA, [], NOW)


def test_an_operator_cannot_enrol_a_user_who_holds_a_live_token() -> None:
    """Otherwise the operator redeems the enrolment and acts as the user unnoticed."""
    held = ApiToken(
        id=TokenId("tok_1"),
        user_id=ADA.id,
        label="",
        created_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=1),
        issued_by=ADA.id,
    )
    with pytest.raises(Conflict) as caught:
        check_may_enrol(ADA, OLGA, [held], NOW)
    assert (caught.value.code, caught.value.field) == ("user_has_tokens", "name")
    pending = dataclasses.replace(held, kind=TokenKind.ENROLMENT, issued_by=OLGA_ID)
    with pytest.raises(Conflict):
        check_may_enrol(ADA, OLGA, [pending], NOW)
    check_may_enrol(ADA, OLGA, [dataclasses.replace(held, revoked_at=NOW)], NOW)  # revoked first: fine
    check_may_enrol(ADA, OLGA, [held], NOW + timedelta(days=2))  # expired: fine


@given(
    st.lists(
        st.tuples(st.integers(0, 600), st.booleans(), st.booleans()),  # minutes ago, revoked, enrolment
        max_size=20,
    )
)
def test_token_quota(held: list[tuple[int, bool, bool]]) -> None:
    tokens = [
        _token(
            TokenKind.ENROLMENT if enrolment else TokenKind.PERSONAL,
            created_at=NOW - timedelta(minutes=ago),
            revoked_at=NOW if revoked else None,
        )
        for ago, revoked, enrolment in held
    ]
    active = sum(1 for t in tokens if t.active_at(NOW))
    recent = sum(1 for ago, _r, _e in held if ago < 60)
    if active >= MAX_ACTIVE_TOKENS:
        with pytest.raises(Conflict) as caught:
            check_token_quota(tokens, NOW)
        assert (caught.value.code, caught.value.field) == ("token_limit", "active_tokens")
    elif recent >= MAX_TOKENS_PER_HOUR:
        with pytest.raises(Conflict) as caught:
            check_token_quota(tokens, NOW)
        assert (caught.value.code, caught.value.field) == ("token_rate_limit", "tokens_per_hour")
    else:
        check_token_quota(tokens, NOW)
