"""pnyx eval: show, list and compare evaluation results, and reproduce one (auditors and operators).

Commands act as the local console (the facility's operator) unless ``--as USER`` names a user.
``reproduce RESULT --project P`` submits the job that re-runs the result in project ``P`` (one you
belong to; ``PNYX_AUDIT_PROJECT`` names it by default), and with ``--wait`` follows it until its own
result is taken in (a dispatcher must be running); ``--job JOB`` follows a reproduction submitted
before. It exits 0 when the reproduction agrees within the declared tolerance (or, without
``--wait``, once it is submitted or still running), 1 when it differs (each differing metric is named
with both values and the tolerance), 2 on an error.
"""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.table import Table

from pnyx.cli.context import console, errors, full_id, inert, platform
from pnyx.core.errors import FacilityError
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.jobs.model import OPEN_JOB_STATUSES, JobStatus
from pnyx.registry.evaluation_checks import Comparison
from pnyx.registry.evaluation_records import StoredResult
from pnyx.registry.evaluation_reproduce import Reproduction
from pnyx.wiring import Platform

app = typer.Typer(help="Evaluations: results, comparisons, reproductions.", no_args_is_help=True)
AS = typer.Option(None, "--as", help="Act as this user; default: the local console (operator)")
JSON = typer.Option(False, "--json", help="Print JSON")
RESULT = typer.Argument(..., help="An evaluation result (eval_...)")
POLL_S = 1.0
TAKE_IN_S = 120.0  # after the job completes, how long its result may take to be taken in
AGREE, DIFFER, ERROR = 0, 1, 2


def _as(p: Platform, user: str | None) -> Principal:
    return LOCAL_CONSOLE if user is None else p.identity.principal_of(user)


@app.command("show")
def show(result_id: str = RESULT, user: str | None = AS, as_json: bool = JSON) -> None:
    """A result: its pins, config, metrics, tolerance, and the facility's signed note."""
    with platform() as p:
        stored = p.evaluations.result(_as(p, user), result_id)
    if as_json:
        typer.echo(json.dumps(_json(stored), indent=1))
        return
    r = stored.parsed
    fields = {
        "result": stored.id, "job": f"{stored.job_id} (attempt {stored.attempt})", "model": r.model,
        "weights": r.weights_sha256, "eval set": r.eval_set, "harness": r.harness_digest,
        "config": json.dumps(dict(r.config), sort_keys=True), "config hash": r.config_hash,
    }  # fmt: skip
    for key, text in fields.items():
        console().print(f"[bold]{key:>11}[/] {inert(text)}", highlight=False)
    table = Table("metric", "value", "tolerance")
    for name, value in r.metrics:
        table.add_row(name, repr(value), repr(r.allowed(name)))
    console().print(table)
    typer.echo(inert(stored.signature, markup=False), nl=False)


@app.command("list")
def list_results(
    model: str = typer.Option(..., "--model", help="A model version"),
    user: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """A model version's results, newest first."""
    with platform() as p:
        found = p.evaluations.results(_as(p, user), model)
    if as_json:
        typer.echo(json.dumps([_json(s) for s in found], indent=1))
        return
    table = Table(full_id("result"), "eval set", "job", "metrics", "created")
    for s in found:
        r = s.parsed
        metrics = ", ".join(f"{name} {value:.6g}" for name, value in r.metrics)
        table.add_row(s.id, r.eval_set[:16], s.job_id, metrics, s.created_at.strftime("%Y-%m-%d %H:%M"))
    console().print(table)


@app.command("compare")
def compare(
    a: str = typer.Argument(..., help="The published result"),
    b: str = typer.Argument(..., help="The result compared with it"),
    user: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Whether B agrees with A within A's declared tolerance (exit 0), or what differs (exit 1)."""
    with platform() as p:
        found = p.evaluations.comparison(_as(p, user), a, b)
    _report(a, b, found, as_json)
    raise typer.Exit(AGREE if found.agree else DIFFER)


@app.command("reproduce")
def reproduce(
    result_id: str = RESULT,
    project: str | None = typer.Option(
        None, "--project", "-p", envvar="PNYX_AUDIT_PROJECT", help="The project the job runs in"
    ),
    job: str | None = typer.Option(None, "--job", help="Follow this reproduction instead of submitting one"),
    wait: bool = typer.Option(False, "--wait", help="Wait for the result (needs a running dispatcher)"),
    user: str | None = AS,
    as_json: bool = JSON,
) -> None:
    """Re-run a published evaluation and compare: exit 0 agreement, 1 a difference, 2 an error."""
    try:
        code = _reproduce(result_id, project, job, wait, user, as_json)
    except FacilityError as exc:
        errors().print(f"[red]error[/] ({exc.code}): {inert(exc.message)}", highlight=False)
        code = ERROR
    raise typer.Exit(code)


def _reproduce(
    result_id: str, project: str | None, job_id: str | None, wait: bool, user: str | None, as_json: bool
) -> int:
    with platform() as p:
        who = _as(p, user)
        if job_id is None:
            job_id = p.reproductions.request(who, result_id, project=project).id
            console().print(f"submitted {job_id} to reproduce {result_id}", highlight=False)
        found = (
            _follow(p, who, result_id, job_id)
            if wait
            else p.reproductions.reproduction(who, result_id, job_id)
        )
    return _outcome(found, as_json)


def _follow(p: Platform, who: Principal, result_id: str, job_id: str) -> Reproduction:
    """The reproduction once its result is taken in (or refused), its job failed, or it timed out."""
    ended_at: float | None = None
    with console().status(f"waiting for {job_id}…") as spinner:
        while True:
            found = p.reproductions.reproduction(who, result_id, job_id)
            spinner.update(f"{job_id}: {found.job.status}")
            if found.comparison is not None or found.refusal is not None:
                return found
            if found.job.status not in OPEN_JOB_STATUSES:
                ended_at = ended_at or time.monotonic()
                if found.job.status is not JobStatus.COMPLETED or time.monotonic() - ended_at > TAKE_IN_S:
                    return found
            time.sleep(POLL_S)


def _outcome(found: Reproduction, as_json: bool) -> int:
    job = found.job
    if found.refusal is not None:
        errors().print(f"[red]error[/]: the reproduction's result was refused: {inert(found.refusal)}")
        return ERROR
    if found.comparison is None or found.reproduced is None:
        if job.status in OPEN_JOB_STATUSES:
            console().print(
                f"{job.id} is {job.status}: follow it with --job {job.id} --wait", highlight=False
            )
            return AGREE  # submitted, or still running: nothing differs yet
        errors().print(f"[red]error[/]: {job.id} ended {job.status} with no evaluation result taken in")
        return ERROR
    _report(found.published.id, found.reproduced.id, found.comparison, as_json)
    return AGREE if found.comparison.agree else DIFFER


def _report(a: str, b: str, found: Comparison, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_comparison_json(a, b, found), indent=1))
        return
    if found.agree:
        console().print(f"{b} agrees with {a} within the declared tolerance", highlight=False)
        return
    console().print(f"{b} differs from {a}:", highlight=False)
    for line in found.differences:
        console().print(f"  {inert(line)}", highlight=False)
    table = Table("metric", "published", "reproduced", "difference", "tolerance")
    for g in found.metrics:
        table.add_row(g.name, repr(g.published), repr(g.reproduced), _text(g.difference), repr(g.tolerance))
    if found.metrics:
        console().print(table)


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _json(s: StoredResult) -> dict[str, Any]:
    return {"id": s.id, "job_id": s.job_id, "attempt": s.attempt, "result": json.loads(s.result),
            "canonical": s.result.decode("utf-8"), "signature": s.signature,
            "created_at": s.created_at.isoformat()}  # fmt: skip


def _comparison_json(a: str, b: str, c: Comparison) -> dict[str, Any]:
    metrics = [
        {"name": g.name, "published": g.published, "reproduced": g.reproduced, "tolerance": g.tolerance,
         "difference": g.difference}
        for g in c.metrics
    ]  # fmt: skip
    return {"a": a, "b": b, "agree": c.agree, "differences": list(c.differences), "metrics": metrics}
