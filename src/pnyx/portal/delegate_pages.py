"""The delegate's desk: table and amend motions, comment, cast and change the state's ballot, and see
the tally as it will be computed, through ``CouncilService`` and ``VoteService`` as the API does.

``/portal/delegate`` lists the motions with the table form; ``/portal/delegate/motions/<id>`` is a
motion with its forms (``portal/desk.py``). The tally on the motion page is public (ballots are
public) and read without JavaScript; ``static/desk.js`` refreshes it every few seconds. While the vote
is open it is the council's own pure function (``vote_service.tally_motion``, the rule and electorate
fixed when the vote opened) over the ballots cast so far: what the close will record if nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.core.errors import InvalidInput, NotFound
from pnyx.governance.motion import Motion, MotionState
from pnyx.governance.policy import effect_data
from pnyx.governance.vote_service import tally_motion
from pnyx.identity.model import Principal, Role
from pnyx.portal.deps import FormFields, PathRef, PlatformDep
from pnyx.portal.desk import Act, Desk, Posted
from pnyx.wiring import Platform

HOME = "/portal/delegate"
PAGE = "delegate_page.html"  # the desk's shell, with a motion's public tally
LIVE = {"Cache-Control": "no-store"}  # the tally follows the ballots
TABLE_FIELDS = frozenset({"title", "text", "decision_type", "effect", "effective_from"})
AMEND_FIELDS = frozenset({"title", "text", "decision_type", "effect"})


def parse_effect_field(text: str) -> dict[str, Any] | None:
    """The effect as typed: empty for a pure resolution, else a JSON object (docs/governance.md)."""
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the effect is not JSON: {exc.msg} at line {exc.lineno}", field="effect"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput('the effect is a JSON object such as {"type": "none"}', field="effect")
    return data


def parse_instant_field(text: str) -> datetime | None:
    """An ISO 8601 time with its zone (``2027-01-01T00:00+00:00``), or nothing."""
    if not text.strip():
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text.strip()!r} is not a time; write it as 2027-01-01T00:00+00:00", field="effective_from"
        ) from None


def live_tally(platform: Platform, motion: Motion) -> dict[str, Any]:
    """The tally a motion page shows: the recorded one once decided; while the vote is open, the
    same function the close runs, over the ballots so far; before, the rule that will apply."""
    ballots = platform.votes.ballots(motion.id)
    outcome, projected = motion.outcome, False
    if motion.state is MotionState.VOTING and motion.rule is not None:
        outcome = tally_motion(motion, {b.member_state: b.choice for b in ballots}).data()
        projected = True
    rules = platform.council.rules()
    rule = rules.rules.get(motion.decision_type)
    return {"motion": motion, "ballots": ballots, "outcome": outcome, "projected": projected, "rule": rule}


def delegate_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(prefix=HOME, include_in_schema=False)
    desk = Desk(templates, Role.DELEGATE)

    def home(request: Request, platform: Platform, act: tuple[Act, Posted] | None = None) -> Response:
        return desk.panel(
            request, platform, "delegate_panel.html", lambda who: _desk(platform, who), act, HOME
        )

    def motion_panel(
        request: Request, platform: Platform, motion_id: str, act: tuple[Act, Posted] | None
    ) -> Response:
        return desk.panel(
            request,
            platform,
            "delegate_motion.html",
            lambda who: _motion(platform, who, motion_id),
            act,
            f"{HOME}/motions/{motion_id}",
        )

    @router.get("", response_class=HTMLResponse)
    def desk_page(request: Request, platform: PlatformDep) -> Response:
        return desk.shell(
            request,
            title="Delegate's desk",
            panel=f"{HOME}/panel",
            template=PAGE,
            inner=lambda: home(request, platform),
        )

    @router.get("/panel", response_class=HTMLResponse)
    def desk_panel(request: Request, platform: PlatformDep) -> Response:
        return home(request, platform)

    @router.post("/motions", response_class=HTMLResponse)
    def table(request: Request, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            motion = platform.council.table(
                title=form.get("title", ""),
                text=form.get("text", ""),
                decision_type=form.get("decision_type", "").strip(),
                effect=parse_effect_field(form.get("effect", "")),
                effective_from=parse_instant_field(form.get("effective_from", "")),
                by=by,
                submit=form.get("draft") != "on",
            )
            return f"{motion.id} tabled: {motion.state.value}"

        return home(request, platform, (act, Posted("table", form, TABLE_FIELDS)))

    @router.get("/motions/{motion_id}", response_class=HTMLResponse)
    def motion_page(request: Request, motion_id: PathRef, platform: PlatformDep) -> Response:
        try:
            tally = live_tally(platform, platform.council.motion(motion_id))
        except NotFound as exc:
            return templates.TemplateResponse(
                request, "error.html", {"title": "Not found", "message": exc.message}, status_code=404
            )
        return desk.shell(
            request,
            title=tally["motion"].title,
            panel=f"{HOME}/motions/{motion_id}/panel",
            template=PAGE,
            live=f"{HOME}/motions/{motion_id}/tally",
            inner=lambda: motion_panel(request, platform, motion_id, None),
            **tally,
        )

    @router.get("/motions/{motion_id}/tally", response_class=HTMLResponse)
    def tally_fragment(request: Request, motion_id: PathRef, platform: PlatformDep) -> HTMLResponse:
        """Public: the live tally alone, refreshed by the page's script."""
        try:
            context = live_tally(platform, platform.council.motion(motion_id))
        except NotFound as exc:
            return desk.refusal(request, exc)
        return templates.TemplateResponse(request, "delegate_tally.html", context, headers=LIVE)

    @router.get("/motions/{motion_id}/panel", response_class=HTMLResponse)
    def panel(request: Request, motion_id: PathRef, platform: PlatformDep) -> Response:
        return motion_panel(request, platform, motion_id, None)

    router.include_router(_motion_acts(motion_panel))
    return router


MotionPanel = Callable[[Request, Platform, str, tuple[Act, Posted] | None], Response]


def _motion_acts(motion_panel: MotionPanel) -> APIRouter:
    """Amend, comment, cast or change the ballot, submit or withdraw a draft: each answers with the
    motion's panel again."""
    router = APIRouter(prefix="/motions/{motion_id}", include_in_schema=False)

    @router.post("/amendments", response_class=HTMLResponse)
    def amend(request: Request, motion_id: PathRef, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            parent = platform.council.motion(motion_id)
            amendment = platform.council.table(
                title=form.get("title", ""),
                text=form.get("text", ""),
                decision_type=form.get("decision_type", "").strip() or parent.decision_type,
                effect=parse_effect_field(form.get("effect", "")),
                by=by,
                amends=motion_id,
            )
            return f"amendment {amendment.id} tabled: {amendment.state.value}"

        return motion_panel(request, platform, motion_id, (act, Posted("amend", form, AMEND_FIELDS)))

    @router.post("/comments", response_class=HTMLResponse)
    def comment(request: Request, motion_id: PathRef, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            return f"comment {platform.council.comment(motion_id, form.get('text', ''), by=by).id} posted"

        return motion_panel(request, platform, motion_id, (act, Posted("comment", form, frozenset({"text"}))))

    @router.post("/ballot/{how}", response_class=HTMLResponse)
    def ballot(
        request: Request, motion_id: PathRef, how: PathRef, form: FormFields, platform: PlatformDep
    ) -> Response:
        def act(by: Principal) -> str:
            if how not in ("cast", "change"):
                raise NotFound(f"no such ballot action {how!r}: cast or change")
            vote = platform.votes.change if how == "change" else platform.votes.cast
            b = vote(motion_id, form.get("choice", ""), by=by)
            return f"{b.member_state} votes {b.choice.value} on {b.motion_id}"

        return motion_panel(
            request, platform, motion_id, (act, Posted("ballot", form, frozenset({"choice"})))
        )

    @router.post("/submit", response_class=HTMLResponse)
    def submit(request: Request, motion_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            return f"{motion_id} is now {platform.council.submit(motion_id, by=by).state.value}"

        return motion_panel(request, platform, motion_id, (act, Posted("draft")))

    @router.post("/withdraw", response_class=HTMLResponse)
    def withdraw(request: Request, motion_id: PathRef, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            return f"{motion_id} is now {platform.council.withdraw(motion_id, by=by).state.value}"

        return motion_panel(request, platform, motion_id, (act, Posted("draft")))

    return router


def _desk(platform: Platform, who: Principal) -> Mapping[str, object]:
    """The delegate's state, every motion (newest first) and, per open vote, the state's ballot."""
    state = platform.identity.user(who.name).member_state
    motions = list(reversed(platform.council.motions()))
    voting = [m for m in motions if m.state is MotionState.VOTING]
    mine = {m.id: _ballot_of(platform, m.id, state) for m in voting}
    rules = platform.council.rules()
    return {"state": state, "motions": motions, "mine": mine, "rules": rules}


def _motion(platform: Platform, who: Principal, motion_id: str) -> Mapping[str, object]:
    motion = platform.council.motion(motion_id)
    state = platform.identity.user(who.name).member_state
    effect = effect_data(motion.effect)
    return {
        "motion": motion,
        "state": state,
        "ballot": _ballot_of(platform, motion.id, state),
        "comments": platform.council.comments(motion.id),
        "amendments": platform.council.amendments(motion.id),
        "author": motion.tabled_by == who.user_id,
        "effect": json.dumps(effect, indent=2) if effect else "",
        "rules": platform.council.rules(),
    }


def _ballot_of(platform: Platform, motion_id: str, state: str | None) -> str | None:
    return next((b.choice.value for b in platform.votes.ballots(motion_id) if b.member_state == state), None)
