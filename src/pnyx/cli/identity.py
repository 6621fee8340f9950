"""pnyx user / pnyx token."""

from __future__ import annotations

import typer
from rich.table import Table

from pnyx.cli.context import console, platform
from pnyx.identity.model import LOCAL_CONSOLE, Role

users = typer.Typer(help="Users and their roles.", no_args_is_help=True)
tokens = typer.Typer(help="API tokens: create (shown once), list, revoke.", no_args_is_help=True)
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
    table = Table("name", "id", "roles", "member state", "created")
    with platform() as p:
        found = p.identity.list_users()
    for u in found:
        table.add_row(
            u.name, u.id, ", ".join(sorted(u.roles)), u.member_state or "", f"{u.created_at:%Y-%m-%d}"
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


@tokens.command("create")
def create_token(
    user: str,
    label: str = typer.Option("", help="What the token is for"),
    days: int = typer.Option(90, help="Lifetime in days (1-366)"),
) -> None:
    """Create an API token for USER. The secret is printed once and never stored."""
    with platform() as p:
        issued = p.identity.issue_token(user, label=label, days=days)
    console().print(
        f"token {issued.token.id} for {user}, expires {issued.token.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    console().print("secret (shown once; send as 'Authorization: Bearer <secret>'):", style="bold")
    typer.echo(issued.secret)


@tokens.command("list")
def list_tokens(user: str) -> None:
    """List a user's tokens (never their secrets)."""
    table = Table("id", "label", "created", "expires", "revoked")
    with platform() as p:
        found = p.identity.tokens_of(user)
    for t in found:
        table.add_row(
            t.id,
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
