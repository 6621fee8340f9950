"""pnyx report: usage against entitlements."""

from __future__ import annotations

import typer
from rich.table import Table

from pnyx.accounting.model import Dimension
from pnyx.cli.context import console, platform

app = typer.Typer(help="Reports: usage against entitlements.", no_args_is_help=True)


@app.command()
def usage(
    period: str = typer.Option("last-30d", help="2026-11, 2026-Q4, 2026, 2026-11-01..2026-11-30, last-30d"),
    by: Dimension = typer.Option(Dimension.MEMBER_STATE, help="Group by"),
) -> None:
    """Accelerator-hours used over a period; by member state, also against each state's entitlement."""
    with platform() as p:
        span = p.accounting.period(period)
        groups = p.accounting.usage(span, by)
        states = p.accounting.member_states(span) if by is Dimension.MEMBER_STATE else []
    title = f"Usage by {by.value}, {span.label} ({span.start:%Y-%m-%d} to {span.end:%Y-%m-%d})"
    if states:
        table = Table(
            "state",
            "entitled share",
            "entitled h",
            "used h",
            "used share",
            "gap (pp)",
            "shortfall (-) / excess (+) h",
            title=title,
        )
        for s in states:
            table.add_row(
                s.member_state,
                f"{s.entitled_share * 100:.1f}%",
                f"{s.entitled_hours:,.0f}",
                f"{s.used_hours:,.0f}",
                f"{s.used_share * 100:.1f}%",
                f"{s.share_gap_points:+.1f}",
                f"{s.difference_hours:+,.0f}",
            )
    else:
        table = Table(by.value, "accelerator-hours", "H100-equivalent h", "energy kWh", "jobs", title=title)
        for g in groups:
            table.add_row(
                g.key,
                f"{g.accelerator_hours:,.1f}",
                f"{g.h100_equivalent_hours:,.1f}",
                f"{g.energy_kwh:,.0f}",
                str(g.jobs),
            )
    console().print(table)
