"""Identity tables and repositories."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from pnyx.core.ids import TokenId, UserId
from pnyx.db.metadata import UtcDateTime, metadata
from pnyx.identity.model import ApiToken, Role, TokenKind, User

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("member_state", sa.String(2), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("role", sa.String(40), primary_key=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id"), nullable=False, index=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("issued_by", sa.String(40), nullable=False),  # a user id, or "local-console"
    sa.Column("suspended_at", UtcDateTime(), nullable=True),  # reversibly suspended since
    sa.Column("suspended_reason", sa.String(300), nullable=True),
)


class UserRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, user: User) -> None:
        self.conn.execute(
            users.insert().values(
                id=user.id,
                name=user.name,
                display_name=user.display_name,
                email=user.email,
                member_state=user.member_state,
                created_at=user.created_at,
                disabled=user.disabled,
            )
        )
        self._write_roles(user)

    def set_roles(self, user: User) -> None:
        self.conn.execute(user_roles.delete().where(user_roles.c.user_id == user.id))
        self._write_roles(user)

    def _write_roles(self, user: User) -> None:
        self.conn.execute(
            user_roles.insert(), [{"user_id": user.id, "role": r.value} for r in sorted(user.roles)]
        )

    def set_disabled(self, user: User) -> None:
        self.conn.execute(users.update().where(users.c.id == user.id).values(disabled=user.disabled))

    def by_name(self, name: str, *, for_update: bool = False) -> User | None:
        """``for_update`` locks the user's row: token creation for one user is serialised by it."""
        query = sa.select(users).where(users.c.name == name)
        row = self.conn.execute(query.with_for_update() if for_update else query).mappings().first()
        return None if row is None else self._load(row)

    def by_id(self, user_id: UserId, *, for_update: bool = False) -> User | None:
        query = sa.select(users).where(users.c.id == user_id)
        row = self.conn.execute(query.with_for_update() if for_update else query).mappings().first()
        return None if row is None else self._load(row)

    def names(self, user_ids: Iterable[str]) -> list[str]:
        """The names of the users with these ids (unknown ids are left out), sorted."""
        wanted = sorted(set(user_ids))
        query = sa.select(users.c.name).where(users.c.id.in_(wanted)).order_by(users.c.name)
        return list(self.conn.execute(query).scalars()) if wanted else []

    def list(self) -> list[User]:
        rows = self.conn.execute(sa.select(users).order_by(users.c.name)).mappings().all()
        return [self._load(r) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(users)).scalar_one())

    def _load(self, row: sa.RowMapping) -> User:
        roles = self.conn.execute(
            sa.select(user_roles.c.role).where(user_roles.c.user_id == row["id"])
        ).scalars()
        return User(
            id=UserId(row["id"]),
            name=row["name"],
            display_name=row["display_name"],
            email=row["email"],
            roles=frozenset(Role(r) for r in roles),
            member_state=row["member_state"],
            created_at=row["created_at"],
            disabled=row["disabled"],
        )


class TokenRepository:
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, token: ApiToken, token_hash: str) -> None:
        self.conn.execute(
            api_tokens.insert().values(
                id=token.id,
                user_id=token.user_id,
                token_hash=token_hash,
                label=token.label,
                created_at=token.created_at,
                expires_at=token.expires_at,
                revoked_at=token.revoked_at,
                kind=token.kind.value,
                issued_by=token.issued_by,
                suspended_at=token.suspended_at,
                suspended_reason=token.suspended_reason,
            )
        )

    def by_hash(self, token_hash: str) -> ApiToken | None:
        row = (
            self.conn.execute(sa.select(api_tokens).where(api_tokens.c.token_hash == token_hash))
            .mappings()
            .first()
        )
        return None if row is None else _token(row)

    def by_id(self, token_id: TokenId) -> ApiToken | None:
        row = self.conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).mappings().first()
        return None if row is None else _token(row)

    def for_user(self, user_id: UserId) -> list[ApiToken]:
        rows = self.conn.execute(
            sa.select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.created_at)
        ).mappings()
        return [_token(r) for r in rows]

    def revoke(self, token_id: TokenId, when: datetime) -> bool:
        """Revoke a token not yet revoked; False if it already was (a used enrolment token)."""
        done = self.conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=when)
        )
        return done.rowcount == 1

    def suspend(self, token_id: TokenId, when: datetime, reason: str) -> bool:
        """Suspend a live token not yet suspended; False if it is revoked or suspended already."""
        done = self.conn.execute(
            api_tokens.update()
            .where(
                api_tokens.c.id == token_id,
                api_tokens.c.revoked_at.is_(None),
                api_tokens.c.suspended_at.is_(None),
            )
            .values(suspended_at=when, suspended_reason=reason)
        )
        return done.rowcount == 1

    def restore(self, token_id: TokenId) -> bool:
        """Lift a suspension; False if the token was not suspended."""
        done = self.conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id, api_tokens.c.suspended_at.is_not(None))
            .values(suspended_at=None, suspended_reason=None)
        )
        return done.rowcount == 1


def _token(row: sa.RowMapping) -> ApiToken:
    return ApiToken(
        id=TokenId(row["id"]),
        user_id=UserId(row["user_id"]),
        label=row["label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        kind=TokenKind(row["kind"]),
        issued_by=UserId(row["issued_by"]),
        suspended_at=row["suspended_at"],
        suspended_reason=row["suspended_reason"],
    )
