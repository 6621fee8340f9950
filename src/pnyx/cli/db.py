"""pnyx db: schema migrations."""

from __future__ import annotations

import typer

from pnyx.cli.context import console, platform
from pnyx.db import migrate

app = typer.Typer(help="Database schema: migrate and inspect.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Migrate the database to the newest schema (or REVISION); the one command that creates it."""
    with platform(migrated=False, create=True) as p:
        before = migrate.current_revision(p.engine)
        migrate.upgrade(p.engine, revision)
        after = migrate.current_revision(p.engine)
        url = p.engine.url.render_as_string(hide_password=True)
    console().print(f"database {url}: {before or 'empty'} -> [bold]{after}[/]")


@app.command()
def current() -> None:
    """Show the database's schema revision and the code's."""
    with platform(migrated=False) as p:
        revision = migrate.current_revision(p.engine)
    console().print(f"database: {revision or 'empty'}; code: {migrate.head_revision()}")


@app.command()
def downgrade(revision: str) -> None:
    """Migrate the database down to REVISION ('base' empties it)."""
    with platform(migrated=False) as p:
        migrate.downgrade(p.engine, revision)
        now_at = migrate.current_revision(p.engine)
    console().print(f"database now at {now_at or 'base'}")
