"""Pure acts on a project's classification: derive it, confirm, raise, lower, meter.

Each act takes what the officer gives (a level, their name), then the classification and ``now``,
and returns the changed classification or raises naming the field (nothing is saved on a refusal).
Status changes go through the one table in ``rules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from pnyx.core.errors import Forbidden, InvalidInput
from pnyx.core.units import AcceleratorHours
from pnyx.safety import rules
from pnyx.safety.events import ClassificationChanged
from pnyx.safety.model import (
    Classification,
    ClassificationAction,
    ClassificationStatus,
    SafetyLevel,
    SafetyPolicy,
)

HOUR_S = Decimal(3600)
METERING = "metering"  # who escalates automatically
_A, _S = ClassificationAction, ClassificationStatus


def parse_level(value: SafetyLevel | str) -> SafetyLevel:
    """``L3``, ``l3`` or ``3``; a clear error naming ``level`` otherwise."""
    if isinstance(value, SafetyLevel):
        return value
    text = str(value).strip().upper().removeprefix("L")
    if text not in {"1", "2", "3", "4"}:
        raise InvalidInput(f"a safety level is L1, L2, L3 or L4; got {value!r}", field="level")
    return SafetyLevel(int(text))


# --- compute -------------------------------------------------------------------------------------


def peak_of(kind: str, peaks: Mapping[str, Decimal]) -> Decimal:
    """The documented peak of an accelerator type by name (``H100`` matches ``H100-SXM``); a type the
    catalogue does not know counts at the highest documented peak: compute is never under-counted."""
    folded = {name.lower(): peak for name, peak in peaks.items()}
    if kind.lower() in folded:
        return folded[kind.lower()]
    if not folded:
        raise InvalidInput("no accelerator type has a documented peak", field="accelerator_type")
    prefixed = [peak for name, peak in folded.items() if name.startswith(kind.lower())]
    return max(prefixed or folded.values())


def compute_flop(
    seconds: Mapping[str, Decimal], peaks: Mapping[str, Decimal], policy: SafetyPolicy
) -> Decimal:
    """Accelerator-seconds per type x the type's documented peak x the policy's efficiency."""
    flop = (rules.job_flop(s, peak_of(kind, peaks), policy) for kind, s in seconds.items())
    return sum(flop, Decimal(0))


def requested_seconds(requested: Mapping[str, AcceleratorHours]) -> dict[str, Decimal]:
    return {kind: hours.value * HOUR_S for kind, hours in requested.items()}


# --- acts ----------------------------------------------------------------------------------------


def first(project: str, level: SafetyLevel, basis: str, now: datetime) -> Classification:
    """A first classification: L1 needs no officer (confirmed); a higher level waits for one."""
    return Classification(
        project=project,
        level=level,
        status=_S.CONFIRMED if level is SafetyLevel.L1 else _S.PROPOSED,
        basis=basis,
        categories=frozenset(),
        metered_flop=Decimal(0),
        decided_by=(),
        pending_level=None,
        pending_by=None,
        updated_at=now,
    )


def confirmed(by: str, c: Classification, now: datetime) -> Classification:
    """The proposed level, or the level an escalation reached, confirmed."""
    status = rules.classification_next(c.status, _A.CONFIRM)
    reached = c.pending_level if c.status is _S.ESCALATED else None
    return _decided(c, by, now, status=status, level=reached or c.level)


def raised(target: SafetyLevel, by: str, c: Classification, now: datetime) -> Classification:
    """A higher level, confirmed at once (an escalation the officer confirms; a lowering is dropped)."""
    floor = c.pending_level if c.status is _S.ESCALATED else None
    if target <= c.level or (floor is not None and target < floor):
        least = SafetyLevel(max(c.level + 1, floor or SafetyLevel.L1))
        reached = "" if floor is None else f", metering reached {floor.name}"
        raise InvalidInput(
            f"raising goes to {least.name} or above (the level is {c.level.name}{reached}); "
            f"got {target.name}",
            field="level",
            code="not_higher",
        )
    status = rules.classification_next(_escalated(c.status), _A.CONFIRM)
    return _decided(c, by, now, status=status, level=target)


def lowering(target: SafetyLevel, by: str, c: Classification, now: datetime) -> Classification:
    """A proposed lower level: it takes effect once a second, different officer agrees."""
    if target >= c.level:
        raise InvalidInput(
            f"lowering goes below the current level {c.level.name}; got {target.name}",
            field="level",
            code="not_lower",
        )
    status = rules.classification_next(c.status, _A.PROPOSE_LOWER)
    return replace(c, status=status, pending_level=target, pending_by=by, updated_at=now)


def lowered(by: str, c: Classification, now: datetime) -> Classification:
    """The lowering agreed by a second officer: the proposer and ``by`` both decided it."""
    status = rules.classification_next(c.status, _A.AGREE_LOWER)
    proposer, target = c.pending_by, c.pending_level
    assert proposer is not None  # LOWERING always has both
    assert target is not None
    if proposer == by:
        raise Forbidden(
            f"{by} proposed this lowering: a second, different officer must agree",
            field="by",
            code="same_officer",
        )
    proposed = replace(c, decided_by=_with(c.decided_by, proposer))
    return _decided(proposed, by, now, status=status, level=target)


def lowering_refused(by: str, c: Classification, now: datetime) -> Classification:
    """The lowering refused: the current level stands, confirmed."""
    status = rules.classification_next(c.status, _A.REFUSE_LOWER)
    return _decided(c, by, now, status=status, level=c.level)


def metered(c: Classification, total: Decimal, policy: SafetyPolicy, now: datetime) -> Classification:
    """Metered compute set to ``total``; crossing a higher level's threshold escalates (ESCALATED,
    pending that level; a pending lowering is dropped). Only an escalation changes ``updated_at``."""
    reached = rules.escalation(c, total, policy)
    if reached is None:
        return replace(c, metered_flop=total)
    status = _escalated(c.status)
    return replace(
        c, metered_flop=total, status=status, pending_level=reached, pending_by=None, updated_at=now
    )


def changed_event(c: Classification, action: str, by: str) -> ClassificationChanged:
    return ClassificationChanged(
        project=c.project,
        action=action,
        level=c.level.name,
        status=c.status.value,
        pending_level=None if c.pending_level is None else c.pending_level.name,
        by=by,
        metered_flop=str(c.metered_flop),
    )


def _escalated(status: ClassificationStatus) -> ClassificationStatus:
    """ESCALATED; one escalated already stays so (with a higher pending level)."""
    return status if status is _S.ESCALATED else rules.classification_next(status, _A.ESCALATE)


def _decided(
    c: Classification, by: str, now: datetime, *, status: ClassificationStatus, level: SafetyLevel
) -> Classification:
    return replace(
        c,
        level=level,
        status=status,
        decided_by=_with(c.decided_by, by),
        pending_level=None,
        pending_by=None,
        updated_at=now,
    )


def _with(officers: tuple[str, ...], officer: str) -> tuple[str, ...]:
    """``officers`` and then ``officer`` unless already listed: nobody appears twice (the log keeps
    every act; ``decided_by`` names who decided)."""
    return officers if officer in officers else (*officers, officer)
