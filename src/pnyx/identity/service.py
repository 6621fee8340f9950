"""Identity use cases, one transaction each."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable
from datetime import timedelta

from pnyx.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from pnyx.core.ids import TokenId, UserId, new_id
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import (
    ApiToken,
    IssuedToken,
    Principal,
    Role,
    TokenIssued,
    TokenKind,
    TokenRestored,
    TokenRevoked,
    TokenSuspended,
    User,
    UserDisabled,
    UserRegistered,
    UserRolesChanged,
)
from pnyx.identity.rules import (
    ENROLMENT_PREFIX,
    TOKEN_PREFIX,
    check_may_enrol,
    check_may_mint,
    check_none_suspended,
    check_redeemable,
    check_token_quota,
    check_token_usable,
    hash_token,
    parse_roles,
    require_role,
    suspension_reason,
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

    def issue_token(
        self, user_name: str, *, label: str = "", days: int = 90, by: Principal | None = None
    ) -> IssuedToken:
        """A personal token, minted by its own user (``by``; ``None`` is the user in person)."""
        lifetime = token_lifetime(days)
        with self.uow.write() as tx:
            user = _user_named(UserRepository(tx.conn), user_name, for_update=True)
            check_may_mint(user, by)
            check_none_suspended(user, TokenRepository(tx.conn).for_user(user.id), tx.now)
            return _mint(tx, user, label=label, lifetime=lifetime, kind=TokenKind.PERSONAL, by=user.id)

    def enrol(self, user_name: str, *, by: Principal, label: str = "", days: int = 7) -> IssuedToken:
        """An operator's enrolment token for a user: it authenticates nothing and is exchanged once
        (``redeem``) by the user for their own personal token."""
        lifetime = token_lifetime(days, TokenKind.ENROLMENT)
        with self.uow.write() as tx:
            user = _user_named(UserRepository(tx.conn), user_name, for_update=True)
            check_may_enrol(user, by, TokenRepository(tx.conn).for_user(user.id), tx.now)
            kind = TokenKind.ENROLMENT
            return _mint(tx, user, label=label, lifetime=lifetime, kind=kind, by=_issuer(by))

    def redeem(self, enrolment_secret: str, *, label: str = "", days: int = 90) -> IssuedToken:
        """Exchange an enrolment token (used up) for the user's own personal token."""
        lifetime = token_lifetime(days)
        with self.uow.write() as tx:
            tokens = TokenRepository(tx.conn)
            enrolment = check_redeemable(tokens.by_hash(hash_token(enrolment_secret)), tx.now)
            user = UserRepository(tx.conn).by_id(enrolment.user_id, for_update=True)
            if user is None or user.disabled:
                raise Unauthenticated("the enrolment token's user is disabled", code="user_disabled")
            check_none_suspended(user, tokens.for_user(user.id), tx.now)
            if not tokens.revoke(enrolment.id, tx.now):  # lost a race with another redemption
                raise Unauthenticated("this enrolment token has been used", code="token_revoked")
            kind = TokenKind.PERSONAL  # issued by whoever enrolled the user: the log shows who could have
            by = enrolment.issued_by
            return _mint(tx, user, label=label, lifetime=lifetime, kind=kind, by=by, via=enrolment.id)

    def revoke_token(self, token_id: str, *, by: Principal) -> ApiToken:
        with self.uow.write() as tx:
            tokens = TokenRepository(tx.conn)
            token = tokens.by_id(TokenId(token_id))
            if token is None:
                raise NotFound(f"no API token {token_id!r}", field="token_id")
            if token.user_id != by.user_id and Role.OPERATOR not in by.roles:
                raise Forbidden("only its owner or an operator may revoke a token")
            if not tokens.revoke(token.id, tx.now):
                return token
            tx.emit(TokenRevoked(token_id=token.id, user_id=token.user_id, revoked_by=_issuer(by)))
            return dataclasses.replace(token, revoked_at=tx.now)

    def disable_user(self, name: str, *, by: Principal, reason: str = "") -> User:
        """Disable a user and revoke every token they hold, at once. Their tokens then answer 401."""
        require_role(by, Role.OPERATOR)
        with self.uow.write() as tx:
            users = UserRepository(tx.conn)
            user = _user_named(users, name, for_update=True)
            if user.id == by.user_id:
                raise Forbidden("nobody disables themselves", field="name", code="self_disable")
            if user.disabled:
                return user
            disabled = dataclasses.replace(user, disabled=True)
            users.set_disabled(disabled)
            tokens = TokenRepository(tx.conn)
            revoked = tuple(t.id for t in tokens.for_user(user.id) if tokens.revoke(t.id, tx.now))
            tx.emit(
                UserDisabled(
                    user_id=user.id, disabled_by=_issuer(by), reason=reason.strip(), revoked_tokens=revoked
                )
            )
        return disabled

    def suspend_tokens(self, user_names: Iterable[str], *, reason: str, by: str) -> list[TokenId]:
        """Suspend, reversibly, the users' live tokens not suspended yet (a pending enrolment too);
        the ids suspended, each logged with the reason (never a secret). Suspended tokens answer 401
        and their users get no new token until ``restore_tokens``. ``by`` names who acts, for the log
        (an officer, or a safety incident): an in-process use case (an incident's containment), which
        no edge offers; unknown users are refused (field ``user_names``) and nothing is suspended."""
        why, actor = suspension_reason(reason), _actor(by)
        with self.uow.write() as tx:
            users = _users_named(UserRepository(tx.conn), user_names)
            return [t for user in users for t in _suspend(tx, user, why, actor)]

    def restore_tokens(self, token_ids: Iterable[str], *, by: str) -> list[TokenId]:
        """Lift the suspension of these tokens; the ids restored (a token revoked meanwhile, or not
        suspended, is not). Unknown ids are refused (field ``token_ids``) and nothing is restored."""
        actor = _actor(by)
        with self.uow.write() as tx:
            tokens = TokenRepository(tx.conn)
            found = [_token_of(tokens, TokenId(i)) for i in dict.fromkeys(token_ids)]
            restored = [t for t in found if t.revoked_at is None and tokens.restore(t.id)]
            for t in restored:
                tx.emit(TokenRestored(token_id=t.id, user_id=t.user_id, restored_by=actor))
            return [t.id for t in restored]

    def names_of(self, user_ids: Iterable[str]) -> list[str]:
        """The names of the users with these ids, sorted (unknown ids are left out)."""
        with self.uow.read() as conn:
            return UserRepository(conn).names(user_ids)

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


def _user_named(repo: UserRepository, name: str, *, for_update: bool = False) -> User:
    user = repo.by_name(name, for_update=for_update)
    if user is None:
        raise NotFound(f"no user named {name!r}", field="name", code="user_not_found")
    return user


def _users_named(repo: UserRepository, names: Iterable[str]) -> list[User]:
    found = []
    for name in sorted(set(names)):
        user = repo.by_name(name, for_update=True)
        if user is None:
            raise NotFound(f"no user named {name!r}", field="user_names", code="user_not_found")
        found.append(user)
    return found


def _suspend(tx: Transaction, user: User, reason: str, actor: str) -> list[TokenId]:
    tokens = TokenRepository(tx.conn)
    done = [
        t.id for t in tokens.for_user(user.id) if t.active_at(tx.now) and tokens.suspend(t.id, tx.now, reason)
    ]
    for token_id in done:
        tx.emit(TokenSuspended(token_id=token_id, user_id=user.id, reason=reason, suspended_by=actor))
    return done


def _token_of(tokens: TokenRepository, token_id: TokenId) -> ApiToken:
    token = tokens.by_id(token_id)
    if token is None:
        raise NotFound(f"no API token {token_id!r}", field="token_ids", code="token_not_found")
    return token


def _actor(by: str) -> str:
    actor = by.strip()
    if not actor or len(actor) > 80:
        raise InvalidInput("who acts is named in 1-80 characters", field="by")
    return actor


def _issuer(by: Principal) -> UserId:
    return by.user_id or UserId(by.name)


def _mint(
    tx: Transaction,
    user: User,
    *,
    label: str,
    lifetime: timedelta,
    kind: TokenKind,
    by: UserId,
    via: TokenId | None = None,
) -> IssuedToken:
    """Create a token for ``user`` within the per-user limits, and record who issued it."""
    tokens = TokenRepository(tx.conn)
    check_token_quota(tokens.for_user(user.id), tx.now)
    prefix = ENROLMENT_PREFIX if kind is TokenKind.ENROLMENT else TOKEN_PREFIX
    secret = prefix + secrets.token_urlsafe(32)
    token = ApiToken(
        id=TokenId(new_id("tok")),
        user_id=user.id,
        label=label,
        created_at=tx.now,
        expires_at=tx.now + lifetime,
        issued_by=by,
        kind=kind,
    )
    tokens.add(token, hash_token(secret))
    tx.emit(
        TokenIssued(
            token_id=token.id,
            user_id=user.id,
            issued_by=by,
            kind=kind,
            expires_at=token.expires_at,
            enrolment_token_id=via,
        )
    )
    return IssuedToken(token=token, secret=secret)
