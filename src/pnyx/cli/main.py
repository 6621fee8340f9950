"""The ``pnyx`` command."""

from __future__ import annotations

import sys

import httpx
import sqlalchemy as sa
import typer

from pnyx import __version__
from pnyx.cli import allocation, council, db, governance, identity, inventory, jobs, log, report, simulate
from pnyx.cli import registry as registry_commands
from pnyx.cli import safety as safety_commands
from pnyx.cli.context import console, errors, platform
from pnyx.core.errors import ErrorKind, FacilityError
from pnyx.demo.service import DEMO_DATASET, seed_demo
from pnyx.settings import Settings

app = typer.Typer(
    help="Pnyx: operate a publicly funded, internationally governed AI supercomputer.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(identity.users, name="user")
app.add_typer(identity.tokens, name="token")
app.add_typer(governance.app, name="member-state")
app.add_typer(council.app, name="council")
app.add_typer(council.policy_app, name="policy")
app.add_typer(inventory.app, name="inventory")
app.add_typer(log.app, name="log")
app.add_typer(allocation.calls, name="call")
app.add_typer(allocation.proposals, name="proposal")
app.add_typer(allocation.reviews, name="review")
app.add_typer(allocation.awards, name="award")
app.add_typer(report.app, name="report")
app.add_typer(jobs.jobs, name="job")
app.add_typer(jobs.dispatch, name="dispatch")
app.add_typer(safety_commands.app, name="safety")
app.add_typer(registry_commands.app, name="registry")
app.command(name="simulate")(simulate.simulate)

EXIT_CODES = {
    ErrorKind.INVALID: 2,
    ErrorKind.UNAUTHENTICATED: 3,
    ErrorKind.FORBIDDEN: 3,
    ErrorKind.NOT_FOUND: 4,
    ErrorKind.CONFLICT: 5,
    ErrorKind.UNAVAILABLE: 6,
    ErrorKind.INTEGRITY: 7,
}


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def serve(
    host: str | None = typer.Option(None, help="Default PNYX_HOST or 127.0.0.1"),
    port: int | None = typer.Option(None, help="Default PNYX_PORT or 8000"),
) -> None:
    """Serve the API and the portal (refuses an unmigrated database)."""
    import uvicorn

    settings = Settings.from_env()
    with platform():  # fails here, with its message, if the database is not migrated
        pass
    host = host or settings.host
    port = port or settings.port
    console().print(
        f"Pnyx is serving on [bold]http://{host}:{port}/[/] (API docs at http://{host}:{port}/api/docs)"
    )
    uvicorn.run("pnyx.server:create_app", factory=True, host=host, port=port, log_level="info")


@app.command()
def demo(
    accelerators: int = typer.Option(100_000, help="Size of the generated facility"),
    seed: int = typer.Option(0),
) -> None:
    """Seed a demo facility (member states, users of every role, inventory) and log all of it."""
    with platform() as p, console().status("seeding the demo facility…"):
        result = seed_demo(p, accelerators=accelerators, seed=seed)
        size = p.log.size()
    if not result.seeded:
        console().print(
            f"the facility already has member states; nothing seeded ({result.log_entries} pending "
            "events logged)"
        )
        return
    console().print(f"seeded the demo facility; the log holds {size} entries")
    console().print("demo API tokens (valid 30 days, shown once):", style="bold")
    for name, issued in result.tokens:
        console().print(f"  {name:<10} {issued.secret}", highlight=False)
    for project, pi, runs in result.projects:
        state = "confirmed: its jobs run" if runs else "waits for a safety officer: its jobs are held"
        console().print(f"project {project} (PI {pi}; {state})", highlight=False)
    if result.dataset:
        console().print(
            f"public dataset {DEMO_DATASET}, version {result.dataset}", highlight=False, soft_wrap=True
        )


def run() -> None:
    """Entry point: domain errors become one red line and an exit code, never a traceback."""
    try:
        app()
    except FacilityError as exc:
        _fail(exc.code, exc.message, EXIT_CODES[exc.kind])
    except httpx.HTTPError as exc:  # pnyx log verify and other clients of a remote server
        _fail("unreachable", f"{exc.request.url if _has_request(exc) else ''} {exc}".strip(), 6)
    except sa.exc.OperationalError as exc:
        _fail("database_unavailable", f"cannot use the database: {str(exc.orig).strip().splitlines()[0]}", 6)
    except OSError as exc:
        _fail("os_error", f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), 2)


def _fail(code: str, message: str, exit_code: int) -> None:
    errors().print(f"[red]error[/] ({code}): {message}", highlight=False)
    sys.exit(exit_code)


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 (raises when the error has no request)
    except RuntimeError:
        return False
    return True
