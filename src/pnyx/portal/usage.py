"""The public usage page: each member state's use against its entitlement, as an SVG chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pnyx.accounting.model import MemberStateUsage
from pnyx.core.errors import InvalidInput
from pnyx.portal.deps import PlatformDep


def usage_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/portal/usage", response_class=HTMLResponse)
    def usage_page(
        request: Request,
        platform: PlatformDep,
        period: Annotated[str, Query(max_length=40)] = "last-30d",
    ) -> HTMLResponse:
        try:
            span = platform.accounting.period(period)
        except InvalidInput as exc:
            return templates.TemplateResponse(
                request, "error.html", invalid_period(exc.message), status_code=400
            )
        rows = platform.accounting.member_states(span)
        return templates.TemplateResponse(
            request,
            "usage.html",
            {
                "period": span,
                "rows": rows,
                "bars": chart_bars(rows),
                "utilisation": platform.accounting.utilisation(span),
            },
        )

    return router


def invalid_period(message: str) -> dict[str, str]:
    """The 400 page for a period the accounting cannot read: what was wrong, and what it reads."""
    return {
        "title": "Invalid period",
        "message": message,
        "hint": "A period is a month (2026-11), a quarter (2026-Q4), a year (2026), a range of days "
        "(2026-11-01..2026-11-30) or the last days up to now (last-30d, the default).",
    }


def chart_bars(rows: list[MemberStateUsage]) -> list[dict[str, object]]:
    """Bar geometry (percent of the widest share) for the entitled and received shares of each state."""
    widest = max([float(r.entitled_share) for r in rows] + [float(r.used_share) for r in rows] + [0.01])
    return [
        {
            "state": r.member_state,
            "entitled": float(r.entitled_share) / widest * 100,
            "used": float(r.used_share) / widest * 100,
            "entitled_pct": float(r.entitled_share) * 100,
            "used_pct": float(r.used_share) * 100,
        }
        for r in rows
    ]
