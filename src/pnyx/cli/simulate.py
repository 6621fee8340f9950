"""pnyx simulate: replay a trace (or a synthetic workload) on the digital twin, compare policies."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pnyx.cli import context
from pnyx.cli.log import MAX_SIZE_OPTION, TIMEOUT_OPTION
from pnyx.cli.log_source import Reading, log_keys
from pnyx.cli.sim_log import read_log
from pnyx.cli.sim_state import FacilityState, parse_shares, read_state, simulate_state
from pnyx.core.errors import InvalidInput
from pnyx.inventory.rules import generate_facility
from pnyx.sim.engine import SimResult
from pnyx.sim.experiment import NO_FAILURES, Study, mix_named, policy_list, run_study, write_outputs
from pnyx.sim.failures import FailureModel

app = typer.Typer(help="The digital twin: replay a workload against the real scheduler.")


@app.command()
def simulate(
    trace: str = typer.Option("synthetic", help="CSV trace file, or 'synthetic'"),
    trace_format: str = typer.Option("csv", "--format", help="Trace format: csv, philly, pai, helios"),
    accelerators: int = typer.Option(100_000, help="Size of the generated facility"),
    inventory: Path | None = typer.Option(None, help="Inventory JSON from `pnyx inventory generate --out`"),
    policy: str = typer.Option("all", help="full, fifo-backfill, fifo, or all (compared in one report)"),
    days: float = typer.Option(30.0, help="Simulated days"),
    seed: int = typer.Option(0, help="Same inputs and seed, same metrics"),
    load: float = typer.Option(1.1, help="Synthetic offered load (work / capacity)"),
    failures: bool = typer.Option(True, "--failures/--no-failures", help="Llama 3 failure rate"),
    mix: str = typer.Option("default", help="Synthetic size mix: default, or frontier (large gangs)"),
    from_db: bool = typer.Option(
        False, "--from-db", help="Start from the facility's own state: inventory, shares, queue, usage"
    ),
    from_log: str | None = typer.Option(
        None,
        "--from-log",
        help="Start from the last decision record of the facility's public log (URL http://HOST/log "
        "or a directory of its tiles), verified as `pnyx audit replay` verifies it",
    ),
    key: str | None = typer.Option(
        None, help="With --from-log: the log's verifier key (or a file holding it)"
    ),
    witness: list[str] = typer.Option(
        [], "--witness", help="With --from-log: a witness's cosignature verifier key (or file); repeatable"
    ),
    min_witnesses: int | None = typer.Option(
        None,
        "--min-witnesses",
        min=0,
        help="With --from-log: witnesses that must have cosigned (default: all)",
    ),
    max_size: int = MAX_SIZE_OPTION,
    timeout_s: float = TIMEOUT_OPTION,
    shares: str | None = typer.Option(
        None, help="With --from-db or --from-log: entitlements to try, DE=0.3,FR=0.2,..."
    ),
    out: Path = typer.Option(..., help="Directory for metrics.json and report.html"),
) -> None:
    """Simulate the facility and write DIR/metrics.json and DIR/report.html."""
    if not 0 < days <= 3650:
        raise InvalidInput(f"--days must be more than 0 and at most 3650, got {days:g}", field="days")
    if load <= 0:
        raise InvalidInput(f"--load must be positive, got {load:g}", field="load")
    model = FailureModel() if failures else NO_FAILURES
    reading = Reading(max_size=max_size, timeout_s=timeout_s)
    own = _own_state(from_db, from_log, key, witness, min_witnesses, reading)
    if shares is not None and own is None:
        raise InvalidInput(
            "--shares asks about the facility's own queue: give --from-db or --from-log too", field="shares"
        )
    if own is not None:
        members = parse_shares(shares) if shares is not None else None
        state = own()
        for note in state.left_out:  # the dispatcher leaves them out too
            context.errors().print(f"[yellow]left out[/]: {note}")
        results = simulate_state(state, policy_list(policy), days=days, failures=model, members=members)
        _report(results, out, f"Pnyx simulation: the facility's own state, {days:g} days")
        return
    mix_named(mix)  # refuses an unknown mix before any progress bar
    if inventory is None:
        generate_facility(accelerators, seed=seed)  # refuses a bad size before any progress bar
    console = Console()
    study = Study(
        trace=trace,
        trace_format=trace_format,
        accelerators=accelerators,
        inventory=inventory,
        policies=policy_list(policy),
        days=days,
        seed=seed,
        load=load,
        mix=mix,
        failures=model,
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[day]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        tasks = {p: progress.add_task(p, total=days * 86_400, day="day 0") for p in study.policies}

        def advance(name: str, at: float) -> None:
            progress.update(tasks[name], completed=at, day=f"day {at / 86_400:.1f}")

        results = run_study(study, advance)
    _report(results, out, f"Pnyx simulation: {trace}, {days:g} days")


def _own_state(
    from_db: bool,
    from_log: str | None,
    key: str | None,
    witness: list[str],
    min_witnesses: int | None,
    reading: Reading,
) -> Callable[[], FacilityState] | None:
    """How to read the facility's own state (None: a trace or a synthetic workload instead)."""
    if from_log is None:
        if key is not None or witness or min_witnesses is not None:
            raise InvalidInput("--key and --witness verify a log: give --from-log too", field="key")
        return _from_db if from_db else None
    if from_db:
        raise InvalidInput("give --from-db or --from-log, not both", field="from_log")
    if key is None:
        raise InvalidInput("--from-log needs the log's verifier key: give --key", field="key")
    keys = log_keys(key, witness, min_witnesses)
    return lambda: read_log(from_log, keys, reading)


def _from_db() -> FacilityState:
    with context.platform() as p:
        return read_state(p, p.clock.now())


def _report(results: list[SimResult], out: Path, title: str) -> None:
    write_outputs(results, out, title=title)
    console = Console()
    table = Table("metric", *(r.policy for r in results))
    for key in ("utilization", "goodput", "jct_mean_s", "wait_mean_s", "share_deviation_max", "preemptions"):
        table.add_row(key, *(f"{r.metrics[key]:,.4g}" for r in results))
    console.print(table)
    console.print(f"written {out / 'metrics.json'} and {out / 'report.html'}")
