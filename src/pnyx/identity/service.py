"""Identity use cases, one transaction each."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable

from pnyx.core.errors import Conflict, Forbidden, NotFound, Unauthenticated
from pnyx.core.ids import TokenId, UserId, new_id
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import (
    ApiToken,
    IssuedToken,
    Principal,
    Role,
    TokenIssued,
    TokenRevoked,
    User,
    UserRegistered,
    UserRolesChanged,
)
from pnyx.identity.rules import (
    TOKEN_PREFIX,
    check_token_usable,
    hash_token,
    parse_roles,
    token_lifetime,
    validate_email,
    validate_user_name,
)
from pnyx.identity.store import TokenRepository, UserRepository


class IdentityService:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def register_user(
        self,
        *,
        name: str,
        roles: Iterable[str],
        display_name: str | None = None,
        email: str | None = None,
        member_state: str | None = None,
    ) -> User:
        validate_user_name(name)
        parsed = parse_roles(roles)
        email = validate_email(email or f"{name}@pnyx.example")
        with self.uow.write() as tx:
            repo = UserRepository(tx.conn)
            if repo.by_name(name) is not None:
                raise Conflict(f"a user named {name!r} already exists", field="name", code="user_exists")
            user = User(
                id=UserId(new_id("usr")),
                name=name,
                display_name=display_name or name,
                email=email,
                roles=parsed,
                member_state=member_state.upper() if member_state else None,
                created_at=tx.now,
            )
            repo.add(user)
            tx.emit(
                UserRegistered(
                    user_id=user.id,
                    name=user.name,
                    roles=tuple(sorted(r.value for r in parsed)),
                    member_state=user.member_state,
                )
            )
        return user

    def set_roles(self, name: str, roles: Iterable[str]) -> User:
        parsed = parse_roles(roles)
        with self.uow.write() as tx:
            repo = UserRepository(tx.conn)
            user = _user_named(repo, name)
            changed = dataclasses.replace(user, roles=parsed)
            repo.set_roles(changed)
            tx.emit(UserRolesChanged(user_id=user.id, roles=tuple(sorted(r.value for r in parsed))))
        return changed

    def list_users(self) -> list[User]:
        with self.uow.read() as conn:
            return UserRepository(conn).list()

    def user(self, name: str) -> User:
        with self.uow.read() as conn:
            return _user_named(UserRepository(conn), name)

    def issue_token(self, user_name: str, *, label: str = "", days: int = 90) -> IssuedToken:
        lifetime = token_lifetime(days)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.uow.write() as tx:
            user = _user_named(UserRepository(tx.conn), user_name)
            token = ApiToken(
                id=TokenId(new_id("tok")),
                user_id=user.id,
                label=label,
                created_at=tx.now,
                expires_at=tx.now + lifetime,
            )
            TokenRepository(tx.conn).add(token, hash_token(secret))
            tx.emit(TokenIssued(token_id=token.id, user_id=user.id, expires_at=token.expires_at))
        return IssuedToken(token=token, secret=secret)

    def revoke_token(self, token_id: str, *, by: Principal) -> ApiToken:
        with self.uow.write() as tx:
            tokens = TokenRepository(tx.conn)
            token = tokens.by_id(TokenId(token_id))
            if token is None:
                raise NotFound(f"no API token {token_id!r}", field="token_id")
            if token.user_id != by.user_id and Role.OPERATOR not in by.roles:
                raise Forbidden("only its owner or an operator may revoke a token")
            if token.revoked_at is not None:
                return token
            tokens.revoke(token.id, tx.now)
            tx.emit(TokenRevoked(token_id=token.id, user_id=token.user_id))
            return dataclasses.replace(token, revoked_at=tx.now)

    def tokens_of(self, user_name: str) -> list[ApiToken]:
        with self.uow.read() as conn:
            user = _user_named(UserRepository(conn), user_name)
            return TokenRepository(conn).for_user(user.id)

    def principal_of(self, name: str) -> Principal:
        """The named user as a principal: for the CLI on the facility's own machine, which acts for them."""
        user = self.user(name)
        if user.disabled:
            raise Unauthenticated(f"user {name} is disabled", code="user_disabled")
        return Principal(user_id=user.id, name=user.name, roles=user.roles)

    def authenticate(self, secret: str) -> Principal:
        """The token authenticator. An OIDC authenticator would return the same ``Principal``."""
        with self.uow.read() as conn:
            token = TokenRepository(conn).by_hash(hash_token(secret))
            if token is None:
                raise Unauthenticated("unknown API token", code="token_unknown")
            check_token_usable(token, self.uow.clock.now())
            user = UserRepository(conn).by_id(token.user_id)
        if user is None or user.disabled:
            raise Unauthenticated("the token's user is disabled", code="user_disabled")
        return Principal(user_id=user.id, name=user.name, roles=user.roles)


def _user_named(repo: UserRepository, name: str) -> User:
    user = repo.by_name(name)
    if user is None:
        raise NotFound(f"no user named {name!r}", field="name", code="user_not_found")
    return user
