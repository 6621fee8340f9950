"""Accounting use cases: record a job's usage, charge it, report use against entitlements."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Protocol

from pnyx.accounting.history import HistoryStep, steps, usage_history
from pnyx.accounting.model import (
    Dimension,
    JobUsage,
    MemberStateUsage,
    Period,
    ProjectStanding,
    ProjectWentOverBudget,
    Standing,
    UsageGroup,
    UsageRecord,
    UsageRecorded,
)
from pnyx.accounting.rules import (
    HOUR,
    Funding,
    check_may_see_standing,
    compare_with_entitlements,
    energy_wh,
    funding,
    group_usage,
    parse_period,
    span_of,
)
from pnyx.accounting.store import UsageRepository
from pnyx.core.errors import Conflict, InvalidInput, NotFound
from pnyx.core.ids import new_id
from pnyx.db.batch import write_each
from pnyx.db.unit_of_work import Transaction, UnitOfWork
from pnyx.identity.model import Principal
from pnyx.scheduler.fairshare import Span

Budget = tuple[Funding | None, Callable[[datetime], Decimal | None]]
"""A project's allocation (None: it has none) and its allocated hours at a time (None: none then)."""


class Budgets(Protocol):
    """Where a project's allocation comes from (the allocation domain)."""

    def allocated_hours(self, project_id: str, at: datetime) -> Decimal | None: ...

    def budgets(self, project_ids: Collection[str]) -> Mapping[str, Budget]:
        """Each project's ``Budget``, read at once: what one batch of usage records draws on."""
        ...


class NoBudgets:
    """No allocation domain wired in: every project has no allocation."""

    def allocated_hours(self, project_id: str, at: datetime) -> Decimal | None:
        return None

    def allocation(self, project_id: str) -> Funding:
        raise NotFound(f"no allocation for project {project_id!r}", field="project_id")

    def budgets(self, project_ids: Collection[str]) -> dict[str, Budget]:
        """Each project's ``allocation`` (None where there is none) and its ``allocated_hours``."""
        return {p: (_funded(self.allocation, p), partial(self.allocated_hours, p)) for p in project_ids}


def _funded(allocation: Callable[[str], Funding], project_id: str) -> Funding | None:
    try:
        return allocation(project_id)
    except NotFound:  # no allocation: work of a member-state pool, or of no pool
        return None


SharesAt = Callable[[datetime], Mapping[str, Decimal]]  # member-state entitlement shares in force at a time
CapacityAt = Callable[[], int]  # accelerators in the facility
SpeedOf = Callable[[str], float]  # speed factor of an accelerator type


class AccountingService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        budgets: Budgets,
        shares_at: SharesAt,
        capacity: CapacityAt,
        speed_of: SpeedOf,
    ) -> None:
        self.uow = uow
        self.budgets = budgets
        self.shares_at = shares_at
        self.capacity = capacity
        self.speed_of = speed_of

    def record_usage(
        self,
        *,
        job_id: str,
        project_id: str,
        accelerator_type: str,
        accelerators: int,
        started_at: datetime,
        ended_at: datetime,
        member_state: str | None = None,
        pool: str | None = None,
        call_id: str | None = None,
        discipline: str | None = None,
        user_id: str | None = None,
    ) -> UsageRecord:
        """Record a finished (or stopped) job's use once, and charge it against its project's allocation.

        The pool and the call are the allocation's (``rules.funding``): one source, so that usage summed
        by pool and by call agrees. A caller's ``pool`` counts only for a project without an allocation
        (member-pool work); a ``pool`` or ``call_id`` that contradicts the allocation is refused."""
        usage = JobUsage(
            job_id=job_id,
            project_id=project_id,
            accelerator_type=accelerator_type,
            accelerators=accelerators,
            started_at=started_at,
            ended_at=ended_at,
            member_state=member_state,
            pool=pool,
            call_id=call_id,
            discipline=discipline,
            user_id=user_id,
        )
        [recorded] = self.record_usages([usage])
        if isinstance(recorded, Exception):
            raise recorded
        return recorded

    def record_usages(self, usages: Sequence[JobUsage]) -> list[UsageRecord | Exception]:
        """Several jobs' use (a dispatch cycle's) as ``record_usage`` records one, in one transaction:
        one refused (recorded already, invalid, contradicting its allocation, refused by the database)
        is undone alone, its events with it, and its error returned in its place. Each project's
        allocation is read once, before the transaction; the transaction checks the records against
        what is recorded in two reads and writes them in one statement (``_charged``)."""
        budgets = self.budgets.budgets({u.project_id for u in usages})
        drafts = [self._draft(u, budgets[u.project_id]) for u in usages]
        with self.uow.write() as tx:
            charged = iter(_charged(tx, [d for d in drafts if not isinstance(d, Exception)]))
            return [d if isinstance(d, Exception) else next(charged) for d in drafts]

    def _draft(self, usage: JobUsage, budget: Budget) -> _Draft | Exception:
        """The record, checked, with its project's allocated hours when it ended; or why it is refused."""
        funded, allocated_hours = budget
        try:
            return self._record_of(usage, funded), allocated_hours(usage.ended_at)
        except Exception as exc:  # that record's alone: returned in its place
            return exc

    def _record_of(self, usage: JobUsage, funded: Funding | None) -> UsageRecord:
        pool, call_id = funding(funded, pool=usage.pool, call_id=usage.call_id)
        if usage.accelerators <= 0:
            raise InvalidInput("accelerators must be positive", field="accelerators")
        if usage.ended_at < usage.started_at:
            raise InvalidInput("a job cannot end before it starts", field="ended_at")
        seconds = int((usage.ended_at - usage.started_at).total_seconds()) * usage.accelerators
        return UsageRecord(
            id=new_id("use"),
            job_id=usage.job_id,
            project_id=usage.project_id,
            member_state=usage.member_state,
            accelerator_type=usage.accelerator_type,
            accelerators=usage.accelerators,
            started_at=usage.started_at,
            ended_at=usage.ended_at,
            accelerator_seconds=seconds,
            h100_equivalent_seconds=int(seconds * self.speed_of(usage.accelerator_type)),
            energy_wh=energy_wh(usage.accelerator_type, seconds),
            pool=pool,
            call_id=call_id,
            discipline=usage.discipline,
            user_id=usage.user_id,
        )

    def standing(self, project_id: str, at: datetime | None = None) -> ProjectStanding:
        """Over budget means the scheduler runs the project's new work at opportunistic priority."""
        with self.uow.read() as conn:
            used = Decimal(UsageRepository(conn).project_seconds(project_id)) / HOUR
        allocated = self.budgets.allocated_hours(project_id, at or self.uow.clock.now())
        if allocated is None:
            state = Standing.NO_ALLOCATION
        else:
            state = Standing.OVER_BUDGET if used > allocated else Standing.WITHIN_BUDGET
        return ProjectStanding(
            project_id=project_id, allocated_hours=allocated, used_hours=used, standing=state
        )

    def standing_for(self, by: Principal, project_id: str, team: Collection[str]) -> ProjectStanding:
        """``standing`` for the project's team (``team``: its user ids, from the allocation domain),
        operators and auditors (``rules.check_may_see_standing``)."""
        check_may_see_standing(by, team)
        return self.standing(project_id)

    def finished(self, ended_since: datetime | None, known: Collection[str] = ()) -> list[tuple[str, Span]]:
        """(record id, span) of the work that ended at or after ``ended_since`` (None: all), less the
        records ``known`` (folded already): what the dispatcher folds into its fair-share history
        (``dispatch.fair``)."""
        with self.uow.read() as conn:
            records = UsageRepository(conn).ended_since_less(ended_since, known)
        return [(r.id, span_of(r)) for r in records]

    def recorded_since(self, since: datetime) -> set[str]:
        """The attempt keys whose usage is recorded, of work that ended at or after ``since``: what the
        dispatcher's usage recovery compares with the jobs closed since then."""
        with self.uow.read() as conn:
            return UsageRepository(conn).keys_since(since)

    def seconds_by_type(self, project_id: str) -> dict[str, int]:
        """All the accelerator-seconds recorded for the project, per accelerator type."""
        with self.uow.read() as conn:
            return UsageRepository(conn).project_seconds_by_type(project_id)

    def period(self, text: str) -> Period:
        return parse_period(text, self.uow.clock.now())

    def usage(self, period: Period, by: Dimension) -> list[UsageGroup]:
        with self.uow.read() as conn:
            records = UsageRepository(conn).overlapping(period.start, period.end)
        return group_usage(records, period, by)

    def member_states(self, period: Period) -> list[MemberStateUsage]:
        """Each member state's use against its entitlement over the period (shares in force at its end)."""
        used = {g.key: g.accelerator_hours for g in self.usage(period, Dimension.MEMBER_STATE)}
        return compare_with_entitlements(used, self.shares_at(period.end))

    def utilisation(self, period: Period) -> Decimal:
        """Accelerator-hours used over the facility's accelerator-hours in the period."""
        used = sum((g.accelerator_hours for g in self.usage(period, Dimension.MEMBER_STATE)), Decimal(0))
        capacity = Decimal(self.capacity()) * period.hours
        return used / capacity if capacity else Decimal(0)

    def history(self, period: Period) -> list[HistoryStep]:
        """The period in steps (``history``): use, estimated energy, utilisation and each member
        state's received share against the entitlement in force at each step's end."""
        cuts = steps(period)
        with self.uow.read() as conn:
            records = UsageRepository(conn).overlapping(period.start, period.end)
        return usage_history(records, cuts, [self.shares_at(c.end) for c in cuts], self.capacity())


_Draft = tuple[UsageRecord, Decimal | None]  # a checked record and its project's allocated hours then


def _charged(tx: Transaction, drafts: Sequence[_Draft]) -> list[UsageRecord | Exception]:
    """Each draft's record added with its events, or the error that undid it alone: checked against
    the records of its job and its project's hours read once for all, then written in one statement;
    one by one, each in its own savepoint, only when the database refuses that one (``db.batch``)."""
    repo = UsageRepository(tx.conn)
    recorded = repo.recorded(record.job_id for record, _ in drafts)
    seconds = repo.seconds_by_project({record.project_id for record, _ in drafts})
    planned = _Charges(tx, {project: Decimal(s) / HOUR for project, s in seconds.items()})
    alone = _Charges(tx, {})  # reads as it goes: the one-by-one path

    def plan(draft: _Draft) -> UsageRecord:
        record = draft[0]
        if record.job_id in recorded:
            raise _exists(record)
        done = planned.charge(*draft)
        recorded.add(record.job_id)
        return done

    def one(draft: _Draft) -> UsageRecord:
        record = draft[0]
        if repo.by_job(record.job_id) is not None:
            raise _exists(record)
        if record.project_id not in alone.used:
            alone.used[record.project_id] = Decimal(repo.project_seconds(record.project_id)) / HOUR
        repo.add(record)
        return alone.charge(*draft)

    return write_each(tx, drafts, plan, repo.add_all, one)


def _exists(record: UsageRecord) -> Conflict:
    return Conflict(f"usage of job {record.job_id} is already recorded", field="job_id", code="usage_exists")


class _Charges:
    """Each project's hours used as this transaction's records add to them (``used``: read before)."""

    def __init__(self, tx: Transaction, used: dict[str, Decimal]) -> None:
        self.tx = tx
        self.used = used

    def charge(self, record: UsageRecord, allocated: Decimal | None) -> UsageRecord:
        """``record``'s events (the over-budget one when it crosses ``allocated``), its hours counted."""
        before = self.used[record.project_id]
        after = before + Decimal(record.accelerator_seconds) / HOUR
        self.tx.emit(recorded_event(record))
        if allocated is not None and before <= allocated < after:
            self.tx.emit(
                ProjectWentOverBudget(
                    project_id=record.project_id,
                    allocated_hours=str(allocated),
                    used_hours=str(after.quantize(Decimal("0.01"))),
                )
            )
        self.used[record.project_id] = after
        return record


def recorded_event(record: UsageRecord) -> UsageRecorded:
    return UsageRecorded(
        job_id=record.job_id,
        project_id=record.project_id,
        member_state=record.member_state,
        accelerator_type=record.accelerator_type,
        accelerators=record.accelerators,
        started_at=record.started_at,
        ended_at=record.ended_at,
        accelerator_seconds=record.accelerator_seconds,
        energy_wh=record.energy_wh,
    )
