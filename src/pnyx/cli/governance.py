"""pnyx member-state."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import typer
from rich.table import Table

from pnyx.cli.context import console, platform
from pnyx.core.errors import InvalidInput
from pnyx.governance.rules import contribution_shares

app = typer.Typer(help="Member states and their contributions.", no_args_is_help=True)


@app.command("add")
def add(
    code: str,
    name: str,
    contribution: str = typer.Option(..., help="Annual contribution, e.g. 125000000.00"),
    population: int = typer.Option(..., help="Population (for population-weighted votes)"),
    currency: str = typer.Option("EUR"),
) -> None:
    """Admit a member state."""
    with platform() as p:
        state = p.member_states.admit(
            code=code,
            name=name,
            contribution_minor_units=_minor_units(contribution),
            population=population,
            currency=currency,
        )
    console().print(f"admitted {state.name} ({state.code}), contribution {state.contribution}")


@app.command("list")
def list_states() -> None:
    """Member states with their contribution shares."""
    with platform() as p:
        states = p.member_states.list()
    shares = contribution_shares(states)
    table = Table("code", "name", "contribution", "share", "population")
    for s in states:
        table.add_row(
            s.code, s.name, str(s.contribution), f"{shares[s.code] * 100:.1f}%", f"{s.population:,}"
        )
    console().print(table)


MAX_CONTRIBUTION = Decimal(10) ** 15  # beyond any state's budget; keeps the arithmetic exact


def _minor_units(text: str) -> int:
    try:
        amount = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise InvalidInput(f"not an amount: {text!r}", field="contribution") from None
    if not amount.is_finite() or not 0 <= amount <= MAX_CONTRIBUTION:
        raise InvalidInput(
            f"a contribution is an amount from 0 to {MAX_CONTRIBUTION:,}", field="contribution"
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("a contribution has at most two decimals", field="contribution")
    return int(amount * 100)
