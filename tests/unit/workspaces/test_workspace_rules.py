"""Who may do what with a workspace, its one transition, and an uploaded object's fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pnyx.core.errors import Conflict, FacilityError, Forbidden, InvalidInput, NotFound
from pnyx.core.ids import UserId
from pnyx.identity.model import Principal, Role
from pnyx.jobs.clearance import ProjectInfo
from pnyx.workspaces import envelope, rules
from pnyx.workspaces.model import ObjectOrigin, Workspace, WorkspaceAction, WorkspaceObject, WorkspaceStatus

WHEN = datetime(2026, 11, 25, tzinfo=UTC)
PROJECT = ProjectInfo(
    id="prj_a", member_state=None, members=frozenset({UserId("usr_alice")}), over_budget=False
)
SHAPE = rules.ObjectShape(wrapped_bytes=envelope.WRAPPED_BYTES, max_meta=envelope.MAX_META, min_ciphertext=31)


def who(name: str, *roles: Role) -> Principal:
    return Principal(user_id=UserId(f"usr_{name}"), name=name, roles=frozenset(roles))


ALICE = who("alice", Role.RESEARCHER)  # the member
BOB = who("bob", Role.RESEARCHER)  # another project's
OLGA = who("olga", Role.OPERATOR)
AUDREY = who("audrey", Role.AUDITOR)
SOFIA = who("sofia", Role.SAFETY_OFFICER)


def workspace(status: WorkspaceStatus = WorkspaceStatus.ACTIVE) -> Workspace:
    return Workspace(
        id="ws_000000000001", project="prj_a", public_key="x25519:k", status=status,
        created_by="usr_alice", created_at=WHEN,
    )  # fmt: skip


def stored() -> WorkspaceObject:
    return WorkspaceObject(
        id="a" * 32, workspace_id="ws_000000000001", origin=ObjectOrigin.UPLOAD, job_id=None,
        wrapped_key=b"w" * envelope.WRAPPED_BYTES, sealed_meta=b"m", commitment="c" * 64,
        ciphertext_sha256="d" * 64, ciphertext_size=40, created_at=WHEN,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("principal", "sees", "member_error"),
    [(ALICE, True, None), (OLGA, True, Forbidden), (AUDREY, True, Forbidden), (BOB, False, NotFound),
     (SOFIA, False, NotFound)],
)  # fmt: skip
def test_members_do_everything_staff_watch_others_learn_nothing(
    principal: Principal, sees: bool, member_error: type[FacilityError] | None
) -> None:
    assert rules.may_see(principal, PROJECT) is sees
    if member_error is None:
        rules.check_member(principal, PROJECT, "download")
        return
    with pytest.raises(member_error):
        rules.check_member(principal, PROJECT, "download")


def test_a_project_without_a_named_team_has_no_workspace_members() -> None:
    """Unlike ordinary jobs (any researcher may use a project that names no team), an SME's
    workspace is its named team's alone."""
    open_project = ProjectInfo(id="prj_o", member_state=None, members=frozenset(), over_budget=False)
    assert not rules.may_see(BOB, open_project)
    assert not rules.may_see(SOFIA, open_project)
    with pytest.raises(NotFound):
        rules.check_member(BOB, open_project, "download")


def test_members_and_operators_shred_auditors_do_not() -> None:
    rules.check_shred(ALICE, PROJECT)
    rules.check_shred(OLGA, PROJECT)
    with pytest.raises(Forbidden):
        rules.check_shred(AUDREY, PROJECT)
    with pytest.raises(NotFound):
        rules.check_shred(BOB, PROJECT)


def test_staff_see_no_wrapped_key_and_no_sealed_metadata() -> None:
    assert rules.as_seen_by(ALICE, PROJECT, stored()) == stored()
    seen = rules.as_seen_by(AUDREY, PROJECT, stored())
    assert (seen.wrapped_key, seen.sealed_meta, seen.commitment) == (None, b"", "c" * 64)


def test_a_workspace_is_shredded_once() -> None:
    assert rules.transition(workspace(), WorkspaceAction.SHRED) is WorkspaceStatus.SHREDDED
    with pytest.raises(Conflict, match="shredded") as info:
        rules.transition(workspace(WorkspaceStatus.SHREDDED), WorkspaceAction.SHRED)
    assert info.value.code == "workspace_shredded"
    rules.check_active(workspace())
    with pytest.raises(Conflict, match="destroyed"):
        rules.check_active(workspace(WorkspaceStatus.SHREDDED))


GOOD = {"object_id": "0" * 32, "wrapped_key": b"w" * envelope.WRAPPED_BYTES, "sealed_meta": b"m" * 10,
        "commitment": "f" * 64}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("object_id", "0" * 31), ("object_id", "G" * 32), ("object_id", "../" + "0" * 29),
     ("wrapped_key", b"w" * (envelope.WRAPPED_BYTES - 1)), ("wrapped_key", b""),
     ("sealed_meta", b""), ("sealed_meta", b"m" * (envelope.MAX_META + 1)),
     ("commitment", "F" * 64), ("commitment", "f" * 63), ("commitment", "")],
)  # fmt: skip
def test_each_bad_field_is_named(field: str, value: object) -> None:
    rules.check_upload(**GOOD, shape=SHAPE)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as info:
        rules.check_upload(**(GOOD | {field: value}), shape=SHAPE)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_ciphertext_shorter_than_a_header_and_a_tag_and_a_blank_reason_are_refused() -> None:
    rules.check_ciphertext(31, SHAPE)
    with pytest.raises(InvalidInput) as info:
        rules.check_ciphertext(30, SHAPE)
    assert info.value.field == "ciphertext"
    assert rules.check_reason("  court order ") == "court order"
    for bad in ("", "   ", "a\nb", "x" * (rules.MAX_REASON + 1)):
        with pytest.raises(InvalidInput):
            rules.check_reason(bad)
