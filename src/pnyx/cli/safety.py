"""pnyx safety: classification, the officer's queue, metering and approvers' keys."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pnyx.cli import safety_releases
from pnyx.cli.context import console, inert, platform
from pnyx.identity.model import Principal
from pnyx.safety.model import Classification, OfficerKey
from pnyx.wiring import Platform

app = typer.Typer(help="Safety levels: classification, the officer's queue, keys.", no_args_is_help=True)
classification = typer.Typer(help="A project's classification.", no_args_is_help=True)
keys = typer.Typer(help="Approvers' Ed25519 public keys.", no_args_is_help=True)
app.add_typer(classification, name="classification")
app.add_typer(keys, name="keys")
safety_releases.register(app)  # release, incident, verify-release

OFFICER = typer.Option(..., "--as", help="Act as this safety officer")
LEVEL = typer.Argument(..., help="L1, L2, L3 or L4")


def _as(p: Platform, user: str) -> Principal:
    """The CLI acts on the facility's own machine, for the named user."""
    return p.identity.principal_of(user)


def _print(c: Classification) -> None:
    pending = "" if c.pending_level is None else f", pending {c.pending_level.name}"
    by = "" if c.pending_by is None else f" (proposed by {inert(c.pending_by)})"
    console().print(
        f"{inert(c.project)}: [bold]{c.level.name}[/] {c.status.value}{pending}{by}", highlight=False
    )


@app.command("classify")
def classify(project: str) -> None:
    """Classify a project from its proposal (the level it has, if classified already)."""
    with platform() as p:
        c = p.safety.ensure_classified(project)
    _print(c)
    console().print(inert(c.basis), highlight=False)


@classification.command("show")
def show(project: str) -> None:
    with platform() as p:
        c = p.safety.classification(project)
    _print(c)
    for name in ("basis", "categories", "metered_flop", "decided_by", "holds_jobs", "updated_at"):
        value = getattr(c, name)
        text = ", ".join(sorted(value)) if isinstance(value, frozenset) else str(value)
        console().print(f"[bold]{name:>13}[/] {inert(text)}", highlight=False)


@app.command("confirm")
def confirm(project: str, user: str = OFFICER) -> None:
    """Confirm the proposed level, or the level an escalation reached."""
    with platform() as p:
        _print(p.safety.confirm(project, by=_as(p, user)))


@app.command("raise")
def raise_level(project: str, level: str = LEVEL, user: str = OFFICER) -> None:
    """Set a higher level, confirmed at once."""
    with platform() as p:
        _print(p.safety.raise_level(project, level, by=_as(p, user)))


@app.command("lower")
def lower(project: str, level: str = LEVEL, user: str = OFFICER) -> None:
    """Propose a lower level; a second, different officer agrees with `pnyx safety agree-lower`."""
    with platform() as p:
        _print(p.safety.propose_lower(project, level, by=_as(p, user)))


@app.command("agree-lower")
def agree_lower(project: str, user: str = OFFICER) -> None:
    with platform() as p:
        _print(p.safety.agree_lower(project, by=_as(p, user)))


@app.command("refuse-lower")
def refuse_lower(project: str, user: str = OFFICER) -> None:
    with platform() as p:
        _print(p.safety.refuse_lower(project, by=_as(p, user)))


@app.command("queue")
def queue() -> None:
    """What waits for an officer: levels above L1 not yet confirmed, escalations, lowerings."""
    with platform() as p:
        found = p.safety.queue()
    table = Table("project", "level", "status", "pending", "by", "metered FLOP", "since")
    for c in found:
        pending = "" if c.pending_level is None else c.pending_level.name
        since = f"{c.updated_at:%Y-%m-%d %H:%M}"
        table.add_row(
            inert(c.project),
            c.level.name,
            c.status.value,
            pending,
            inert(c.pending_by or ""),
            str(c.metered_flop),
            since,
        )
    console().print(table)


@app.command("levels")
def levels() -> None:
    """The projects at each level (what the public sees)."""
    with platform() as p:
        found = p.safety.levels()
    for level, projects in found.items():
        console().print(
            f"[bold]{level.name}[/] {len(projects)}: {inert(' '.join(projects))}", highlight=False
        )


@app.command("meter")
def meter(project: str) -> None:
    """Re-meter a project's compute from accounting's usage records (escalates if a threshold is crossed)."""
    with platform() as p:
        c = p.safety.meter_from_usage(project)
    _print(c)
    console().print(f"metered compute: {c.metered_flop} FLOP", highlight=False)


def _print_key(k: OfficerKey) -> None:
    state = "" if k.revoked_at is None else f" revoked {k.revoked_at:%Y-%m-%d %H:%M}"
    console().print(f"{k.key_id} {inert(k.user)} {k.public_key}{state}", highlight=False)


@keys.command("register")
def register_key(
    public_key: str | None = typer.Argument(None, help="Base64 of the raw 32-byte Ed25519 public key"),
    key_file: Path | None = typer.Option(None, "--file", help="A file holding that base64 text"),
    user: str = typer.Option(..., "--as", help="The approver registering their own key"),
) -> None:
    """Register an approver's public key (its private half never leaves them)."""
    if (public_key is None) == (key_file is None):
        raise typer.BadParameter("give the key or --file, one of them", param_hint="PUBLIC_KEY")
    text = public_key if key_file is None else key_file.read_text(encoding="ascii").strip()
    with platform() as p:
        key = p.safety.register_key(_as(p, user), text or "")
    console().print(f"registered key [bold]{key.key_id}[/] for {inert(key.user)}", highlight=False)


@keys.command("list")
def list_keys(user: str | None = typer.Option(None, "--user")) -> None:
    with platform() as p:
        found = p.safety.keys(user)
    for k in found:
        _print_key(k)


@keys.command("revoke")
def revoke_key(
    key_id: str, user: str = typer.Option(..., "--as", help="The key's holder, or an operator")
) -> None:
    with platform() as p:
        key = p.safety.revoke_key(_as(p, user), key_id)
    _print_key(key)
