"""pnyx call / proposal / award (``pnyx review``: ``cli.review``).

The CLI runs on the facility's own machine as its operator. Commands that a researcher or a
reviewer performs take ``--as USER`` and act with that user's roles (for scripted intake and tests).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from rich.table import Table

from pnyx.allocation.forms import proposal_content, user_names
from pnyx.allocation.model import Allocation, ApplicantType, CallMode, Eligibility, ReviewPlan, Timeline
from pnyx.allocation.rules import whole_hours
from pnyx.cli.context import console, platform
from pnyx.core.errors import InvalidInput
from pnyx.governance.policy import Pool
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.wiring import Platform

calls = typer.Typer(
    help="Calls for proposals: create, open, close, review, rank, decide.", no_args_is_help=True
)
proposals = typer.Typer(
    help="Proposals: create from a JSON form, confirm membership, submit, reply, withdraw.",
    no_args_is_help=True,
)
awards = typer.Typer(help="Awards and the allocations they became.", no_args_is_help=True)

AS = typer.Option(..., "--as", help="The user on whose behalf the command acts")
MODES = ", ".join(m.value for m in CallMode)
POOLS = ", ".join(p.value for p in Pool)


def _when(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"not an ISO date or time: {text!r}", field=field) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_user(p: Platform, name: str) -> Principal:
    user = p.identity.user(name)
    return Principal(user_id=user.id, name=user.name, roles=user.roles)


def _decimal(text: str | None, field: str) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"not a number: {text!r}", field=field) from None


@calls.command("create")
def create_call(
    title: str,
    mode: CallMode = typer.Option(..., help=MODES),
    pool: Pool = typer.Option(Pool.OPEN_CALLS, help=POOLS),
    budget: str = typer.Option(..., help="Whole accelerator-hours"),
    opens: str = typer.Option(..., help="ISO date/time (UTC if no zone)"),
    closes: str = typer.Option(...),
    review_deadline: str = typer.Option(...),
    decision: str = typer.Option(...),
    starts: str = typer.Option(..., help="Allocations start"),
    ends: str = typer.Option(..., help="Allocations end"),
    applicant_type: list[ApplicantType] = typer.Option([ApplicantType.RESEARCHER], "--applicant-type"),
    pool_member_state: str | None = typer.Option(None, help="For a member-state pool"),
    member_state_required: bool = typer.Option(True, "--member-state-required/--anyone"),
    max_request: int | None = typer.Option(None, help="Largest request in accelerator-hours"),
    technical_reviewers: int = typer.Option(1),
    scientific_reviewers: int | None = typer.Option(None, help="Default 2, or 0 for technical-only modes"),
    partial_min_fraction: str | None = typer.Option(None, help="e.g. 0.5; absent: skip what does not fit"),
    randomise: bool = typer.Option(False, help="Partial randomisation at the funding line"),
) -> None:
    """Create a draft call."""
    scientific = (
        scientific_reviewers if scientific_reviewers is not None else (0 if mode.technical_only else 2)
    )
    with platform() as p:
        call = p.allocation.create_call(
            title=title,
            mode=mode,
            pool=pool,
            pool_member_state=pool_member_state,
            budget=budget,
            eligibility=Eligibility(
                applicant_types=frozenset(applicant_type),
                member_state_required=member_state_required,
                max_request=None if max_request is None else whole_hours(max_request, field="max_request"),
            ),
            timeline=Timeline(
                opens_at=_when(opens, "opens"),
                closes_at=_when(closes, "closes"),
                review_deadline=_when(review_deadline, "review_deadline"),
                decision_at=_when(decision, "decision"),
                allocation_starts_at=_when(starts, "starts"),
                allocation_ends_at=_when(ends, "ends"),
            ),
            plan=ReviewPlan(
                technical_reviewers=technical_reviewers,
                scientific_reviewers=scientific,
                partial_min_fraction=_decimal(partial_min_fraction, "partial_min_fraction"),
                randomise_at_line=randomise,
            ),
        )
    console().print(f"call [bold]{call.id}[/] ({call.mode.value}, {call.budget}) created as a draft")


@calls.command("list")
def list_calls() -> None:
    """Every call, drafts included."""
    with platform() as p:
        found = p.allocation.calls(include_drafts=True)
    table = Table("id", "title", "mode", "pool", "budget", "state", "closes")
    for c in found:
        table.add_row(
            c.id,
            c.title,
            c.mode.value,
            c.pool.value,
            f"{c.budget.value:,}",
            c.state.value,
            f"{c.timeline.closes_at:%Y-%m-%d}",
        )
    console().print(table)


@calls.command("open")
def open_call(call_id: str) -> None:
    """Open a draft call for submissions."""
    with platform() as p:
        call = p.allocation.open_call(call_id)
    console().print(f"call {call.id} is {call.state.value}")


@calls.command("close")
def close_call(call_id: str) -> None:
    """Close a call after its closing time."""
    with platform() as p:
        call = p.allocation.close_call(call_id)
    console().print(f"call {call.id} is {call.state.value}")


@calls.command("review")
def start_review(call_id: str) -> None:
    """Start the review and assign reviewers to every submitted proposal."""
    with platform() as p:
        made = p.review.start_review(call_id)
    console().print(f"call {call_id} is in review; {len(made)} assignments made")


@calls.command("assign")
def assign(call_id: str) -> None:
    """Fill review slots left open (after recusals)."""
    with platform() as p:
        made = p.review.assign_reviewers(call_id)
    console().print(f"{len(made)} assignments made")


@calls.command("rank")
def rank(call_id: str) -> None:
    """Run the panel: the merged ranking with documented tie-breaks."""
    with platform() as p:
        ranking = p.awards.rank(call_id)
    table = Table("rank", "proposal", "merit", "technical", "scientific", "fundable", "requested")
    for r in ranking:
        table.add_row(
            str(r.rank),
            r.proposal_id,
            str(r.merit),
            str(r.technical),
            str(r.scientific or "-"),
            "yes" if r.fundable else "no",
            f"{r.requested.value:,}",
        )
    console().print(table)


@calls.command("decide")
def decide(
    call_id: str,
    seed: int | None = typer.Option(None, help="Lottery seed (drawn and recorded if absent)"),
    grant: list[str] = typer.Option([], help="PROPOSAL=HOURS, repeatable: the panel's own list"),
) -> None:
    """Award down the ranking until the budget is spent (or the given grants), creating allocations."""
    grants = None
    if grant:
        grants = {}
        for item in grant:
            pid, _, amount = item.partition("=")
            if not amount:
                raise InvalidInput(f"a grant is PROPOSAL=HOURS, got {item!r}", field="grant")
            grants[pid] = amount
    with platform() as p:
        made = p.awards.decide(call_id, seed=seed, grants=grants)
        call = p.allocation.call(call_id, by=LOCAL_CONSOLE)
    for a in made:
        console().print(f"awarded {a.total} to {a.proposal_id} as project [bold]{a.project_id}[/]")
    seed_note = f"; lottery seed {call.seed}" if call.seed is not None else ""
    console().print(f"call {call_id} decided: {len(made)} awards{seed_note}")


@proposals.command("create")
def create_proposal(call_id: str, form: Path, user: str = AS) -> None:
    """Create a draft proposal from a JSON form (see pnyx.allocation.forms)."""
    try:
        data = json.loads(form.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read the proposal form: {exc}", field="form") from None
    with platform() as p:
        who = as_user(p, user)
        me = p.identity.user(user)
        ids = {n: p.identity.user(n).id for n in sorted(user_names(data))}
        content = proposal_content(data, pi_name=me.display_name, pi_id=me.id, user_ids=ids)
        made = p.allocation.create_proposal(call_id, content, by=who)
    console().print(f"proposal [bold]{made.id}[/] created as a draft")


@proposals.command("submit")
def submit(proposal_id: str, user: str = AS) -> None:
    """Submit a draft (eligibility is checked now)."""
    with platform() as p:
        made = p.allocation.submit(proposal_id, by=as_user(p, user))
    console().print(f"proposal {made.id} is {made.state.value}")


@proposals.command("confirm")
def confirm(proposal_id: str, user: str = AS) -> None:
    """Confirm you are on the team as named; only then do your conflicts of interest bind reviewers."""
    with platform() as p:
        p.allocation.confirm_membership(proposal_id, by=as_user(p, user))
    console().print(f"{user} confirmed as a team member of {proposal_id}")


@proposals.command("withdraw")
def withdraw(proposal_id: str, user: str = AS) -> None:
    """Withdraw a proposal."""
    with platform() as p:
        made = p.allocation.withdraw(proposal_id, by=as_user(p, user))
    console().print(f"proposal {made.id} is {made.state.value}")


@proposals.command("reply")
def reply(proposal_id: str, text: str, user: str = AS) -> None:
    """The applicant's one reply to the reviews, before the panel."""
    with platform() as p:
        p.allocation.reply(proposal_id, text, by=as_user(p, user))
    console().print(f"reply recorded for {proposal_id}")


@proposals.command("list")
def list_proposals(call_id: str | None = typer.Option(None, "--call")) -> None:
    """Every proposal (operator view)."""
    with platform() as p:
        found = p.allocation.proposals(by=LOCAL_CONSOLE, call_id=call_id)
    table = Table("id", "call", "title", "state", "requested")
    for x in found:
        table.add_row(x.id, x.call_id, x.content.title, x.state.value, f"{x.content.total_requested.value:,}")
    console().print(table)


@awards.command("list")
def list_awards(call_id: str | None = typer.Option(None, "--call")) -> None:
    """Every award (the public decision record)."""
    with platform() as p:
        found = p.awards.allocations(call_id=call_id)
    _print_allocations(found)


@awards.command("active")
def active(at: str | None = typer.Option(None, help="ISO time; default now")) -> None:
    """Allocations active at a time, with each project's share of its pool."""
    with platform() as p:
        when = _when(at, "at") if at else p.clock.now()
        shares = p.awards.project_shares(when)
    table = Table("project", "pool", "member state", "hours", "share of pool")
    for s in shares:
        table.add_row(
            s.project_id, s.pool.value, s.member_state or "", f"{s.hours.value:,}", f"{s.share_of_pool:.1%}"
        )
    console().print(table)


def _print_allocations(found: list[Allocation]) -> None:
    table = Table("project", "call", "title", "member state", "hours", "starts", "ends")
    for a in found:
        hours = ", ".join(f"{k} {v.value:,}" for k, v in a.hours.items())
        table.add_row(
            a.project_id,
            a.call_id,
            a.title,
            a.member_state or "",
            hours,
            f"{a.starts_at:%Y-%m-%d}",
            f"{a.ends_at:%Y-%m-%d}",
        )
    console().print(table)
