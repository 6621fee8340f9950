"""A signed-in person's desk: the panels the server renders for a role, and the forms that act on them.

Every desk page (delegate, reviewer, researcher, operator, auditor) is the shell
``templates/desk_shell.html``, public and readable without JavaScript for what is public;
``static/desk.js`` sends the visitor's token from this tab's sessionStorage, swaps in the panel the
server renders for the role (or the refusal anyone else gets: 401 sign in again, 403 whose page it is,
404), and posts the panel's forms back. The answer to a form is the panel again: what was done, or the
service's refusal beside the field it names (``FacilityError.field``, mapped by ``Posted.where``) with
what was typed kept in that form; a token the server no longer accepts sends the visitor back to the
sign-in form with the reason. Panels and refusals are never kept by a cache (``no-store``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pnyx.core.errors import FacilityError
from pnyx.identity.model import Principal, Role
from pnyx.identity.rules import require_role
from pnyx.portal.deps import STATUS, visitor
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
    """What a posted form came to: what was done, or its refusal."""

    done: str | None = None
    refusal: Refusal | None = None

    @property
    def status(self) -> int:
        return self.refusal.status if self.refusal else 200

    def errors(self, form: str) -> Mapping[str, str]:
        """``{field: message}`` when ``form`` was refused for one of its fields; else nothing."""
        r = self.refusal
        return {r.slot: r.message} if r and r.slot and r.posted.form == form else {}

    def typed(self, form: str) -> Mapping[str, str]:
        """What was typed into ``form`` when it was refused, to show it again; else nothing."""
        r = self.refusal
        return r.posted.values if r and r.posted.form == form else {}

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
    valid token, 403), as does a panel whose record the service does not show them (404)."""

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
    ) -> HTMLResponse:
        """The panel for the visitor, after ``act`` (and the form it came from) where one is given."""
        try:
            who = visitor(request, platform)
            require_role(who, *self.roles)
            outcome = attempt(act[0], who, act[1]) if act else Outcome()
            shown = {"who": who, **context(who), **outcome.context()}
        except FacilityError as exc:
            return self.refusal(request, exc)
        return self.templates.TemplateResponse(
            request, template, shown, status_code=outcome.status, headers=PRIVATE
        )

    def refusal(self, request: Request, exc: FacilityError) -> HTMLResponse:
        status = STATUS[exc.kind]
        context = {"message": exc.message, "status": status, "roles": [r.value for r in self.roles]}
        return self.templates.TemplateResponse(
            request, "desk_refused.html", context, status_code=status, headers=PRIVATE
        )

    def shell(
        self, request: Request, *, title: str, panel: str, template: str = SHELL, **context: object
    ) -> HTMLResponse:
        """The page around a panel (``template`` extends the shell): the sign-in form, the panel's
        address, and what the public may read."""
        shown = {"title": title, "panel": panel, **context}
        return self.templates.TemplateResponse(request, template, shown)
