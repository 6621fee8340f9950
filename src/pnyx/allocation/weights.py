"""Fair share's award weights (pure): each active project's awarded hours, under its member state.

Run by production (``wiring.FacilityLedger.awards``, read by the dispatcher's fair share through
``scheduler.fairshare.award_shares``) and by the auditor (``audit.entitlements``, over the log's
``allocation.allocation.created`` entries).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pnyx.allocation.model import Allocation

NO_MEMBER = "-"  # the member an allocation outside the member-state pools weighs under


def award_weights(allocations: Iterable[Allocation], at: datetime) -> list[tuple[str, str, float]]:
    """(member state, project, hours awarded) of the allocations active at ``at``, by project id."""
    live = sorted((a for a in allocations if a.active_at(at)), key=lambda a: a.project_id)
    return [(a.member_state or NO_MEMBER, str(a.project_id), float(a.total.value)) for a in live]
