"""pnyx job / pnyx dispatch."""

from __future__ import annotations

import json
import threading
import time

import typer
from rich.table import Table

from pnyx.cli.context import console, inert, platform
from pnyx.cli.job_view import machine, readable, when
from pnyx.dispatch.runner import build_dispatcher
from pnyx.identity.model import Principal
from pnyx.jobs.model import OPEN_JOB_STATUSES, JobRecord, JobStatus
from pnyx.jobs.service import Submission
from pnyx.safety.model import SafetyLevel
from pnyx.scheduler.admission import remedies_named
from pnyx.scheduler.model import PriorityClass
from pnyx.wiring import Platform

CLI_REMEDIES = {"allow_cross_site": "submit it again with --allow-cross-site (see --help for its cost)"}

jobs = typer.Typer(help="Jobs: submit, list, show, logs, artifacts, cancel.", no_args_is_help=True)
dispatch = typer.Typer(help="The dispatch loop that runs jobs on the engines.", no_args_is_help=True)


def _as(p: Platform, user: str) -> Principal:
    """The CLI acts on the facility's own machine, for the named user."""
    return p.identity.principal_of(user)


@jobs.command("submit")
def submit(
    command: list[str] = typer.Argument(None, help="The command to run (after --)"),
    project: str = typer.Option(..., "--project", "-p"),
    user: str = typer.Option(..., "--as", help="Submit as this user"),
    accelerators: int = typer.Option(1, "--accelerators", "-n"),
    accelerator_type: str | None = typer.Option(None, "--type", help="e.g. H100-SXM; default any"),
    estimate: int = typer.Option(3600, "--estimate", help="Runtime estimate (and time limit), seconds"),
    checkpoint: int = typer.Option(0, "--checkpoint", help="Checkpoint interval, seconds"),
    image: str | None = typer.Option(None, help="Container image reference"),
    label: int | None = typer.Option(
        None, help="Safety level 1-4 (default: the project's level; below it is refused)"
    ),
    priority: PriorityClass = typer.Option(PriorityClass.ENTITLED, help="urgent is for operators"),
    engine: str | None = typer.Option(None, help="local | slurm | ray | kubernetes"),
    allow_cross_site: bool = typer.Option(
        False,
        "--allow-cross-site",
        help="Let the gang span sites, for more accelerators than one site holds. The cost: its nodes "
        "talk over the slower links between sites (collectives, and so the run, slow down), and it may "
        "wait longer for room at several sites at once",
    ),
    name: str = typer.Option("job"),
    wait: bool = typer.Option(False, "--wait", help="Wait until it ends (needs a running dispatcher)"),
    datasets: list[str] = typer.Option(
        [], "--dataset", help="A dataset version it reads, at /inputs/VERSION ($PNYX_INPUTS); repeat for more"
    ),
    models: list[str] = typer.Option(
        [], "--model", help="A model version it reads, at /inputs/VERSION (an evaluation's); repeat for more"
    ),
    workspace_objects: list[str] = typer.Option(
        [],
        "--workspace-object",
        help="An object of the project's SME workspace it reads (decrypted in its sandbox only; the job "
        "awaits keys until its SME runs pnyx sme authorize JOB); repeat for more",
    ),
) -> None:
    """Submit a job: pnyx job submit -p PROJECT --as USER -n 8 -- python train.py"""
    if label is not None and label not in (1, 2, 3, 4):
        raise typer.BadParameter("the safety level is 1, 2, 3 or 4", param_hint="--label")
    with platform() as p, remedies_named(CLI_REMEDIES):
        job = p.jobs.submit(
            _as(p, user),
            Submission(
                name=name,
                project=project,
                accelerators=accelerators,
                estimate_s=estimate,
                accelerator_type=accelerator_type,
                command=tuple(command or ()),
                image=image,
                checkpoint_s=checkpoint,
                label=None if label is None else SafetyLevel(label),
                priority_class=priority,
                engine=engine,
                allow_cross_site=allow_cross_site,
                datasets=tuple(datasets),
                models=tuple(models),
                workspace_objects=tuple(workspace_objects),
            ),
        )
        said = f"({job.status}, {inert(str(job.label))}); {inert(job.reason)}".rstrip("; ")
        console().print(f"submitted [bold]{job.id}[/] {said}", highlight=False)
        if wait:
            job = _wait(p, user, job.id)
            console().print(f"{job.id}: {job.status} (exit {job.exit_code}) {job.reason}")
            if job.status is not JobStatus.COMPLETED:
                raise typer.Exit(1)


def _wait(p: Platform, user: str, job_id: str) -> JobRecord:
    with console().status(f"waiting for {job_id}…") as spinner:
        while True:
            job = p.jobs.get(_as(p, user), job_id)
            spinner.update(f"{job_id}: {job.status}")
            if job.status not in OPEN_JOB_STATUSES:
                return job
            time.sleep(0.5)


@jobs.command("list")
def list_jobs(
    user: str = typer.Option(..., "--as", help="Act as this user"),
    status: JobStatus | None = typer.Option(None),
    limit: int = typer.Option(50, help="At most this many"),
    as_json: bool = typer.Option(False, "--json", help="The machine form: the API's records, as JSON"),
) -> None:
    """List jobs (your own; operators, auditors and safety officers see all); --status held_for_safety
    lists those waiting for an officer to confirm their project's level, --status awaiting_keys the SME
    workspace jobs waiting for their SME's authorisation."""
    with platform() as p:
        found = p.jobs.search(_as(p, user), status=status, limit=limit)
    if as_json:
        typer.echo(json.dumps([machine(j) for j in found], indent=2))
        return
    table = Table(
        "id", "name", "project", "user", "status", "label", "accelerators", "engine", "submitted (UTC)"
    )
    for j in found:
        table.add_row(
            j.id,
            inert(j.name),
            inert(j.project),
            inert(j.user),
            j.status.value,
            inert(str(j.label)),
            str(j.accelerators),
            j.engine,
            when(j.submitted_at),
        )
    console().print(table)


@jobs.command("show")
def show(
    job_id: str,
    user: str = typer.Option(..., "--as", help="Act as this user"),
    as_json: bool = typer.Option(False, "--json", help="The machine form: the API's record, as JSON"),
) -> None:
    """Show a job: its state, placement, times (UTC), durations, exit code and the versions it reads."""
    with platform() as p:
        j = p.jobs.get(_as(p, user), job_id)
    if as_json:
        typer.echo(json.dumps(machine(j), indent=2))  # ASCII: what a job wrote cannot drive the terminal
        return
    for name, value in readable(j):
        console().print(f"[bold]{name:>14}[/] {inert(value)}", highlight=False)


@jobs.command("logs")
def logs(
    job_id: str,
    user: str = typer.Option(..., "--as", help="Act as this user"),
    tail: int = typer.Option(200, help="How many of the last lines to print"),
) -> None:
    """Print the last lines of a job's log; control characters are shown as escapes."""
    with platform() as p:
        text = p.jobs.logs(_as(p, user), job_id, tail)
    typer.echo(inert(text, markup=False))  # a job's output cannot drive the reader's terminal


@jobs.command("artifacts")
def artifacts(job_id: str, user: str = typer.Option(..., "--as", help="Act as this user")) -> None:
    """A job's outputs by content hash, with their labels: refused unless USER is cleared for them."""
    with platform() as p:
        found = p.jobs.artifacts(_as(p, user), job_id)
    table = Table("attempt", "path", "sha256", "bytes", "label")
    for a in found:
        table.add_row(str(a.attempt), inert(a.path), a.sha256, str(a.size), inert(str(a.label)))
    console().print(table)


@jobs.command("cancel")
def cancel(job_id: str, user: str = typer.Option(..., "--as", help="Act as this user")) -> None:
    """Cancel a job: a queued one at once; a running one is stopped by the dispatcher (logged)."""
    with platform() as p:
        j = p.jobs.cancel(_as(p, user), job_id)
    state = "cancelled" if j.status is JobStatus.CANCELLED else "cancel requested; the dispatcher stops it"
    console().print(f"{j.id}: {state}")


@dispatch.command("run")
def run(
    interval: float = typer.Option(2.0, help="Seconds between cycles"),
    once: bool = typer.Option(False, "--once", help="One cycle, then exit"),
) -> None:
    """Run the dispatch loop (the server runs one too; only one leads at a time)."""
    with platform() as p:
        dispatcher = build_dispatcher(p)
        if once:
            try:
                report = dispatcher.cycle()
                dispatcher.outputs.wait(60)  # outputs are hashed off the dispatch thread
            finally:
                dispatcher.close()
            console().print(report)
            return
        console().print(f"dispatching every {interval} s with executors: {', '.join(sorted(p.executors))}")
        try:
            dispatcher.run(threading.Event(), interval)
        except KeyboardInterrupt:
            console().print("stopped")
