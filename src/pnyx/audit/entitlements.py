"""The shares a decision record uses, against the council's and the awards' own log entries (pure).

A record's ``shares`` say how the scheduler weighed each member state (``members``) and, inside it,
each project (``projects``). Production computes them from the entitlements policy in force, the
member states and their contributions (``governance.entitlements.shares_in_force``), and from the
allocations active (``allocation.weights.award_weights`` through
``scheduler.fairshare.award_shares``). All of those inputs are public entries: the member states'
admissions, contribution changes, yearly contributions, payments and status changes, the policies
adopted, and the allocations created (none is changed or ended otherwise: an allocation's window is
in its entry). This module keeps them in force by time, in log order, and runs the same functions at
each record's ``now``. Entries before the first record count: the log holds the council's history.

A difference is named once, at the first record where it shows (the record's shares and the
entries' give the same pair again at the next record until either changes). A log that holds no
member state and no entitlements policy (a twin's, ``benchmarks/audit_replay.py``) cannot be
checked: that is said once, as a note.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar

from pnyx.allocation.events import AllocationCreated
from pnyx.allocation.model import Allocation, CallId, ProjectId, ProposalId
from pnyx.allocation.weights import award_weights
from pnyx.audit.shape import LIMIT
from pnyx.audit.wire import Json
from pnyx.core.errors import InvalidInput
from pnyx.core.ids import MemberStateCode, UserId
from pnyx.core.units import AcceleratorHours, Money
from pnyx.governance.entitlements import shares_in_force
from pnyx.governance.model import (
    Contribution,
    ContributionChanged,
    ContributionRecorded,
    MemberState,
    MemberStateAdmitted,
    MemberStateStatus,
    MemberStateStatusChanged,
    PaymentRecorded,
)
from pnyx.governance.motion import MotionAmended, MotionDecided, MotionState, MotionTabled
from pnyx.governance.policy import ISO_ALPHA2, Effect, PolicyAdopted, PolicyKind, Pool, parse_effect
from pnyx.scheduler.fairshare import award_shares

E = TypeVar("E", bound=StrEnum)
TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # core.events.format_time: one spelling for one instant
UNLOGGED = (
    "not checked: the shares the records use, against the council's entries: the log holds no member "
    "state and no entitlements policy (a twin's log holds none)"
)
Weights = dict[Any, float]  # member -> weight, or (member, project) -> weight
EARLIEST = datetime(1, 1, 2, tzinfo=UTC).timestamp()  # the instants a record's now may name
LATEST = datetime(9999, 12, 31, tzinfo=UTC).timestamp()


@dataclass(frozen=True, slots=True, kw_only=True)
class Adopted:
    """An entitlements policy as its entry says: in force from ``effective_from``, the higher version
    winning a tie (``governance.policy_store.PolicyRepository.in_force``)."""

    effective_from: float  # epoch seconds
    version: int
    effect: Effect | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Given:
    """What the entries give, and from when to when that holds unless an entry comes."""

    members: Weights
    projects: Weights
    since: float
    until: float


class Entitlements:
    """The council's and the awards' entries in force; ``check`` holds a record's shares to them."""

    def __init__(self) -> None:
        self.states: dict[str, MemberState] = {}
        self.contributions: dict[tuple[str, int], Contribution] = {}
        self.policies: list[Adopted] = []
        self.versions: dict[tuple[str, str], int] = {}  # (kind, subject) -> its last version adopted
        self.effects: dict[str, Json] = {}  # motion id -> its effect, as tabled or amended
        self.decided: set[str] = set()  # motions decided adopted
        self.allocations: dict[str, Allocation] = {}
        self.bounds: list[tuple[float, str]] = []  # every allocation's start and end, in time order
        self.effective: list[float] = []  # every entitlements policy's effective time, in order
        self.active: dict[str, Allocation] = {}  # the allocations active at ``active_at``
        self.active_at: datetime | None = None
        self.notes: list[str] = []  # said once: what cannot be checked
        self.unread: list[str] = []  # allocation entries that cannot be read, until a record is checked
        self.given: Given | None = None  # None: an entry came since it was computed
        self.said: tuple[object, Given] | None = None  # the record shares and the entries' last compared
        self.readers: dict[str, Callable[[Mapping[str, Json]], None]] = {
            MemberStateAdmitted.event_type: self._admitted,
            ContributionChanged.event_type: self._changed,
            ContributionRecorded.event_type: self._recorded,
            PaymentRecorded.event_type: self._paid,
            MemberStateStatusChanged.event_type: self._status,
            PolicyAdopted.event_type: self._adopted,
            MotionTabled.event_type: self._tabled,
            MotionAmended.event_type: self._amended,
            MotionDecided.event_type: self._decided,
            AllocationCreated.event_type: self._allocated,
        }

    def see(self, index: int, kind: object, data: Any) -> None:
        """Take one entry of the log (any kind: only the council's and the awards' are read). An
        allocation entry that cannot be read is named by the first record checked (a log that is
        not checked, a twin's, may hold partial ones: its job events read only the member state)."""
        reader = self.readers.get(kind) if isinstance(kind, str) else None
        if reader is None:
            return
        self.given = None
        if not isinstance(data, dict):
            raise ValueError("its data is not an object")
        if kind != AllocationCreated.event_type:
            reader(data)
            return
        try:
            reader(data)
        except (ValueError, InvalidInput) as exc:
            self.unread.append(f"shares: the allocation entry at index {index} cannot be read ({exc})")

    def check(self, now: float, shares: Mapping[str, Json]) -> list[str]:
        """What a record's ``shares`` (as the record chain leaves them) weigh otherwise than the
        entries give at ``now``, one sentence per member state or project."""
        if not self.states and not self.policies:
            if not self.notes:
                self.notes.append(UNLOGGED)
            return []
        unread, self.unread = self.unread, []
        if not EARLIEST <= now <= LATEST:
            raise ValueError(f"field now ({now}) is not an instant of the years 1 to 9999")
        given = self._given(now)
        if self.said is not None and self.said[0] is shares and self.said[1] is given:
            return unread
        self.said = (shares, given)
        members = {m: float(w) for m, w in shares["members"]}
        projects = {(m, p): float(w) for m, p, w in shares["projects"]}
        return [
            *unread,
            *_differences(members, given.members, "member state {}", "the council's entries give"),
            *_differences(projects, given.projects, "project {0[1]} of {0[0]}", "the awards give"),
        ]

    def _given(self, now: float) -> Given:
        given = self.given
        if given is None or not given.since <= now < given.until:
            given = self.given = self._compute(now)
        return given

    def _compute(self, now: float) -> Given:
        at = datetime.fromtimestamp(now, UTC)
        in_force = [p for p in self.policies if p.effective_from <= now]
        policy = max(in_force, key=lambda p: (p.effective_from, p.version), default=None)
        states = [self.states[code] for code in sorted(self.states)]
        records = [self.contributions[key] for key in sorted(self.contributions)]
        entitled = shares_in_force(None if policy is None else policy.effect, states, records, at)
        weights = award_shares({}, award_weights(self._active(at), at)).projects
        return Given(
            members={m: float(w) for m, w in entitled.items()},
            projects=dict(weights),
            since=now,
            until=self._next_change(at),
        )

    def _active(self, at: datetime) -> list[Allocation]:
        """The allocations active at ``at``, moved from the last time asked: only those that start
        or end between the two are looked at again."""
        if self.active_at is None:
            self.active = {p: a for p, a in self.allocations.items() if a.active_at(at)}
        else:
            low, high = sorted((self.active_at.timestamp(), at.timestamp()))
            first = bisect_left(self.bounds, low, key=lambda b: b[0])
            last = bisect_right(self.bounds, high, key=lambda b: b[0])
            for _, project in self.bounds[first:last]:
                self._place(self.allocations[project], at)
        self.active_at = at
        return list(self.active.values())

    def _place(self, allocation: Allocation, at: datetime) -> None:
        if allocation.active_at(at):
            self.active[allocation.project_id] = allocation
        else:
            self.active.pop(allocation.project_id, None)

    def _next_change(self, at: datetime) -> float:
        """When what the entries give may next change by time alone: a policy's effective date, an
        allocation's start or end, a new budget year."""
        year = datetime(at.year + 1, 1, 1, tzinfo=UTC).timestamp() if at.year < 9999 else float("inf")
        now = at.timestamp()
        bound = bisect_right(self.bounds, now, key=lambda b: b[0])
        policy = bisect_right(self.effective, now)
        later = self.bounds[bound][0] if bound < len(self.bounds) else year
        effective = self.effective[policy] if policy < len(self.effective) else year
        return min(year, later, effective)

    # --- the entries, read (a field that is not what it should be is named) ----------------------

    def _admitted(self, d: Mapping[str, Json]) -> None:
        code = _code(d, known=False, states=self.states)
        self.states[code] = MemberState(
            code=MemberStateCode(code),
            name=_text(d, "name"),
            contribution=Money(_amount(d, "contribution_minor_units"), _text(d, "currency")),
            population=_number(d, "population"),
            joined_on=_date(d, "joined_on"),
        )

    def _changed(self, d: Mapping[str, Json]) -> None:
        code = _code(d, states=self.states)
        money = Money(_amount(d, "contribution_minor_units"), _text(d, "currency"))
        self.states[code] = replace(self.states[code], contribution=money)

    def _recorded(self, d: Mapping[str, Json]) -> None:
        code = _code(d, states=self.states)
        year = _number(d, "budget_year")
        before = self.contributions.get((code, year))
        self.contributions[code, year] = Contribution(
            code=MemberStateCode(code),
            budget_year=year,
            cash=_amount(d, "cash_minor_units"),
            in_kind=_amount(d, "in_kind_minor_units"),
            paid=0 if before is None else before.paid,
            currency=_text(d, "currency"),
        )

    def _paid(self, d: Mapping[str, Json]) -> None:
        code, year = _text(d, "code"), _number(d, "budget_year")
        before = self.contributions.get((code, year))
        if before is None:
            raise ValueError(f"no contribution of {code} for {year} before it")
        self.contributions[code, year] = replace(before, paid=_amount(d, "paid_minor_units"))

    def _status(self, d: Mapping[str, Json]) -> None:
        code = _code(d, states=self.states)
        status = _choice(d, "status", MemberStateStatus)
        self.states[code] = replace(self.states[code], status=status)

    def _adopted(self, d: Mapping[str, Json]) -> None:
        """Any policy counts on its kind's versions; an entitlements policy must carry out a motion
        decided adopted before it, with the motion's effect (``vote_service._carry_out``)."""
        kind, subject, version = _text(d, "kind"), _text(d, "subject"), _number(d, "version")
        last = self.versions.get((kind, subject), 0)
        if version != last + 1:
            raise ValueError(f"field version is {version}; the {kind} policy before it is version {last}")
        self.versions[kind, subject] = version
        if kind != PolicyKind.ENTITLEMENTS or subject != "":
            return
        motion = d.get("motion_id")
        if not isinstance(motion, str) or motion not in self.decided:
            raise ValueError(f"field motion_id ({motion}) names no motion decided adopted before it")
        if d.get("content") != self.effects.get(motion):
            raise ValueError(f"field content is not the effect of motion {motion}")
        since = _time(d, "effective_from").timestamp()
        effect = _effect(d.get("content"))
        self.policies.append(Adopted(effective_from=since, version=version, effect=effect))
        insort(self.effective, since)

    def _tabled(self, d: Mapping[str, Json]) -> None:
        self.effects[_text(d, "motion_id")] = d.get("effect")

    def _amended(self, d: Mapping[str, Json]) -> None:
        """An adopted amendment's effect replaces its motion's; one without an effect keeps it."""
        if d.get("effect") is not None:
            self.effects[_text(d, "motion_id")] = d.get("effect")

    def _decided(self, d: Mapping[str, Json]) -> None:
        if _text(d, "state") == MotionState.ADOPTED:
            self.decided.add(_text(d, "motion_id"))

    def _allocated(self, d: Mapping[str, Json]) -> None:
        project = _text(d, "project_id")
        if project in self.allocations:
            raise ValueError(f"project {project} has an allocation before it")
        member = d.get("member_state")
        if member is not None and not isinstance(member, str):
            raise ValueError("field member_state is not a string or null")
        starts = _time(d, "starts_at")
        self.allocations[project] = Allocation(
            project_id=ProjectId(project),
            call_id=CallId(_text(d, "call_id")),
            proposal_id=ProposalId(_text(d, "proposal_id")),
            title="",  # not in the entry; fair share does not read it
            pi_user_id=UserId(""),
            member_state=member,
            pool=_choice(d, "pool", Pool),
            hours=_hours(d.get("hours")),
            starts_at=starts,
            ends_at=_time(d, "ends_at"),
            created_at=starts,
        )
        allocation = self.allocations[project]
        insort(self.bounds, (allocation.starts_at.timestamp(), project))
        insort(self.bounds, (allocation.ends_at.timestamp(), project))
        if self.active_at is not None:
            self._place(allocation, self.active_at)


def _differences(recorded: Weights, given: Weights, name: str, source: str) -> list[str]:
    keys = [*given, *(k for k in recorded if k not in given)]
    return [
        f"shares: {name.format(k)} weighs {recorded.get(k, 'nothing')} in the record; "
        f"{source} {given.get(k, 'nothing')}"
        for k in keys
        if recorded.get(k) != given.get(k)
    ]


def _text(d: Mapping[str, Json], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValueError(f"field {key} is not a string")
    return value


def _number(d: Mapping[str, Json], key: str) -> int:
    value = d.get(key)
    if type(value) is not int:
        raise ValueError(f"field {key} is not an integer")
    return value


def _amount(d: Mapping[str, Json], key: str) -> int:
    value = _number(d, key)
    if value < 0:
        raise ValueError(f"field {key} is negative")
    return value


def _code(d: Mapping[str, Json], *, states: Mapping[str, MemberState], known: bool = True) -> str:
    code = _text(d, "code")
    if not known and not ISO_ALPHA2.fullmatch(code):
        raise ValueError("field code is not a member state code (ISO 3166-1 alpha-2, two capitals)")
    if (code in states) != known:
        said = "was never admitted" if known else "was admitted before"
        raise ValueError(f"member state {code} {said}")
    return code


def _time(d: Mapping[str, Json], key: str) -> datetime:
    try:
        return datetime.strptime(_text(d, key), TIME).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"field {key} is not a time spelt {TIME}") from None


def _hours(value: Json) -> dict[str, AcceleratorHours]:
    if not isinstance(value, dict):
        raise ValueError("field hours is not an object")
    return {str(kind): _hour(kind, text) for kind, text in value.items()}


def _hour(kind: str, text: Json) -> AcceleratorHours:
    try:
        hours = Decimal(text) if isinstance(text, str) else None
    except InvalidOperation:
        hours = None
    if hours is None or not hours.is_finite() or not 0 <= hours <= LIMIT:
        raise ValueError(f"field hours.{kind} is not a number of hours from 0 to 2^53")
    return AcceleratorHours(hours)


def _date(d: Mapping[str, Json], key: str) -> date:
    try:
        return date.fromisoformat(_text(d, key))
    except ValueError:
        raise ValueError(f"field {key} is not a date spelt YYYY-MM-DD") from None


def _choice(d: Mapping[str, Json], key: str, kind: type[E]) -> E:
    value = _text(d, key)
    if value not in {str(c) for c in kind}:
        raise ValueError(f"field {key} is not one of {', '.join(sorted(kind))}")
    return kind(value)


def _effect(content: Json) -> Effect | None:
    try:
        return parse_effect(content)
    except InvalidInput as exc:
        raise ValueError(f"field content is not an entitlements effect ({exc})") from None
