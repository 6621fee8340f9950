"""A signed-in person's desk: the panels the server renders for a role, and the forms that act on them.

Every desk page (delegate, reviewer, researcher, operator, auditor, safety officer, jobs) is the shell
``templates/desk_shell.html``, readable without JavaScript. For a visitor signed in with a portal
session (``sessions.py``, a cookie) the server renders the role's panel inside the shell; its forms
post as plain forms with the session's CSRF token, and the answer is a redirect back to the page
(Post/Redirect/Get) whose panel shows what was done, or the service's refusal beside the field it names
(``FacilityError.field``, mapped by ``Posted.where``) with what was typed kept in that form. A session
that ended, or whose token the identity no longer accepts, answers with the sign-in form and the
reason, keeping what a posted form held. ``static/desk.js`` is an enhancement: it refreshes a live
tally, and for a visitor who keeps a token in this tab instead (sessionStorage, sent as a bearer
header, as API clients do) it fetches the panel (``.../panel``) and posts the forms, answered with the
panel alone. Panels and refusals are never kept by a cache (``no-store``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.core.errors import FacilityError, Unauthenticated
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.portal.deps import STATUS, visitor
from pnyx.portal.sessions import COOKIE, current, kept_fields, session_visitor, store_of
from pnyx.portal.sign_in_form import remember_sign_in, render_sign_in, sign_in_context
from pnyx.wiring import Platform

PRIVATE = {"Cache-Control": "no-store"}  # a person's own view: never kept by a cache
SHELL = "desk_shell.html"
Act = Callable[[Principal], str]  # a person's act through a service; returns what was done, in words
Context = Callable[[Principal], Mapping[str, object]]  # what a panel shows to the person


@dataclass(frozen=True, slots=True)
class Posted:
    """A form as posted: its name (which form on the panel: ``table``, ``conflict:<id>``), what was
    typed, the fields it shows an error beside, and the service's names for fields the form names
    otherwise (``requested_hours`` for ``hours``)."""

    form: str
    values: Mapping[str, str] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()
    renamed: Mapping[str, str] = field(default_factory=dict)

    def where(self, name: str | None) -> str:
        """The form field an error names, or '' (shown at the top of the panel): the field itself,
        else its head or its last part (``effect.shares`` at ``effect``,
        ``safety.planned_training_flop`` at ``planned_training_flop``), each as ``renamed``."""
        parts = (name or "").split(".")
        for candidate in (name or "", parts[0], parts[-1]):
            slot = self.renamed.get(candidate, candidate)
            if slot in self.fields:
                return slot
        return ""


@dataclass(frozen=True, slots=True)
class Refusal:
    """The service's refusal of a posted form: its message and status, the field it is shown beside
    ('' for none of the form's), and the form as posted."""

    message: str
    status: int
    slot: str
    posted: Posted


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a posted form came to: what was done, or its refusal; ``kept`` is a form refused for an
    ended session, shown again as typed once the person signed in again."""

    done: str | None = None
    refusal: Refusal | None = None
    kept: Posted | None = None

    @property
    def status(self) -> int:
        return self.refusal.status if self.refusal else 200

    def errors(self, form: str) -> Mapping[str, str]:
        """``{field: message}`` when ``form`` was refused for one of its fields; else nothing."""
        r = self.refusal
        return {r.slot: r.message} if r and r.slot and r.posted.form == form else {}

    def typed(self, form: str) -> Mapping[str, str]:
        """What was typed into ``form`` when it was refused, to show it again; else nothing."""
        posted = self.refusal.posted if self.refusal else self.kept
        return posted.values if posted and posted.form == form else {}

    def context(self) -> dict[str, object]:
        return {"done": self.done, "refusal": self.refusal, "errors": self.errors, "typed": self.typed}


def attempt(act: Act, who: Principal, posted: Posted) -> Outcome:
    """Run ``act``; a refusal is kept with the field it names and what was typed."""
    try:
        return Outcome(done=act(who))
    except FacilityError as exc:
        return Outcome(refusal=Refusal(exc.message, STATUS[exc.kind], posted.where(exc.field), posted))


class Desk:
    """Renders the panels of a role (any of ``roles``); anyone else gets the refusal (401 without a
    valid token or session, 403), as does a panel whose record the service does not show them (404)."""

    def __init__(self, templates: Jinja2Templates, *roles: Role) -> None:
        self.templates = templates
        self.roles = roles

    def panel(
        self,
        request: Request,
        platform: Platform,
        template: str,
        context: Context,
        act: tuple[Act, Posted] | None = None,
        page: str | None = None,
    ) -> Response:
        """The panel for the visitor, after ``act`` (and the form it came from) where one is given.
        A form a browser posted without a bearer header is answered by a redirect to ``page`` (the
        desk page the form is on), whose panel then shows the outcome."""
        if act is not None and page is not None and "authorization" not in request.headers:
            return self._posted(request, platform, act, page)
        try:
            who = visitor(request, platform)
            require_role(who, *self.roles)
            outcome = attempt(act[0], who, act[1]) if act else _note(request)
            shown = {"who": who, **context(who), **outcome.context(), "csrf": _csrf(request)}
        except FacilityError as exc:
            return self.refusal(request, exc)
        return self.templates.TemplateResponse(
            request, template, shown, status_code=outcome.status, headers=PRIVATE
        )

    def _posted(self, request: Request, platform: Platform, act: tuple[Act, Posted], page: str) -> Response:
        """A plain form's post: acted on, its outcome noted for ``page``, and a redirect there. Refused
        for a session that ended, what was typed is kept for the sign-in form; never for a post that
        carried no session cookie (what a stranger's page posts, to plant a form filled their way)."""
        try:
            who = visitor(request, platform)
            require_role(who, *self.roles)
        except Unauthenticated as exc:
            kept = (act[1].form, kept_fields(act[1].values)) if COOKIE in request.cookies else None
            return render_sign_in(
                self.templates, request, next_page=page, status=401, reason=exc.message, kept=kept
            )
        except FacilityError as exc:
            return self.refusal(request, exc, "desk_refused_page.html")
        outcome = attempt(act[0], who, act[1])
        session = current(request)
        if session is not None:
            store_of(request).leave_note(session.id, urlsplit(page).path, outcome)
        return RedirectResponse(page, status_code=303, headers=PRIVATE)

    def refusal(
        self, request: Request, exc: FacilityError, template: str = "desk_refused.html"
    ) -> HTMLResponse:
        status = STATUS[exc.kind]
        context = {"message": exc.message, "status": status, "roles": [r.value for r in self.roles]}
        return self.templates.TemplateResponse(
            request, template, context, status_code=status, headers=PRIVATE
        )

    def shell(
        self,
        request: Request,
        *,
        title: str,
        panel: str,
        template: str = SHELL,
        inner: Callable[[], Response] | None = None,
        **context: object,
    ) -> Response:
        """The page around a panel (``template`` extends the shell): the panel's address and what the
        public may read; for a signed-in session the panel itself (``inner``), else the sign-in form.
        A session that ended answers with the sign-in page and the reason."""
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        shown: dict[str, object] = {"title": title, "panel": panel, **context}
        if request.cookies.get(COOKIE):
            try:
                shown["who"] = session_visitor(request)
            except Unauthenticated as exc:
                return render_sign_in(self.templates, request, next_page=here, status=401, reason=exc.message)
            shown["csrf"] = _csrf(request)
            shown["rendered"] = bytes(inner().body).decode() if inner is not None else ""
            return self.templates.TemplateResponse(request, template, shown, headers=PRIVATE)
        form = sign_in_context(request, next_page=here)
        response = self.templates.TemplateResponse(request, template, {**shown, **form})
        remember_sign_in(response, request, str(form["sign_in"]))
        return response


def _csrf(request: Request) -> str:
    session = current(request)
    return session.csrf if session is not None and "authorization" not in request.headers else ""


def _note(request: Request) -> Outcome:
    """The outcome a form's redirect left for this page, once (a browser's session only)."""
    session = current(request)
    if session is None or "authorization" in request.headers:
        return Outcome()
    note = store_of(request).take_note(session.id, request.url.path)
    return note if isinstance(note, Outcome) else Outcome()
