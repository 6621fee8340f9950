"""pnyx audit: checks anyone can run on the public log alone (no database, no token)."""

from __future__ import annotations

from pathlib import Path

import httpx
import typer

from pnyx.audit.entries import DirectoryTiles, Tiles, log_entries
from pnyx.audit.replay import ReplayReport, replay
from pnyx.audit.version import scheduler_version
from pnyx.cli.context import console, errors
from pnyx.cli.log import HttpTiles, _key_text
from pnyx.core.errors import InvalidInput
from pnyx.transparency.cosignature import CosignatureVerifier
from pnyx.transparency.monitor import AuditReport, audit
from pnyx.transparency.note import NoteVerifier

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
) -> None:
    """Verify the log, rebuild every dispatch cycle's inputs from its entries, decide each cycle again
    with the same scheduler and report the first record that differs; check the invariants (labels,
    co-tenancy from L2, whole gangs) and sum each member state's use against its entitlement."""
    witnesses = [CosignatureVerifier.from_vkey(_key_text(w)) for w in witness]
    needed = len(witnesses) if min_witnesses is None else min_witnesses
    if needed > len(witnesses):
        raise InvalidInput(
            f"--min-witnesses {needed} needs at least as many --witness keys (got {len(witnesses)})",
            field="min_witnesses",
        )
    verifier = NoteVerifier.from_vkey(_key_text(key))
    known = {scheduler_version(), *scheduler}
    if Path(url).is_dir():
        report = _run(DirectoryTiles(Path(url)), verifier, witnesses, needed, known)
    else:
        with httpx.Client(base_url=url.rstrip("/") + "/", timeout=30.0) as client:
            report = _run(HttpTiles(client), verifier, witnesses, needed, known)
    _print(report)


def _run(
    source: Tiles, verifier: NoteVerifier, witnesses: list[CosignatureVerifier], needed: int, known: set[str]
) -> ReplayReport:
    checked = audit(source, verifier, witnesses=witnesses, min_witnesses=needed)
    if not checked.ok:
        _log_failed(checked)
    assert checked.checkpoint is not None
    return replay(log_entries(source, checked.checkpoint.size), known)


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
    """Each member state's share of the recorded use against its share of the entitlements."""
    used, entitled = sum(report.used.values()), sum(report.entitled.values())
    if used <= 0 or entitled <= 0:
        return
    console().print("member state: share of use / share of entitlement (over the records)")
    for member in sorted(set(report.used) | set(report.entitled)):
        use, right = report.used.get(member, 0.0) / used, report.entitled.get(member, 0.0) / entitled
        console().print(f"  {member}: {use:.1%} / {right:.1%}")
