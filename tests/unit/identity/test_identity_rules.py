"""Pure identity rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pnyx.core.errors import Forbidden, InvalidInput, Unauthenticated
from pnyx.core.ids import TokenId, UserId
from pnyx.identity.model import ANONYMOUS, ApiToken, Principal, Role
from pnyx.identity.rules import (
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


def test_token_rules() -> None:
    token = ApiToken(
        id=TokenId("t"), user_id=UserId("u"), label="", created_at=NOW, expires_at=NOW + timedelta(1)
    )
    check_token_usable(token, NOW)
    with pytest.raises(Unauthenticated, match="expired"):
        check_token_usable(token, NOW + timedelta(days=1))
    assert hash_token("a") != hash_token("b")
    assert len(hash_token("a")) == 64
    with pytest.raises(InvalidInput):
        token_lifetime(367)
