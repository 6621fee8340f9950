"""The auditor's page: use by member state, project, pool, call or accelerator type, month by month;
the council's motions with their tallies; and the audit replay (``pnyx audit replay``'s check) run
over this server's copy of the log: every dispatch cycle decided again and compared, the invariants
checked, each member state's use summed against its entitlement.

The replay here reads the server's own log; an auditor who trusts no server runs
``pnyx audit replay URL --key KEY`` on their machine, which verifies the log's signatures first.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from pnyx.accounting.model import Dimension
from pnyx.audit.replay import ReplayReport, replay
from pnyx.audit.version import scheduler_version
from pnyx.core.errors import Conflict
from pnyx.identity.model import Principal, Role
from pnyx.portal.deps import PlatformDep
from pnyx.portal.desk import Act, Desk, Posted
from pnyx.wiring import Platform

AUDIT = "/portal/audit"
MONTHS = 6  # the months a usage table spans, up to this one
LOG_PAGE = 1000  # log entries read at a time by the replay
By = Annotated[Dimension, Query()]


def auditor_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    desk = Desk(templates, Role.AUDITOR)

    replays = Replays()  # this server's: one replay at a time, the last report kept

    def render(request: Request, platform: Platform, by: Dimension, *, replay_now: bool = False) -> Response:
        def context(_who: Principal) -> Mapping[str, object]:
            return {**_ledger(platform, by), "replay": replays.last}

        def replaying(_who: Principal) -> str:
            return _verdict(replays.run(platform))

        act: tuple[Act, Posted] | None = (replaying, Posted("replay")) if replay_now else None
        return desk.panel(request, platform, "auditor_panel.html", context, act, f"{AUDIT}?by={by.value}")

    @router.get(AUDIT, response_class=HTMLResponse)
    def audit_page(request: Request, platform: PlatformDep, by: By = Dimension.MEMBER_STATE) -> Response:
        intro = "For auditors: use over time, the council's tallies and the audit replay."
        return desk.shell(
            request,
            title="Audit",
            intro=intro,
            panel=AUDIT + "/panel",
            inner=lambda: render(request, platform, by),
        )

    @router.get(AUDIT + "/panel", response_class=HTMLResponse)
    def audit_panel(request: Request, platform: PlatformDep, by: By = Dimension.MEMBER_STATE) -> Response:
        return render(request, platform, by)

    @router.post(AUDIT + "/replay", response_class=HTMLResponse)
    def audit_replay(request: Request, platform: PlatformDep, by: By = Dimension.MEMBER_STATE) -> Response:
        return render(request, platform, by, replay_now=True)

    return router


class Replays:
    """The server's replays of its own log: one at a time (a month of records takes CPU-minutes), and
    the last report kept, reused while the log has not grown since."""

    def __init__(self) -> None:
        self._running = threading.Lock()
        self.last: ReplayReport | None = None
        self._size = -1

    def run(self, platform: Platform) -> ReplayReport:
        if not self._running.acquire(blocking=False):
            raise Conflict("a replay of the log is running already; its report shows here when it ends")
        try:
            size = platform.log.size()
            if self.last is None or size != self._size:
                self.last, self._size = replay(_entries(platform, size), {scheduler_version()}), size
            return self.last
        finally:
            self._running.release()


def _ledger(platform: Platform, by: Dimension) -> Mapping[str, object]:
    months = months_up_to(platform.clock.now(), MONTHS)
    usage = {m: platform.accounting.usage(platform.accounting.period(m), by) for m in months}
    return {
        "by": by,
        "dimensions": list(Dimension),
        "months": months,
        "usage": usage_table(usage),
        "motions": [m for m in reversed(platform.council.motions()) if m.outcome is not None],
    }


def months_up_to(now: datetime, count: int) -> list[str]:
    """The ``count`` months ending with ``now``'s, oldest first, as periods (``2026-11``)."""
    index = now.year * 12 + now.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def usage_table(usage: Mapping[str, Any]) -> list[tuple[str, list[Decimal]]]:
    """Rows of (group, accelerator-hours per month), in the order of ``usage``'s months."""
    keys = sorted({g.key for groups in usage.values() for g in groups})
    hours = {(m, g.key): g.accelerator_hours for m, groups in usage.items() for g in groups}
    return [(k, [hours.get((m, k), Decimal(0)) for m in usage]) for k in keys]


def _entries(platform: Platform, size: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, parsed entry) of the server's log up to ``size``, in order, a page at a time."""
    for start in range(0, size, LOG_PAGE):
        for entry in platform.log.entries(start, min(LOG_PAGE, size - start)):
            yield entry.index, json.loads(entry.data)


def _verdict(report: ReplayReport) -> str:
    agreed = f"{report.agreed} of {report.cycles} dispatch cycle records decided again alike"
    found = "no problem found" if report.ok else f"{len(report.problems)} problems found"
    return f"replayed {report.entries} log entries: {agreed}; {found}"
