"""Reversible suspension of API tokens, on both databases: live tokens are suspended with a reason
(logged, no secret), answer 401 saying so, no new token is minted meanwhile, and restoring them
makes them work again. Bad input is refused naming the field; nothing changes, nothing is logged."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from pnyx.core.errors import Conflict, FacilityError, InvalidInput, NotFound, Unauthenticated
from pnyx.db.migrate import downgrade, upgrade
from pnyx.identity.model import IssuedToken
from pnyx.server import create_app
from pnyx.wiring import Platform

REASON = "safety incident inc_1"


def logged(platform: Platform) -> list[dict[str, Any]]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT entry FROM outbox ORDER BY id")).scalars()
        return [e for e in (json.loads(r) for r in rows) if e["type"].startswith("identity.token.")]


def state(platform: Platform) -> tuple[object, ...]:
    with platform.engine.connect() as conn:
        tokens = tuple(tuple(r) for r in conn.execute(sa.text("SELECT * FROM api_tokens ORDER BY id")))
        outbox = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar()
    return tokens, outbox


def refused(
    platform: Platform, error: type[FacilityError], field: str | None, call: Callable[[], object]
) -> FacilityError:
    before = state(platform)
    with pytest.raises(error) as info:
        call()
    assert info.value.field == field, info.value.message
    assert state(platform) == before
    return info.value


@pytest.fixture
def held(platform: Platform) -> dict[str, IssuedToken]:
    """ada holds two tokens (one revoked), bob one; carl holds one and is not suspended."""
    for name in ("ada", "bob", "carl"):
        platform.identity.register_user(name=name, roles=["researcher"])
    made = {
        "ada": platform.identity.issue_token("ada"),
        "ada-old": platform.identity.issue_token("ada"),
        "bob": platform.identity.issue_token("bob"),
        "carl": platform.identity.issue_token("carl"),
    }
    operator = platform.identity.register_user(name="opal", roles=["operator"])
    platform.identity.revoke_token(made["ada-old"].token.id, by=platform.identity.principal_of(operator.name))
    return made


def test_suspended_tokens_answer_401_saying_so_until_restored(
    platform: Platform, held: dict[str, IssuedToken]
) -> None:
    suspended = platform.identity.suspend_tokens(["bob", "ada"], reason=REASON, by="safety-incident")
    assert sorted(suspended) == sorted([held["ada"].token.id, held["bob"].token.id])  # the revoked one not
    for name in ("ada", "bob"):
        with pytest.raises(Unauthenticated) as info:
            platform.identity.authenticate(held[name].secret)
        assert info.value.code == "token_suspended"
        assert "suspended" in info.value.message
        assert REASON in info.value.message
    assert platform.identity.authenticate(held["carl"].secret).name == "carl"
    [ada] = [t for t in platform.identity.tokens_of("ada") if t.id == held["ada"].token.id]
    assert (ada.suspended, ada.suspended_reason) == (True, REASON)

    entries = [e for e in logged(platform) if e["type"] == "identity.token.suspended"]
    assert sorted(e["data"]["token_id"] for e in entries) == sorted(suspended)
    assert {(e["data"]["reason"], e["data"]["suspended_by"]) for e in entries} == {
        (REASON, "safety-incident")
    }
    assert all(held[n].secret not in json.dumps(entries) for n in held)

    assert platform.identity.suspend_tokens(["ada"], reason=REASON, by="x") == []  # nothing new

    restored = platform.identity.restore_tokens(suspended, by="safety-incident")
    assert sorted(restored) == sorted(suspended)
    assert platform.identity.authenticate(held["ada"].secret).name == "ada"
    restores = [e["data"]["token_id"] for e in logged(platform) if e["type"] == "identity.token.restored"]
    assert sorted(restores) == sorted(suspended)
    assert platform.identity.restore_tokens(suspended, by="safety-incident") == []  # nothing suspended now


def test_no_new_token_while_suspended_and_a_token_revoked_meanwhile_stays_revoked(
    platform: Platform, held: dict[str, IssuedToken]
) -> None:
    [ada] = platform.identity.suspend_tokens(["ada"], reason=REASON, by="safety-incident")
    error = refused(platform, Conflict, "name", lambda: platform.identity.issue_token("ada"))
    assert error.code == "tokens_suspended"
    opal = platform.identity.principal_of("opal")
    platform.identity.revoke_token(ada, by=opal)
    assert platform.identity.restore_tokens([ada], by="safety-incident") == []
    with pytest.raises(Unauthenticated) as info:
        platform.identity.authenticate(held["ada"].secret)
    assert info.value.code == "token_revoked"


def test_a_pending_enrolment_is_suspended_too(platform: Platform) -> None:
    platform.identity.register_user(name="dora", roles=["researcher"])
    opal = platform.identity.register_user(name="opal", roles=["operator"])
    enrolment = platform.identity.enrol("dora", by=platform.identity.principal_of(opal.name))
    assert platform.identity.suspend_tokens(["dora"], reason=REASON, by="safety-incident") == [
        enrolment.token.id
    ]
    error = refused(platform, Unauthenticated, None, lambda: platform.identity.redeem(enrolment.secret))
    assert error.code == "token_suspended"


def test_bad_suspensions_are_refused_naming_the_field(
    platform: Platform, held: dict[str, IssuedToken]
) -> None:
    suspend = platform.identity.suspend_tokens
    error = refused(
        platform, NotFound, "user_names", lambda: suspend(["ada", "nobody"], reason=REASON, by="x")
    )
    assert "nobody" in error.message
    refused(platform, InvalidInput, "reason", lambda: suspend(["ada"], reason="  ", by="x"))
    refused(platform, InvalidInput, "reason", lambda: suspend(["ada"], reason="x" * 301, by="x"))
    refused(platform, InvalidInput, "by", lambda: suspend(["ada"], reason=REASON, by=""))
    restore = platform.identity.restore_tokens
    refused(platform, NotFound, "token_ids", lambda: restore([held["ada"].token.id, "tok_none"], by="x"))
    assert platform.identity.authenticate(held["ada"].secret).name == "ada"


def test_the_api_answers_401_naming_the_suspension(platform: Platform, held: dict[str, IssuedToken]) -> None:
    platform.identity.suspend_tokens(["ada"], reason=REASON, by="safety-incident")
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as client:
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {held['ada'].secret}"})
        assert response.status_code == 401
        assert response.json()["code"] == "token_suspended"
        assert "suspended" in response.json()["detail"]
        listed = client.get("/api/v1/me", headers={"Authorization": f"Bearer {held['carl'].secret}"})
        assert listed.status_code == 200


def test_going_down_a_suspended_token_is_revoked_never_restored(
    platform: Platform, held: dict[str, IssuedToken]
) -> None:
    [ada] = platform.identity.suspend_tokens(["ada"], reason=REASON, by="safety-incident")
    downgrade(platform.engine, "0012")
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, revoked_at IS NOT NULL FROM api_tokens")).all()
    revoked = {token_id for token_id, is_revoked in rows if is_revoked}
    assert revoked == {ada, held["ada-old"].token.id}
    upgrade(platform.engine)
    with pytest.raises(Unauthenticated) as info:
        platform.identity.authenticate(held["ada"].secret)
    assert info.value.code == "token_revoked"
    assert platform.identity.authenticate(held["bob"].secret).name == "bob"
