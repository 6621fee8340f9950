"""pnyx council / pnyx policy: motions, votes, the offline tally, and the policies in force."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pnyx.cli.context import console, platform
from pnyx.core.errors import InvalidInput
from pnyx.governance.electorate import parse_ballots_text
from pnyx.governance.majority import RuleSet, parse_rule_text
from pnyx.governance.model import MemberStateStatus
from pnyx.governance.motion import Motion
from pnyx.governance.policy import Pool
from pnyx.governance.voting import Outcome, tally
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.wiring import Platform

app = typer.Typer(
    help="The council: motions, deliberation, votes, and the offline tally.", no_args_is_help=True
)
policy_app = typer.Typer(help="The policies the council adopted, as enforced.", no_args_is_help=True)

AS = typer.Option(None, "--as", help="Act as this user (a delegate); default: the local console (operator)")


@app.command("tally")
def tally_files(
    rule_file: Path = typer.Argument(..., help="Rule set, TOML or JSON (docs/governance.md)"),
    ballots_file: Path = typer.Argument(..., help="Ballots file, JSON (docs/governance.md)"),
    decision_type: str | None = typer.Option(None, help="Default: the ballots file's decision_type"),
    as_json: bool = typer.Option(False, "--json", help="Print the explained outcome as JSON"),
) -> None:
    """Tally a vote offline, with the same code the server uses: check any result yourself."""
    rules = load_rules(rule_file)
    ballots = parse_ballots_text(_read(ballots_file, "ballots_file"))
    chosen = decision_type or ballots.decision_type
    if chosen is None:
        raise InvalidInput(
            "say which decision type: --decision-type or the file's decision_type", field="decision_type"
        )
    outcome = tally(rules.rule_for(chosen), ballots.members, ballots.ballots)
    if as_json:
        typer.echo(json.dumps(outcome.data(), indent=2))
        return
    show_outcome(outcome)


@app.command("rules")
def show_rules(install: Path | None = typer.Option(None, help="Install this rule file (operators)")) -> None:
    """Show the council's rules in force, or install a rule file before the first decision."""
    with platform() as p:
        if install is not None:
            policy = p.council.install_rules(load_rules(install), by=LOCAL_CONSOLE)
            console().print(f"installed as majority_rules version {policy.version}")
        rules = p.council.rules()
    console().print(f"[bold]{rules.name}[/]: {rules.description}")
    for name, rule in sorted(rules.rules.items()):
        console().print(f"  [bold]{name}[/]: {rule.description}")


@app.command("list")
def list_motions() -> None:
    """Motions with their state and result."""
    with platform() as p:
        motions = p.council.motions()
    table = Table("id", "title", "decision type", "state", "result")
    for m in motions:
        result = m.outcome["summary"] if m.outcome else ""
        table.add_row(
            m.id,
            m.title + (f" (amends {m.amends})" if m.amends else ""),
            m.decision_type,
            m.state.value,
            result,
        )
    console().print(table)


@app.command("show")
def show(motion_id: str) -> None:
    """A motion, its ballots and its tally."""
    with platform() as p:
        motion = p.council.motion(motion_id)
        ballots = p.votes.ballots(motion_id)
    _print_motion(motion)
    for b in ballots:
        console().print(f"  {b.member_state}: {b.choice.value} ({b.cast_by})")


@app.command("table")
def table_motion(
    *,
    title: str = typer.Option(...),
    text: str = typer.Option(..., help="The motion's text, or @FILE"),
    decision_type: str = typer.Option("ordinary"),
    effect: str | None = typer.Option(None, help="The effect as JSON, or @FILE"),
    amends: str | None = typer.Option(None, help="Make this an amendment to that motion"),
    user: str | None = AS,
) -> None:
    """Table a motion (or an amendment); it goes to deliberation at once."""
    with platform() as p:
        motion = p.council.table(
            title=title,
            text=_text(text),
            decision_type=decision_type,
            effect=None if effect is None else _effect(_text(effect)),
            amends=amends,
            by=_principal(p, user),
        )
    console().print(f"tabled {motion.id}: {motion.title} ({motion.state.value})")


@app.command("comment")
def comment(motion_id: str, text: str, user: str | None = AS) -> None:
    """Comment on a motion under deliberation."""
    with platform() as p:
        c = p.council.comment(motion_id, text, by=_principal(p, user))
    console().print(f"comment {c.id} posted on {motion_id}")


@app.command("open")
def open_voting(motion_id: str) -> None:
    """Open the vote (the secretariat): fixes the rule and the electorate."""
    with platform() as p:
        motion = p.votes.open(motion_id, by=LOCAL_CONSOLE)
    console().print(f"voting open on {motion.id} under {motion.rules_name} / {motion.decision_type}")


@app.command("vote")
def vote(
    motion_id: str,
    choice: str = typer.Argument(..., help="yes, no or abstain"),
    user: str = typer.Option(..., "--as", help="The delegate casting the ballot"),
    change: bool = typer.Option(False, "--change", help="Change the state's ballot already cast"),
) -> None:
    """Cast (or with --change, change) a delegate's state's ballot."""
    with platform() as p:
        by = _principal(p, user)
        ballot = (
            p.votes.change(motion_id, choice, by=by) if change else p.votes.cast(motion_id, choice, by=by)
        )
    console().print(f"{ballot.member_state} votes {ballot.choice.value} on {motion_id}")


@app.command("close")
def close(motion_id: str) -> None:
    """Close the vote and tally it (the secretariat)."""
    with platform() as p:
        motion = p.votes.close(motion_id, by=LOCAL_CONSOLE)
    _print_motion(motion)


@app.command("export")
def export(
    motion_id: str, out: Path = typer.Argument(..., help="Directory for rules.json and ballots.json")
) -> None:
    """Write a vote's rule file and ballots file, for `pnyx council tally`."""
    with platform() as p:
        rules, ballots = p.votes.tally_files(motion_id)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules.json").write_text(json.dumps(rules, indent=2) + "\n")
    (out / "ballots.json").write_text(json.dumps(ballots, indent=2) + "\n")
    console().print(f"wrote {out / 'rules.json'} and {out / 'ballots.json'}")


@app.command("contribution")
def contribution(
    code: str,
    budget_year: int,
    cash: int = typer.Option(..., help="Cash due, minor units"),
    in_kind: int = typer.Option(0, help="In-kind contribution, minor units"),
    paid: int = typer.Option(0, help="Also record a payment of this much"),
) -> None:
    """Record a member state's contribution for a budget year (and optionally a payment)."""
    with platform() as p:
        record = p.member_states.record_contribution(code, budget_year, cash=cash, in_kind=in_kind)
        if paid:
            record = p.member_states.record_payment(code, budget_year, paid)
    console().print(
        f"{record.code} {record.budget_year}: cash {record.cash}, "
        f"in kind {record.in_kind}, paid {record.paid}"
    )


@app.command("status")
def set_status(code: str, status: MemberStateStatus, reason: str = typer.Option(...)) -> None:
    """Suspend or reinstate a member state."""
    with platform() as p:
        state = p.member_states.set_status(code, status, reason=reason)
    console().print(f"{state.code} is {state.status.value}")


@policy_app.command("show")
def policy_show(at: datetime | None = typer.Option(None, help="Default: now (UTC)")) -> None:
    """The policies in force: member shares, pool split, and every other adopted policy."""
    when = (at.replace(tzinfo=UTC) if at and at.tzinfo is None else at) or datetime.now(UTC)
    with platform() as p:
        shares = p.policies.member_shares(when)
        split = p.policies.pool_split(when)
        in_force = p.policies.all_in_force(when)
    table = Table("member state", "entitlement share", title=f"In force at {when:%Y-%m-%d %H:%M} UTC")
    for code, share in shares.items():
        table.add_row(code, f"{share * 100:.3f}%")
    console().print(table)
    console().print(
        "pool split: " + ", ".join(f"{pool.value} {float(split.share(pool)) * 100:.1f}%" for pool in Pool)
    )
    for policy in in_force:
        subject = f" [{policy.subject}]" if policy.subject else ""
        source = f"motion {policy.motion_id}" if policy.motion_id else "installed"
        console().print(
            f"{policy.kind.value}{subject} v{policy.version} "
            f"from {policy.effective_from:%Y-%m-%d %H:%M} ({source})"
        )


def load_rules(path: Path) -> RuleSet:
    text = _read(path, "rule_file")
    return parse_rule_text(text, fmt="toml" if path.suffix == ".toml" else "json")


def show_outcome(outcome: Outcome) -> None:
    colour = "green" if outcome.adopted else "red"
    console().print(f"[bold {colour}]{outcome.summary}[/]", highlight=False)
    for c in outcome.conditions:
        mark = "[green]✓[/]" if c.met else "[red]✗[/]"
        console().print(f"  {mark} {c.explanation}", highlight=False)
    for code, why in outcome.disregarded.items():
        console().print(f"  ballot of {code} disregarded: {why}", highlight=False)


def _print_motion(m: Motion) -> None:
    console().print(f"[bold]{m.id}[/] {m.title} — {m.state.value} ({m.decision_type})", highlight=False)
    if m.outcome:
        console().print(m.outcome["summary"], highlight=False)
        for c in m.outcome["conditions"]:
            console().print(f"  {'✓' if c['met'] else '✗'} {c['explanation']}", highlight=False)


def _principal(p: Platform, user: str | None) -> Principal:
    if user is None:
        return LOCAL_CONSOLE
    found = p.identity.user(user)
    return Principal(user_id=found.id, name=found.name, roles=found.roles)


def _text(value: str) -> str:
    if value.startswith("@"):
        return _read(Path(value[1:]), "text")
    return value


def _read(path: Path, field: str) -> str:
    """A file's text; a missing file or one that is not UTF-8 is one line naming the field."""
    if not path.is_file():
        raise InvalidInput(f"no file at {path}", field=field)
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text (byte {exc.start})", field=field) from None


def _effect(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # also a number of more than 4300 digits
        raise InvalidInput(f"the effect is not valid JSON: {exc}", field="effect") from None
