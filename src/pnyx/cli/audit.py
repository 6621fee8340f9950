"""pnyx audit: checks anyone can run on the public log alone (no database, no token)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import typer

from pnyx.audit import bundle
from pnyx.audit.entries import log_entries
from pnyx.audit.replay import ReplayReport, replay
from pnyx.audit.standalone import GAP_HELP, WINDOW_HELP, fairness_options, summary_lines
from pnyx.audit.version import scheduler_version
from pnyx.cli.context import console, errors
from pnyx.cli.log import MAX_SIZE_OPTION, TIMEOUT_OPTION
from pnyx.cli.log_source import Reading, checked, log_keys, opened
from pnyx.scheduler.fairshare import DAY_S
from pnyx.transparency.monitor import AuditReport

app = typer.Typer(help="Audit the facility from its public log alone.", no_args_is_help=True)


@app.command(name="replay")
def replay_command(
    url: str = typer.Argument(..., help="The log prefix (http://HOST/log) or a directory of its tiles"),
    key: str = typer.Option(..., help="The log's verifier key (or a file holding it)"),
    witness: list[str] = typer.Option(
        [], "--witness", help="A witness's cosignature verifier key (or a file holding it); repeatable"
    ),
    min_witnesses: int | None = typer.Option(
        None, "--min-witnesses", min=0, help="Known witnesses that must have cosigned (default: all given)"
    ),
    scheduler: list[str] = typer.Option(
        [], "--scheduler", help="Another scheduler version to accept (default: this installation's only)"
    ),
    max_size: int = MAX_SIZE_OPTION,
    timeout_s: float = TIMEOUT_OPTION,
    window_s: float = typer.Option(DAY_S, "--window", help=WINDOW_HELP),
    max_share_gap: float | None = typer.Option(None, "--max-share-gap", help=GAP_HELP),
) -> None:
    """Verify the log, rebuild every dispatch cycle's inputs from its entries, decide each cycle again
    with the same scheduler and report the first record that differs; check the invariants (labels,
    co-tenancy from L2, whole gangs) and sum each member state's use against its entitlement."""
    keys, reading = log_keys(key, witness, min_witnesses), Reading(max_size=max_size, timeout_s=timeout_s)
    window, gap = fairness_options(window_s, max_share_gap)
    known = {scheduler_version(), *scheduler}
    with opened(url, reading, named="URL", field="url") as source:
        verified = checked(source, keys, reading)
        if not verified.ok:
            _log_failed(verified)
        report = replay(log_entries(source, verified.leaf_hashes), known, window_s=window, max_share_gap=gap)
    _print(report)


def _log_failed(report: AuditReport) -> None:
    for problem in report.problems:
        where = f"index {problem.index}: " if problem.index is not None else ""
        errors().print(f"[red]✗[/] {where}{problem.message}")
    errors().print("[red bold]FAILED[/]: the log itself does not verify; nothing replayed")
    raise typer.Exit(1)


def _print(report: ReplayReport) -> None:
    _print_usage(report)
    if not report.ok:
        for finding in report.problems:
            errors().print(f"[red]✗[/] index {finding.index}: {finding.message}")
        first = report.problems[0]
        errors().print(
            f"[red bold]FAILED[/]: {len(report.problems)} problem(s) in {report.cycles} decision records; "
            f"first at index {first.index}"
        )
        raise typer.Exit(1)
    console().print(
        f"[green bold]OK[/]: {report.cycles} decision records in {report.entries:,} entries; every cycle "
        f"decided again in agreement ({report.agreed}); labels, co-tenancy and whole gangs hold"
    )


def _print_usage(report: ReplayReport) -> None:
    for line in summary_lines(report):
        console().print(line, markup=False)


@app.command(name="bundle")
def bundle_command(
    out: Path = typer.Option(Path("pnyx-audit.pyz"), "--out", help="The zipapp to write"),
) -> None:
    """Write the standalone auditor: a Python zipapp that runs 'pnyx audit replay' (same arguments and
    exit codes) with the standard library alone: python3 -I -S pnyx-audit.pyz URL --key KEY. It carries
    this installation's scheduler byte for byte, so it accepts the records this version decided."""
    made = bundle.plan()
    bundle.write(made, out)
    console().print(
        f"wrote {out}: {len(made.modules)} modules copied byte for byte, sha256 "
        f"{hashlib.sha256(out.read_bytes()).hexdigest()}\nscheduler version {scheduler_version()}",
        markup=False,
    )
    for vendored in made.vendored:
        console().print(f"vendored: {vendored}", markup=False)
