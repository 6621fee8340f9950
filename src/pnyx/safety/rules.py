"""Pure safety rules: the label lattice, clearance, compute metering and classification, the three
lifecycles (classification, release, incident) and the release gate's approvals.

No I/O and no clock: time arrives as ``now``. The controls of each level are data (``SafetyPolicy``);
the shipped defaults are in ``defaults``. See docs/safety.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import reduce
from types import MappingProxyType
from typing import TypeVar

from pnyx.core.errors import Conflict, Forbidden, InvalidInput
from pnyx.safety.defaults import THRESHOLD_NAMES
from pnyx.safety.model import (
    Classification,
    ClassificationAction,
    ClassificationStatus,
    IncidentAction,
    IncidentStatus,
    Label,
    Readers,
    Release,
    ReleaseAction,
    ReleaseGate,
    ReleaseStatus,
    SafetyLevel,
    SafetyPolicy,
)

TERA = Decimal(10) ** 12

# --- the label lattice ---------------------------------------------------------------------------


def join(a: Label, b: Label) -> Label:
    """The least upper bound: the higher level and the union of the categories."""
    return Label(level=max(a.level, b.level), categories=a.categories | b.categories)


def join_all(labels: Iterable[Label], floor: Label) -> Label:
    """The join of ``labels`` and ``floor`` (``floor`` alone when there are none)."""
    return reduce(join, labels, floor)


def dominates(high: Label, low: Label) -> bool:
    """``low <= high`` in the lattice: a level no higher and categories a subset."""
    return low.level <= high.level and low.categories <= high.categories


def project_label(project: str, level: SafetyLevel, categories: frozenset[str]) -> Label:
    """A project's label: its level, its categories and its own ``project:<id>`` compartment."""
    if not project:
        raise InvalidInput("a project label needs the project's id", field="project")
    return Label(level=level, categories=categories | {f"project:{project}"})


def may_read(clearance: Label, label: Label, policy: SafetyPolicy, *, human: bool) -> bool:
    """Clearance at or above the label; and no human reads where the level admits jobs only."""
    if human and policy.of(label.level).readers is Readers.JOBS_ONLY:
        return False
    return dominates(clearance, label)


def output_label(project: Label, inputs: Iterable[Label]) -> Label:
    """No write down: a job's outputs carry the join of its project's label and all it read."""
    return join_all(inputs, project)


def check_job_level(job: SafetyLevel, project: SafetyLevel) -> None:
    """Jobs run at their project's level or above, never below."""
    if job < project:
        raise InvalidInput(
            f"a job runs at its project's level or above: the project is {project.name}, "
            f"the job asked for {job.name}",
            field="label",
            code="below_project_level",
        )


# --- compute and classification ------------------------------------------------------------------


def job_flop(accelerator_seconds: Decimal, peak_bf16_tflops: Decimal, policy: SafetyPolicy) -> Decimal:
    """Metered training compute: accelerator-seconds x documented dense bf16 peak x efficiency."""
    if accelerator_seconds < 0:
        raise InvalidInput("accelerator-seconds cannot be negative", field="accelerator_seconds")
    if peak_bf16_tflops < 0:
        raise InvalidInput("an accelerator's peak cannot be negative", field="peak_bf16_tflops")
    return accelerator_seconds * peak_bf16_tflops * TERA * policy.efficiency


def level_for_compute(flop: Decimal, policy: SafetyPolicy) -> SafetyLevel:
    """The highest level whose compute threshold ``flop`` reaches (L1 when none does)."""
    reached = (c.level for c in policy.controls if c.threshold_flop is not None and flop >= c.threshold_flop)
    return max(reached, default=SafetyLevel.L1)


def flop_text(flop: Decimal) -> str:
    """FLOP for people: three significant digits, ``2.5e23``."""
    return f"{flop:.3g}".replace("e+", "e")


def _threshold_text(level: SafetyLevel, policy: SafetyPolicy) -> str:
    threshold = policy.of(level).threshold_flop
    return (
        "no compute threshold"
        if threshold is None
        else f"the {level.name} threshold of {flop_text(threshold)}"
    )


def classify(
    *,
    planned_flop: Decimal,
    requested_flop: Decimal,
    general_purpose: bool,
    dual_use_data: bool,
    policy: SafetyPolicy,
) -> tuple[SafetyLevel, str]:
    """A project's level from its self-assessment and compute, and one sentence saying why."""
    for name, value in (("planned_flop", planned_flop), ("requested_flop", requested_flop)):
        if value < 0:
            raise InvalidInput(f"{name.replace('_', ' ')} cannot be negative", field=name)
    flop = max(planned_flop, requested_flop)
    by_compute = level_for_compute(flop, policy)
    triggers: list[tuple[SafetyLevel, str]] = [
        (by_compute, f"compute of {flop_text(flop)} FLOP reaches {_threshold_text(by_compute, policy)} FLOP")
    ]
    if general_purpose:
        triggers.append((SafetyLevel.L2, "the self-assessment declares a general-purpose model"))
    if dual_use_data:
        triggers.append((SafetyLevel.L3, "the self-assessment declares dual-use data"))
    level = max(t[0] for t in triggers)
    if level is SafetyLevel.L1:
        return level, _narrow_basis(flop, policy)
    reasons = " and ".join(text for lv, text in triggers if lv is level)
    return level, f"{level.name} because {reasons}."


def _narrow_basis(flop: Decimal, policy: SafetyPolicy) -> str:
    threshold = policy.of(SafetyLevel.L2).threshold_flop
    below = "" if threshold is None else f" below {_threshold_text(SafetyLevel.L2, policy)} FLOP"
    return (
        f"L1 because the self-assessment declares a narrow model without dual-use data and its compute "
        f"of {flop_text(flop)} FLOP is{below or ' not a trigger: L2 has no compute threshold'}."
    )


def escalation(c: Classification, metered_flop: Decimal, policy: SafetyPolicy) -> SafetyLevel | None:
    """The higher level metered compute reached, if any (None when already there or escalated to it)."""
    current = c.level
    if c.status is ClassificationStatus.ESCALATED and c.pending_level is not None:
        current = max(current, c.pending_level)
    reached = level_for_compute(metered_flop, policy)
    return reached if reached > current else None


def policy_with_thresholds(policy: SafetyPolicy, thresholds: Mapping[SafetyLevel, Decimal]) -> SafetyPolicy:
    """The policy with the council's adopted compute thresholds in place of the defaults."""
    for level, value in thresholds.items():
        if value < 0:
            raise InvalidInput(f"the {level.name} threshold cannot be negative", field="threshold_flop")
    controls = tuple(
        replace(c, threshold_flop=thresholds.get(c.level, c.threshold_flop)) for c in policy.controls
    )
    return replace(policy, controls=controls)


def thresholds_by_level(adopted: Mapping[str, Decimal]) -> dict[SafetyLevel, Decimal]:
    """The council's adopted thresholds (``SetSafetyThreshold`` name -> value) keyed by level;
    names that are not safety-level thresholds are left out."""
    return {level: adopted[name] for level, name in THRESHOLD_NAMES.items() if name in adopted}


# --- the three lifecycles: one table each --------------------------------------------------------

_CS, _CA = ClassificationStatus, ClassificationAction
_ClassificationTable = Mapping[tuple[ClassificationStatus, ClassificationAction], ClassificationStatus]
CLASSIFICATION_TRANSITIONS: _ClassificationTable = MappingProxyType(
    {
        (_CS.PROPOSED, _CA.CONFIRM): _CS.CONFIRMED,
        (_CS.PROPOSED, _CA.PROPOSE_LOWER): _CS.LOWERING,
        (_CS.PROPOSED, _CA.ESCALATE): _CS.ESCALATED,
        (_CS.CONFIRMED, _CA.ESCALATE): _CS.ESCALATED,
        (_CS.CONFIRMED, _CA.PROPOSE_LOWER): _CS.LOWERING,
        (_CS.ESCALATED, _CA.CONFIRM): _CS.CONFIRMED,
        (_CS.LOWERING, _CA.AGREE_LOWER): _CS.CONFIRMED,
        (_CS.LOWERING, _CA.REFUSE_LOWER): _CS.CONFIRMED,
        (_CS.LOWERING, _CA.ESCALATE): _CS.ESCALATED,
    }
)

_RS, _RA = ReleaseStatus, ReleaseAction
RELEASE_TRANSITIONS: Mapping[tuple[ReleaseStatus, ReleaseAction], ReleaseStatus] = MappingProxyType(
    {
        (_RS.REQUESTED, _RA.APPROVE): _RS.REQUESTED,
        (_RS.REQUESTED, _RA.DECIDE): _RS.RELEASED,
        (_RS.REQUESTED, _RA.REFUSE): _RS.REFUSED,
        (_RS.REQUESTED, _RA.WITHDRAW): _RS.WITHDRAWN,
    }
)

INCIDENT_TRANSITIONS: Mapping[tuple[IncidentStatus, IncidentAction], IncidentStatus] = MappingProxyType(
    {
        (IncidentStatus.OPEN, IncidentAction.PROPOSE_LIFT): IncidentStatus.LIFTING,
        (IncidentStatus.LIFTING, IncidentAction.AGREE_LIFT): IncidentStatus.LIFTED,
    }
)

_S = TypeVar("_S", bound=StrEnum)
_A = TypeVar("_A", bound=StrEnum)


def _next(table: Mapping[tuple[_S, _A], _S], what: str, status: _S, action: _A) -> _S:
    target = table.get((status, action))
    if target is None:
        allowed = sorted(a.value for (s, a) in table if s is status)
        hint = f"; from {status.value} one may: {', '.join(allowed)}" if allowed else "; it is closed"
        raise Conflict(
            f"a {what} that is {status.value} cannot {action.value}{hint}",
            field="status",
            code="invalid_transition",
        )
    return target


def classification_next(status: ClassificationStatus, action: ClassificationAction) -> ClassificationStatus:
    return _next(CLASSIFICATION_TRANSITIONS, "classification", status, action)


def release_next(status: ReleaseStatus, action: ReleaseAction) -> ReleaseStatus:
    return _next(RELEASE_TRANSITIONS, "release", status, action)


def incident_next(status: IncidentStatus, action: IncidentAction) -> IncidentStatus:
    return _next(INCIDENT_TRANSITIONS, "incident", status, action)


# --- releases ---------------------------------------------------------------------------------


def check_approval(
    release: Release, approver: str, roles: frozenset[str], gate: ReleaseGate, *, now: datetime
) -> str:
    """The gate role ``approver`` approves under; refuses the requester, a second approval by the
    same person, a person in none of the gate's roles, and a release already decided. ``now`` is the
    approval's time (the caller stamps ``Approval.at`` with it); no rule here depends on it yet."""
    release_next(release.status, ReleaseAction.APPROVE)
    if approver == release.requester:
        raise Forbidden(
            "the requester never approves their own release", field="approver", code="requester_approval"
        )
    if any(a.approver == approver for a in release.approvals):
        raise Conflict(f"{approver} has already approved this release", field="approver", code="duplicate")
    return _gate_role(approver, roles, gate)


def _gate_role(approver: str, roles: frozenset[str], gate: ReleaseGate) -> str:
    for role in gate.roles:
        if role in roles:
            return role
    wanted = ", ".join(gate.roles) or "none: this level's releases need no approval"
    raise Forbidden(
        f"{approver} holds none of the roles this release needs ({wanted})",
        field="approver",
        code="not_an_approver",
    )


def release_missing(
    release: Release, gate: ReleaseGate, *, evaluations: Iterable[str] = ()
) -> tuple[str, ...]:
    """What the release still lacks before it may be decided; () when the gate is met.

    ``evaluations``: the names the level requires (``policy.of(release.from_label.level).evaluations``;
    the gate itself does not carry them). Results are checked by name until the evaluation issue."""
    missing: list[str] = []
    approvers = {a.approver for a in release.approvals if a.role in gate.roles}
    if len(approvers) < gate.approvals:
        missing.append(f"{gate.approvals - len(approvers)} more approval(s) by: {', '.join(gate.roles)}")
    if gate.council_motion and release.motion_id is None:
        missing.append("an adopted council motion")
    missing.extend(f"evaluation: {name}" for name in evaluations if name not in release.evaluations)
    return tuple(missing)


def check_release_target(from_label: Label, to_label: Label, gate: ReleaseGate, *, public: bool) -> None:
    """A release goes strictly down the lattice; a public release only where the gate allows it."""
    if to_label == from_label or not dominates(from_label, to_label):
        raise InvalidInput(
            f"a release publishes under a label strictly below {from_label}; got {to_label}",
            field="to_label",
            code="not_lower",
        )
    if public and not gate.public:
        raise Forbidden(
            f"no public release from {from_label.level.name} unless the council decides otherwise",
            field="to_label",
            code="public_release_barred",
        )
