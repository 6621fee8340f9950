"""pnyx review: the reviewer pool, assignments, scores, conflicts (declared, withdrawn, waived), and
a reviewer's own review read back.

The CLI runs on the facility's own machine as its operator. Commands that a reviewer performs take
``--as USER`` and act with that user's roles: each reads and changes only that reviewer's own.
"""

from __future__ import annotations

import typer
from rich.table import Table

from pnyx.cli.allocation import AS, as_user
from pnyx.cli.context import console, inert, platform
from pnyx.cli.job_view import when
from pnyx.core.errors import InvalidInput
from pnyx.identity.model import LOCAL_CONSOLE

reviews = typer.Typer(
    help="Peer review: reviewers, assignments, scores, conflicts, waivers.", no_args_is_help=True
)


@reviews.command("reviewer-add")
def add_reviewer(
    user: str,
    institution: str = typer.Option(...),
    expertise: list[str] = typer.Option(..., help="Repeatable keyword"),
    coauthor: list[str] = typer.Option([], help="NAME:YEAR, repeatable"),
    max_load: int = typer.Option(6, help="Most proposals per call"),
) -> None:
    """Add a user holding the reviewer role to the reviewer pool (or update their profile)."""
    pairs = []
    for item in coauthor:
        name, _, year = item.rpartition(":")
        if not name or not year.isdigit():
            raise InvalidInput(f"a co-author is NAME:YEAR, got {item!r}", field="coauthor")
        pairs.append((name, int(year)))
    with platform() as p:
        p.review.register_reviewer(
            user, institution=institution, expertise=expertise, coauthors=pairs, max_load=max_load
        )
    console().print(f"{user} is in the reviewer pool")


@reviews.command("assignments")
def assignments(user: str = AS) -> None:
    """A reviewer's assignments."""
    with platform() as p:
        found = p.review.assignments(by=as_user(p, user))
    table = Table("proposal", "title", "kind", "reviewed")
    for a, prop, done in found:
        table.add_row(a.proposal_id, prop.content.title, a.kind.value, "yes" if done else "no")
    console().print(table)


@reviews.command("submit")
def submit_review(
    proposal_id: str,
    user: str = AS,
    score: list[str] = typer.Option(..., help="CRITERION=0..5, repeatable"),
    comments: str = typer.Option(...),
) -> None:
    """Score an assigned proposal, 0-5 per criterion of the rubric."""
    scores = {}
    for item in score:
        criterion, _, value = item.partition("=")
        try:
            scores[criterion] = int(value)
        except ValueError:
            raise InvalidInput(f"a score is CRITERION=0..5, got {item!r}", field="score") from None
    with platform() as p:
        made = p.review.submit_review(proposal_id, scores=scores, comments=comments, by=as_user(p, user))
    console().print(f"{made.kind.value} review of {proposal_id} recorded")


@reviews.command("declare")
def declare(proposal_id: str, user: str = AS, reason: str = typer.Option(...)) -> None:
    """Declare a conflict of interest (and be recused)."""
    with platform() as p:
        p.review.declare_conflict(proposal_id, reason, by=as_user(p, user))
    console().print(f"conflict declared; {user} is recused from {proposal_id}")


@reviews.command("conflicts")
def list_conflicts(proposal_id: str) -> None:
    """Conflicts of every pool reviewer with a proposal."""
    with platform() as p:
        found = p.review.conflicts(proposal_id)
        names = {u.id: u.name for u in p.identity.list_users()}
    table = Table("reviewer", "kind", "detail", "waived")
    for s in found:
        c = s.conflict
        table.add_row(
            names.get(c.reviewer_id, c.reviewer_id), c.kind.value, c.detail, "yes" if s.waived else "no"
        )
    console().print(table)


@reviews.command("waive")
def waive(
    proposal_id: str,
    reviewer: str,
    kind: list[str] = typer.Option(..., help="Conflict kind to waive, repeatable"),
    reason: str = typer.Option(..., help="Logged publicly: do not name the reviewer"),
) -> None:
    """Waive a reviewer's conflict with a proposal: an audited decision, logged with its reason."""
    with platform() as p:
        waiver = p.review.waive(proposal_id, reviewer, kind, reason, by=LOCAL_CONSOLE)
    console().print(f"waiver {waiver.id} recorded")


@reviews.command("mine")
def mine(proposal_id: str, user: str = AS) -> None:
    """Your own submitted review of an assigned proposal: its scores and comments."""
    with platform() as p:
        review = p.review.own_review(proposal_id, by=as_user(p, user))
    console().print(f"{review.kind.value} review of {proposal_id}, submitted {when(review.submitted_at)}")
    for criterion, points in review.scores.items():
        console().print(f"  {criterion:>16} {points}", highlight=False)
    console().print(inert(review.comments), highlight=False)


@reviews.command("declared")
def declared(user: str = AS) -> None:
    """The conflicts you declared (and have not withdrawn)."""
    with platform() as p:
        found = p.review.declared_conflicts(by=as_user(p, user))
    table = Table("proposal", "reason")
    for d in found:
        table.add_row(d.proposal_id, inert(d.reason))
    console().print(table)


@reviews.command("withdraw-conflict")
def withdraw_conflict(proposal_id: str, user: str = AS) -> None:
    """Withdraw a conflict you declared, while the proposal is under review: you may be assigned it
    again (``pnyx call assign``). A detected conflict (institution, co-authorship) is an operator's
    to waive, not yours to withdraw."""
    with platform() as p:
        p.review.withdraw_conflict(proposal_id, by=as_user(p, user))
    console().print(f"conflict on {proposal_id} withdrawn; {user} may be assigned it again")
