"""pnyx inventory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from pnyx.cli.context import console, platform
from pnyx.core.errors import InvalidInput
from pnyx.inventory.model import ImportReport, InventorySource, InventorySummary
from pnyx.inventory.rules import generate_facility, summarise
from pnyx.inventory.service import export_facility
from pnyx.wiring import inventory_reader

app = typer.Typer(
    help="The facility's hardware: import it from the engine, or generate the twin's.", no_args_is_help=True
)
ENGINES = tuple(s.value for s in InventorySource if s is not InventorySource.GENERATED)


@app.command()
def generate(
    accelerators: int = typer.Option(100_000, "--accelerators", "-n", help="Exact number, multiple of 4"),
    seed: int = typer.Option(0, help="Same seed, same facility"),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing inventory"),
    out: Path | None = typer.Option(
        None,
        help="Write the facility as JSON (for `pnyx simulate --inventory`) and store nothing; "
        "with --replace, store it as the inventory too",
    ),
) -> None:
    """Generate a realistic facility spread over the member states' sites, and store it as the inventory
    (or, with --out alone, only write it to a file)."""
    if out is not None and not replace:
        export_only(accelerators, seed, out)
        return
    with platform() as p, console().status(f"generating and storing {accelerators:,} accelerators…"):
        summary = p.inventory.generate(accelerators, seed=seed, replace=replace)
        if out is not None:
            export_facility(p.inventory.facility(), out)
    show_summary(summary)
    if out is not None:
        console().print(f"written to {out}")


def export_only(accelerators: int, seed: int, out: Path) -> None:
    """The generated facility written to OUT; the database is neither read nor changed."""
    facility = generate_facility(accelerators, seed=seed)
    export_facility(facility, out)
    show_summary(summarise(facility.sites, facility.islands, facility.nodes))
    console().print(
        f"written to {out}; the stored inventory is unchanged (add --replace to store this one)",
        highlight=False,
    )


@app.command("import")
def import_(
    source: str = typer.Option(..., "--from", help=f"The engine: {', '.join(ENGINES)}"),
    replace: bool = typer.Option(
        False, "--replace", help="Replace another source's inventory (the generated twin, another engine)"
    ),
) -> None:
    """Import the engine's nodes, accelerators, partitions and features as the inventory.

    Mapped by the engine's section of PNYX_ENGINES_FILE; a re-import reconciles (nodes added,
    drained, gone), in one transaction, each change logged."""
    if source not in ENGINES:
        raise InvalidInput(f"--from is one of {', '.join(ENGINES)}, got {source!r}", field="from")
    with platform() as p, console().status(f"reading {source}'s nodes…"):
        read = inventory_reader(p, InventorySource(source))
        report = p.inventory.import_from(read(), replace=replace)
    show_import(report)


def show_import(r: ImportReport) -> None:
    console().print(
        f"imported from {r.source}: {len(r.added)} nodes added, {len(r.changed)} changed, "
        f"{len(r.removed)} removed, {r.unchanged} unchanged, {len(r.skipped)} skipped"
    )
    for change in r.changed:
        what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in sorted(change.changes.items()))
        console().print(f"  changed {change.node_id}: {what}", highlight=False, markup=False)
    for node_id in r.removed:
        console().print(f"  removed {node_id}", highlight=False, markup=False)
    for skipped in r.skipped:
        console().print(f"  skipped {skipped.name}: {skipped.reason}", highlight=False, markup=False)
    show_summary(r.summary)


@app.command()
def show() -> None:
    """Summarise the inventory: by site and type, by member state, by safety level, NVLink domains."""
    with platform() as p:
        summary = p.inventory.summary()
    show_summary(summary)


def show_summary(s: InventorySummary) -> None:
    console().print(
        f"[bold]{s.accelerators:,}[/] accelerators in {s.nodes:,} nodes, {s.racks:,} racks, "
        f"{s.islands} network islands, {s.sites} sites"
    )
    types = list(s.by_type)
    table = Table("site", *types, "total", title="Accelerators by site and type")
    for site, counts in s.by_site.items():
        table.add_row(site, *(f"{counts.get(t, 0):,}" for t in types), f"{sum(counts.values()):,}")
    table.add_row("[bold]total", *(f"[bold]{s.by_type[t]:,}" for t in types), f"[bold]{s.accelerators:,}")
    console().print(table)
    console().print("by member state: " + ", ".join(f"{k} {v:,}" for k, v in s.by_member_state.items()))
    console().print(
        "by safety certification: " + ", ".join(f"{k} {v:,}" for k, v in s.by_safety_level.items())
    )
    console().print(
        "NVLink domains: " + ", ".join(f"{n:,} of {size}" for size, n in s.nvlink_domains.items())
    )
