"""Portal sessions (docs/adr/0011-portal-sessions.md): what a browser without JavaScript signs in with.

A session is a random id in an HttpOnly, SameSite=Strict cookie scoped to ``/portal``; the server
keeps, in this process's memory only, whom it stands for and how to ask the identity again on every
request (``check``: the token authenticated anew, so an expired, revoked or suspended token or a
disabled user ends the session at once), its CSRF token (a hidden field of every form it posts) and
a one-shot note for the page a form redirects to (Post/Redirect/Get: what was done, or the refusal
with what was typed). No raw token reaches the cookie, the log or the disk; a restart signs everyone
out. One person holds at most ``MAX_PER_PERSON`` sessions (their sixth ends their own oldest, never
anyone else's), and the store throttles sign-ins (``throttle.py``) and keeps the OpenID Connect flows
under way (``oidc_flows.py``).
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import Request
from starlette.responses import Response

from pnyx.core.clock import Clock
from pnyx.core.errors import Unauthenticated
from pnyx.identity.model import ANONYMOUS, Principal
from pnyx.portal.oidc_flows import FlowStore
from pnyx.portal.throttle import Throttle

COOKIE = "pnyx_session"
PATH = "/portal"
LIFETIME = timedelta(hours=8)  # a session ends then, or sooner with its token
MAX_SESSIONS = 10_000  # beyond it the ended, then the oldest, are dropped
MAX_PER_PERSON = 5  # a person's sixth session ends their oldest, never anyone else's
SIGN_INS_PER_CLIENT = 30  # sign-in attempts a minute from one address (throttle.py)
SIGN_INS_PER_PERSON = 10  # sessions a minute for one person
Check = Callable[[], Principal]  # who the session stands for now; raises Unauthenticated once it may not


@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """What a form came to, for the one page its redirect shows: ``outcome`` is ``desk.Outcome``."""

    page: str
    outcome: object


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalSession:
    id: str
    csrf: str
    principal: Principal
    check: Check
    expires_at: datetime
    note: Note | None = None


@dataclass(slots=True)
class SessionStore:
    """The live sessions of this server process, by id; the sign-ins they came from (``throttle.py``)
    and the OpenID Connect flows under way (``oidc_flows.py``)."""

    clock: Clock
    lifetime: timedelta = LIFETIME
    limit: int = MAX_SESSIONS
    per_person: int = MAX_PER_PERSON
    clients: Throttle = field(init=False)  # sign-in attempts per client address
    people: Throttle = field(init=False)  # sessions opened per person
    flows: FlowStore = field(init=False)
    _sessions: dict[str, PortalSession] = field(default_factory=dict)
    _of_person: dict[str, list[str]] = field(default_factory=dict)  # a person's session ids, oldest first
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.clients = Throttle(self.clock, SIGN_INS_PER_CLIENT)
        self.people = Throttle(self.clock, SIGN_INS_PER_PERSON)
        self.flows = FlowStore(self.clock)

    def open(self, principal: Principal, check: Check) -> PortalSession:
        session = PortalSession(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            principal=principal,
            check=check,
            expires_at=self.clock.now() + self.lifetime,
        )
        with self._lock:
            self._make_room(principal.name)
            self._sessions[session.id] = session
            self._of_person.setdefault(principal.name, []).append(session.id)
        return session

    def find(self, session_id: str) -> PortalSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def close(self, session_id: str) -> None:
        with self._lock:
            self._drop(session_id)

    def leave_note(self, session_id: str, page: str, outcome: object) -> None:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is not None:
                self._sessions[session_id] = dataclasses.replace(found, note=Note(page=page, outcome=outcome))

    def take_note(self, session_id: str, page: str) -> object | None:
        """The note left for ``page``, once; a note for another page stays."""
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None or found.note is None or found.note.page != page:
                return None
            self._sessions[session_id] = dataclasses.replace(found, note=None)
            return found.note.outcome

    def _make_room(self, person: str) -> None:
        """Drop the ended (sessions end in the order they open: from the oldest, while ended), the
        person's own oldest beyond ``per_person``, then the oldest of all beyond ``limit``."""
        now = self.clock.now()
        while self._sessions and self._oldest().expires_at <= now:
            self._drop(self._oldest().id)
        own = list(self._of_person.get(person, ()))
        for sid in own[: max(0, len(own) + 1 - self.per_person)]:
            self._drop(sid)
        while len(self._sessions) >= self.limit:
            self._drop(self._oldest().id)

    def _oldest(self) -> PortalSession:
        return next(iter(self._sessions.values()))  # dicts keep insertion order

    def _drop(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        own = self._of_person.get(session.principal.name, [])
        own.remove(session_id)
        if not own:
            del self._of_person[session.principal.name]


def store_of(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.portal_sessions
    return store


def current(request: Request) -> PortalSession | None:
    """The session the request's cookie names, if the server has it (ended or not)."""
    session_id = request.cookies.get(COOKIE)
    return store_of(request).find(session_id) if session_id else None


def session_visitor(request: Request) -> Principal:
    """Who the cookie's session stands for now: the public without a cookie. A session that ended
    (its lifetime, sign-out, a restart) or whose token the identity no longer accepts is closed and
    answered 401 with the reason."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return ANONYMOUS
    store = store_of(request)
    session = store.find(session_id)
    if session is None:
        raise Unauthenticated(
            "your portal session has ended (signed out, or the server restarted): sign in again",
            code="session_unknown",
        )
    if store.clock.now() >= session.expires_at:
        store.close(session_id)
        hours = int(store.lifetime.total_seconds() // 3600)
        raise Unauthenticated(
            f"your portal session ended after {hours} hours: sign in again", code="session_expired"
        )
    try:
        return session.check()
    except Unauthenticated:
        store.close(session_id)
        raise


def set_cookie(response: Response, request: Request, session: PortalSession, lifetime: timedelta) -> None:
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(lifetime.total_seconds()),
        path=PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, request: Request) -> None:
    """End the browser's session cookie, where the request carried one (another site's post carries
    none: its answer must not sign the person out)."""
    if COOKIE not in request.cookies:
        return
    response.delete_cookie(
        COOKIE, path=PATH, secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )


def kept_fields(values: Mapping[str, str]) -> dict[str, str]:
    """What a person typed, without the form's CSRF token."""
    return {k: v for k, v in values.items() if k != "csrf"}
