"""pnyx user / pnyx token."""

from __future__ import annotations

import typer
from rich.table import Table

from pnyx.cli.context import console, platform
from pnyx.identity.model import LOCAL_CONSOLE, Role

users = typer.Typer(help="Users and their roles.", no_args_is_help=True)
tokens = typer.Typer(
    help="API tokens: enrol a user (create), redeem an enrolment, list, revoke. Secrets are shown once.",
    no_args_is_help=True,
)
ROLES = ", ".join(r.value for r in Role)


@users.command("add")
def add_user(
    name: str,
    role: list[str] = typer.Option(..., "--role", "-r", help=f"Repeatable. One of: {ROLES}"),
    email: str | None = typer.Option(None, help="Defaults to NAME@pnyx.example"),
    display_name: str | None = typer.Option(None, "--display-name"),
    member_state: str | None = typer.Option(None, "--member-state", help="ISO code, for delegates"),
) -> None:
    """Register a user with one or more roles."""
    with platform() as p:
        user = p.identity.register_user(
            name=name, roles=role, email=email, display_name=display_name, member_state=member_state
        )
    console().print(f"user [bold]{user.name}[/] ({user.id}) with roles {', '.join(sorted(user.roles))}")


@users.command("list")
def list_users() -> None:
    """List users and their roles."""
    table = Table("name", "id", "roles", "member state", "created", "disabled")
    with platform() as p:
        found = p.identity.list_users()
    for u in found:
        table.add_row(
            u.name,
            u.id,
            ", ".join(sorted(u.roles)),
            u.member_state or "",
            f"{u.created_at:%Y-%m-%d}",
            "disabled" if u.disabled else "",
        )
    console().print(table)


@users.command("roles")
def set_roles(
    name: str, role: list[str] = typer.Option(..., "--role", "-r", help=f"One of: {ROLES}")
) -> None:
    """Replace a user's roles."""
    with platform() as p:
        user = p.identity.set_roles(name, role)
    console().print(f"{user.name}: {', '.join(sorted(user.roles))}")


@users.command("disable")
def disable_user(name: str, reason: str = typer.Option("", help="Recorded in the public log")) -> None:
    """Disable a user: every token they hold is revoked at once (logged)."""
    with platform() as p:
        user = p.identity.disable_user(name, by=LOCAL_CONSOLE, reason=reason)
    console().print(f"user {user.name} is disabled; their tokens are revoked")


@tokens.command("create")
def create_token(
    user: str,
    label: str = typer.Option("", help="What the token is for"),
    days: int = typer.Option(7, help="Lifetime of the enrolment in days (1-7)"),
) -> None:
    """Enrol USER: an enrolment token, which authenticates nothing. USER exchanges it once for their own
    token (`pnyx token redeem`, or POST /api/v1/tokens/redeem); nobody else ever holds that one."""
    with platform() as p:
        issued = p.identity.enrol(user, by=LOCAL_CONSOLE, label=label, days=days)
    expires = f"{issued.token.expires_at:%Y-%m-%d %H:%M} UTC"
    console().print(f"token {issued.token.id} for {user} (enrolment), expires {expires}")
    console().print(
        f"give it to {user} only; it works once, to mint their own token (`pnyx token redeem` or "
        "POST /api/v1/tokens/redeem), and for nothing else. Enrolment secret (shown once):",
        style="bold",
    )
    typer.echo(issued.secret)


@tokens.command("redeem")
def redeem_token(
    label: str = typer.Option("", help="What the token is for"),
    days: int = typer.Option(90, help="Lifetime in days (1-366)"),
) -> None:
    """Exchange your enrolment token (read from the terminal or stdin, never the command line) for
    your own API token. The new secret is printed once and never stored."""
    secret = typer.prompt("enrolment token", hide_input=True).strip()
    with platform() as p:
        issued = p.identity.redeem(secret, label=label, days=days)
    console().print(f"token {issued.token.id} for you, expires {issued.token.expires_at:%Y-%m-%d %H:%M} UTC")
    console().print("secret (shown once; send as 'Authorization: Bearer <secret>'):", style="bold")
    typer.echo(issued.secret)


@tokens.command("list")
def list_tokens(user: str) -> None:
    """List a user's tokens (never their secrets)."""
    table = Table("id", "kind", "issued by", "label", "created", "expires", "revoked")
    with platform() as p:
        found = p.identity.tokens_of(user)
    for t in found:
        table.add_row(
            t.id,
            t.kind.value,
            t.issued_by,
            t.label,
            f"{t.created_at:%Y-%m-%d}",
            f"{t.expires_at:%Y-%m-%d}",
            f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "",
        )
    console().print(table)


@tokens.command("revoke")
def revoke_token(token_id: str) -> None:
    """Revoke a token at once."""
    with platform() as p:
        token = p.identity.revoke_token(token_id, by=LOCAL_CONSOLE)
    console().print(f"token {token.id} revoked")
