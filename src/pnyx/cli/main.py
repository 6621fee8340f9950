"""The ``pnyx`` command."""

from __future__ import annotations

import sys

import httpx
import sqlalchemy as sa
import typer

from pnyx import __version__
from pnyx.cli import (
    allocation,
    council,
    db,
    governance,
    identity,
    inventory,
    jobs,
    log,
    report,
    review,
    simulate,
)
from pnyx.cli import audit as audit_commands
from pnyx.cli import demo as demo_command
from pnyx.cli import evaluations as evaluation_commands
from pnyx.cli import registry as registry_commands
from pnyx.cli import safety as safety_commands
from pnyx.cli import serve as serve_command
from pnyx.cli import sme as sme_commands
from pnyx.cli import witness as witness_commands
from pnyx.cli.context import errors
from pnyx.core.errors import EXIT_CODES, FacilityError

app = typer.Typer(
    help="Pnyx: operate a publicly funded, internationally governed AI supercomputer.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,  # click's plain help: a flag is shown as a flag (no <bool>), and it pipes cleanly
    context_settings={"max_content_width": 120},
)
app.add_typer(db.app, name="db")
app.add_typer(identity.users, name="user")
app.add_typer(identity.tokens, name="token")
app.add_typer(governance.app, name="member-state")
app.add_typer(council.app, name="council")
app.add_typer(council.policy_app, name="policy")
app.add_typer(inventory.app, name="inventory")
app.add_typer(log.app, name="log")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(allocation.calls, name="call")
app.add_typer(allocation.proposals, name="proposal")
app.add_typer(review.reviews, name="review")
app.add_typer(allocation.awards, name="award")
app.add_typer(report.app, name="report")
app.add_typer(jobs.jobs, name="job")
app.add_typer(jobs.dispatch, name="dispatch")
app.add_typer(safety_commands.app, name="safety")
app.add_typer(registry_commands.app, name="registry")
app.add_typer(evaluation_commands.app, name="eval")
app.add_typer(witness_commands.app, name="witness")
app.add_typer(sme_commands.app, name="sme")
app.command(name="simulate")(simulate.simulate)
app.command(name="serve")(serve_command.serve)
app.command(name="demo")(demo_command.demo)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


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
