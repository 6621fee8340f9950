"""The reviewer's desk: assignments, conflict declarations, the rubric with its scoring form, and
where each proposal stands in the right of reply, through ``ReviewService`` as the API does.

``/portal/review`` lists the caller's assignments, each with a form to declare a conflict (the
reviewer is recused), and the conflicts they declared, each with a form to withdraw it while the
proposal is under review. A proposal they reviewed shows their review back (theirs only).
``/portal/review/proposals/<id>`` shows an assigned proposal, the rubric of the
assignment's kind and the scoring form; scoring asks the reviewer to state that they have no conflict
(the other answer is a declaration). The right of reply, as the review process defines it: once every
review is in, the applicant reads them anonymised ("scientific reviewer 1") and may reply once before
the panel ranks the call. The reply is for the panel: a reviewer sees whether one was made (the log
records that much publicly), never its text, as the API shows it only to the team and staff.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.allocation.model import Assignment, Proposal
from pnyx.allocation.scoring import MAX_SCORE, MIN_SCORE, RUBRIC, TIE_BREAKS
from pnyx.core.errors import Forbidden, InvalidInput
from pnyx.identity.model import Principal, Role
from pnyx.portal.deps import FormFields, PathRef, PlatformDep
from pnyx.portal.desk import Act, Desk, Posted
from pnyx.wiring import Platform

HOME = "/portal/review"
PAGE = "review_page.html"  # the desk's shell
ALL_CRITERIA = frozenset(f"scores.{c}" for criteria in RUBRIC.values() for c in criteria)
SCORE_FIELDS = frozenset({"scores", "comments", "no_conflict"}) | ALL_CRITERIA


def parse_scores(form: Mapping[str, str], criteria: tuple[str, ...]) -> dict[str, int]:
    """Whole points per criterion as typed; a criterion left empty is left out (the service names it)."""
    scores = {}
    for criterion in criteria:
        raw = form.get(f"scores.{criterion}", "").strip()
        if raw and not raw.isdigit():
            raise InvalidInput(
                f"{criterion} is scored {MIN_SCORE} to {MAX_SCORE} in whole points; got {raw!r}",
                field=f"scores.{criterion}",
            )
        if raw:
            scores[criterion] = int(raw)
    return scores


def review_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(prefix=HOME, include_in_schema=False)
    desk = Desk(templates, Role.REVIEWER)

    def assignments(request: Request, platform: Platform, act: tuple[Act, Posted] | None) -> Response:
        return desk.panel(
            request, platform, "review_panel.html", lambda who: _assignments(platform, who), act, HOME
        )

    def proposal(
        request: Request, platform: Platform, proposal_id: str, act: tuple[Act, Posted] | None
    ) -> Response:
        page = f"{HOME}/proposals/{proposal_id}"
        context = lambda who: _proposal(platform, who, proposal_id)  # noqa: E731
        return desk.panel(request, platform, "review_proposal.html", context, act, page)

    @router.get("", response_class=HTMLResponse)
    def desk_page(request: Request, platform: PlatformDep) -> Response:
        inner = lambda: assignments(request, platform, None)  # noqa: E731
        return desk.shell(request, title="Reviews", panel=f"{HOME}/panel", template=PAGE, inner=inner)

    @router.get("/panel", response_class=HTMLResponse)
    def desk_panel(request: Request, platform: PlatformDep) -> Response:
        return assignments(request, platform, None)

    @router.post("/proposals/{proposal_id}/conflict", response_class=HTMLResponse)
    def declare(request: Request, proposal_id: PathRef, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            platform.review.declare_conflict(proposal_id, form.get("reason", ""), by=by)
            return f"conflict declared on {proposal_id}: you are recused from it"

        posted = Posted(f"conflict:{proposal_id}", form, frozenset({"reason"}))
        return assignments(request, platform, (act, posted))

    @router.post("/proposals/{proposal_id}/conflict/withdraw", response_class=HTMLResponse)
    def withdraw(request: Request, proposal_id: PathRef, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            platform.review.withdraw_conflict(proposal_id, by=by)
            return f"conflict on {proposal_id} withdrawn: you may be assigned it again"

        posted = Posted(f"withdraw:{proposal_id}", form, frozenset())
        return assignments(request, platform, (act, posted))

    @router.get("/proposals/{proposal_id}", response_class=HTMLResponse)
    def proposal_page(request: Request, proposal_id: PathRef, platform: PlatformDep) -> Response:
        panel = f"{HOME}/proposals/{proposal_id}/panel"
        title = f"Review of {proposal_id}"
        inner = lambda: proposal(request, platform, proposal_id, None)  # noqa: E731
        return desk.shell(
            request, title=title, panel=panel, template=PAGE, proposal_id=proposal_id, inner=inner
        )

    @router.get("/proposals/{proposal_id}/panel", response_class=HTMLResponse)
    def proposal_panel(request: Request, proposal_id: PathRef, platform: PlatformDep) -> Response:
        return proposal(request, platform, proposal_id, None)

    @router.post("/proposals/{proposal_id}/review", response_class=HTMLResponse)
    def score(request: Request, proposal_id: PathRef, form: FormFields, platform: PlatformDep) -> Response:
        def act(by: Principal) -> str:
            kind = _assignment(platform, by, proposal_id)[0].kind
            if form.get("no_conflict") != "on":
                raise InvalidInput(
                    "state that you have no conflict of interest with this proposal, "
                    "or declare the conflict from your assignments",
                    field="no_conflict",
                )
            scores = parse_scores(form, RUBRIC[kind])
            review = platform.review.submit_review(
                proposal_id, scores=scores, comments=form.get("comments", ""), by=by
            )
            return f"your {review.kind.value} review of {proposal_id} is in"

        return proposal(request, platform, proposal_id, (act, Posted("review", form, SCORE_FIELDS)))

    return router


def _assignments(platform: Platform, who: Principal) -> Mapping[str, object]:
    calls = {c.id: c.title for c in platform.allocation.calls()}
    return {
        "assignments": platform.review.assignments(by=who),
        "calls": calls,
        "declared": platform.review.declared_conflicts(by=who),  # theirs only, to withdraw
    }


def _assignment(platform: Platform, who: Principal, proposal_id: str) -> tuple[Assignment, Proposal, bool]:
    mine = [row for row in platform.review.assignments(by=who) if row[0].proposal_id == proposal_id]
    if not mine:
        raise Forbidden("this proposal is not assigned to you", field="proposal_id", code="not_assigned")
    return mine[0]


def _proposal(platform: Platform, who: Principal, proposal_id: str) -> Mapping[str, object]:
    assignment, proposal, done = _assignment(platform, who, proposal_id)
    return {
        "assignment": assignment,
        "proposal": proposal,
        "reviewed": done,
        "own_review": platform.review.own_review(proposal_id, by=who) if done else None,
        "call": platform.allocation.call(proposal.call_id, by=who),
        "rubric": RUBRIC[assignment.kind],
        "points": range(MIN_SCORE, MAX_SCORE + 1),
        "tie_breaks": TIE_BREAKS,
    }
