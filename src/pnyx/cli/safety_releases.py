"""pnyx safety release / incident / verify-release: release decisions, incidents, offline checks.

An approver signs where their private key lives: ``pnyx safety release sign`` reads the key file
and prints the signature (the key never reaches the server); ``approve --key-file`` does both steps
on the approver's own machine. ``verify-release`` needs no server and no database: a log export and
the officers' public keys.
"""

from __future__ import annotations

from pathlib import Path

import typer

from pnyx.cli.context import console, errors, inert, platform
from pnyx.identity.model import Principal
from pnyx.safety.model import Incident, Release, ReleaseStatus, SubjectKind
from pnyx.safety.verify import (
    ReleaseVerdict,
    load_private_key,
    parse_entries,
    parse_keys,
    parse_label,
    sign_approval,
    verify_release,
)
from pnyx.wiring import Platform

releases = typer.Typer(
    help="Release decisions: k-of-n signed approvals publish a lower label.", no_args_is_help=True
)
incidents = typer.Typer(
    help="Incidents: contain a project or an artifact; two officers lift.", no_args_is_help=True
)
AS = typer.Option(..., "--as", help="The user on whose behalf the command acts")
KEY_FILE = typer.Option(
    None, "--key-file", help="Your Ed25519 private key: PEM, OpenSSH or base64 seed (stays on this machine)"
)


def register(app: typer.Typer) -> None:
    """Add these commands to ``pnyx safety``."""
    app.add_typer(releases, name="release")
    app.add_typer(incidents, name="incident")
    app.command("verify-release")(verify_release_command)


def _as(p: Platform, user: str) -> Principal:
    return p.identity.principal_of(user)


def _print_release(p: Platform, r: Release) -> None:
    console().print(
        f"[bold]{r.id}[/] {r.status.value}: {inert(r.artifact)} {r.sha256[:12]}… "
        f"{r.from_label} -> {r.to_label}, requested by {inert(r.requester)}",
        highlight=False,
    )
    for a in r.approvals:
        console().print(f"  approved by {inert(a.approver)} ({a.role}) with key {a.key_id}", highlight=False)
    for need in p.releases.missing(r) if r.decided_at is None else ():
        console().print(f"  missing: {need}", highlight=False)


# --- releases ------------------------------------------------------------------------------------


@releases.command("request")
def request(
    artifact: str = typer.Argument(..., help="The artifact's id (a job output: <job id>/<path>)"),
    sha256: str = typer.Option(..., "--sha256", help="The content released, as stored"),
    from_label: str = typer.Option(..., "--from", help="Its label as stored, e.g. L2+project:p1"),
    to_label: str = typer.Option(..., "--to", help="The lower label; L1 alone is public"),
    evaluation: list[str] = typer.Option([], "--evaluation", help="An attached evaluation result's name"),
    user: str = AS,
) -> None:
    """Ask to publish an artifact under a lower label (a new record; the original stays). A safety
    officer, or a member of the artifact's project cleared for its label, may ask."""
    with platform() as p:
        release = p.releases.request(
            _as(p, user),
            artifact=artifact,
            sha256=sha256,
            from_label=parse_label(from_label, "from_label"),
            to_label=parse_label(to_label, "to_label"),
            evaluations=evaluation,
        )
        _print_release(p, release)


@releases.command("show")
def show(release_id: str) -> None:
    with platform() as p:
        _print_release(p, p.releases.release(release_id))


@releases.command("list")
def list_releases(
    status: ReleaseStatus | None = typer.Option(None, help="Only releases in this status"),
) -> None:
    with platform() as p:
        for r in p.releases.releases(status=status):
            _print_release(p, r)


@releases.command("message")
def message(release_id: str) -> None:
    """Print the exact text an approver signs (to sign it on another machine)."""
    with platform() as p:
        text = p.releases.message(release_id)
    typer.echo(text.decode(), nl=False)


@releases.command("sign")
def sign(
    release_id: str | None = typer.Argument(None, help="The release (read from this facility's database)"),
    key_file: Path = typer.Option(..., "--key-file", help="Your Ed25519 private key file"),
    message_file: Path | None = typer.Option(
        None, "--message-file", help="The message (`pnyx safety release message`), for an offline machine"
    ),
) -> None:
    """Sign a release's approval message with your private key; prints KEY_ID SIGNATURE."""
    if (release_id is None) == (message_file is None):
        raise typer.BadParameter(
            "give the RELEASE_ID or --message-file, one of them", param_hint="RELEASE_ID"
        )
    key = load_private_key(key_file.read_bytes())
    if message_file is not None:
        text = message_file.read_bytes()
    else:
        with platform() as p:
            text = p.releases.message(release_id or "")
    signed = sign_approval(key, text)
    typer.echo(f"{signed.key_id} {signed.signature}")


@releases.command("approve")
def approve(
    release_id: str,
    user: str = AS,
    key_file: Path | None = KEY_FILE,
    key_id: str | None = typer.Option(None, "--key-id", help="With --signature: a signature made elsewhere"),
    signature: str | None = typer.Option(None, "--signature", help="Base64, from `pnyx safety release sign`"),
) -> None:
    """Approve a release: sign here with --key-file, or give --key-id and --signature made elsewhere."""
    if (key_file is None) == (signature is None) or (signature is None) != (key_id is None):
        raise typer.BadParameter("give --key-file, or --key-id with --signature", param_hint="--key-file")
    with platform() as p:
        if key_file is not None:
            signed = sign_approval(load_private_key(key_file.read_bytes()), p.releases.message(release_id))
            key_id, signature = signed.key_id, signed.signature
        release = p.releases.approve(_as(p, user), release_id, key_id or "", signature or "")
        _print_release(p, release)


@releases.command("attach")
def attach(
    release_id: str,
    user: str = AS,
    evaluation: str | None = typer.Option(None, "--evaluation", help="An evaluation result's name"),
    motion: str | None = typer.Option(
        None, "--motion", help="The council's adopted motion approving this release (approve_release)"
    ),
) -> None:
    """Attach an evaluation result (by name) or the council's adopted motion approving the release."""
    if (evaluation is None) == (motion is None):
        raise typer.BadParameter("give --evaluation or --motion, one of them", param_hint="--evaluation")
    with platform() as p:
        who = _as(p, user)
        if evaluation is not None:
            release = p.releases.attach_evaluation(who, release_id, evaluation)
        else:
            release = p.releases.attach_motion(who, release_id, motion or "")
        _print_release(p, release)


@releases.command("refuse")
def refuse(release_id: str, user: str = AS) -> None:
    """A safety officer refuses a release."""
    with platform() as p:
        _print_release(p, p.releases.refuse(_as(p, user), release_id))


@releases.command("withdraw")
def withdraw(release_id: str, user: str = AS) -> None:
    """Its requester withdraws a release."""
    with platform() as p:
        _print_release(p, p.releases.withdraw(_as(p, user), release_id))


# --- incidents -----------------------------------------------------------------------------------


def _print_incident(p: Platform, i: Incident) -> None:
    withheld = "details withheld" if i.details_withheld else "no details withheld"
    console().print(
        f"[bold]{i.id}[/] {i.status.value}: {i.subject_kind.value} {inert(i.subject)} "
        f"({withheld}), opened by {inert(i.opened_by)}",
        highlight=False,
    )
    console().print(f"  {inert(i.summary)}", highlight=False)
    for action, target in p.incidents.actions(i.id):
        console().print(f"  {action} {inert(target)}", highlight=False)


@incidents.command("open")
def open_incident(
    subject_kind: SubjectKind = typer.Argument(..., help="project or artifact"),
    subject: str = typer.Argument(..., help="The project's or the artifact's id"),
    summary: str = typer.Option(..., "--summary", help="Public: what happened, in a line"),
    details_public: bool = typer.Option(False, "--details-public", help="No details are withheld"),
    user: str = AS,
) -> None:
    """Open an incident: preempt the project's jobs, suspend its tokens, freeze its artifacts."""
    with platform() as p:
        incident = p.incidents.open(_as(p, user), subject_kind, subject, summary, not details_public)
        _print_incident(p, incident)


@incidents.command("lift")
def lift(incident_id: str, user: str = AS) -> None:
    """Propose lifting an incident, or agree to lift it (a second, different officer)."""
    with platform() as p:
        _print_incident(p, p.incidents.lift(_as(p, user), incident_id))


@incidents.command("show")
def show_incident(incident_id: str) -> None:
    with platform() as p:
        _print_incident(p, p.incidents.incident(incident_id))


@incidents.command("list")
def list_incidents() -> None:
    with platform() as p:
        for i in p.incidents.incidents():
            _print_incident(p, i)


# --- offline verification ------------------------------------------------------------------------


def verify_release_command(
    release_id: str = typer.Argument(..., help="The release to check"),
    log: list[Path] = typer.Option(
        ...,
        "--log",
        help="A log export: JSON from /api/v1/log/entries, JSON lines, entry bundles from "
        "/log/tile/entries/..., or a directory of them (repeatable)",
    ),
    keys: Path = typer.Option(
        ..., "--keys", help="Officers' public keys: JSON from /api/v1/safety/keys or lines"
    ),
) -> None:
    """Check a release offline: its approvals verify, by distinct people, none the requester, enough
    for its gate. Exits 1 when it does not."""
    exports = [f.read_bytes() for path in log for f in _files(path)]
    verdict = verify_release(release_id, parse_entries(*exports), parse_keys(keys.read_bytes()))
    _print_verdict(verdict)
    if not verdict.ok:
        raise typer.Exit(1)


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _print_verdict(v: ReleaseVerdict) -> None:
    for a in v.approvals:
        mark, why = ("[green]✓[/]", "") if a.ok else ("[red]✗[/]", f": {a.problem}")
        console().print(f"{mark} approval by {inert(a.approver)} with key {inert(a.key_id)}{inert(why)}")
    for problem in v.problems:
        errors().print(f"[red]✗[/] {inert(problem)}")
    if v.ok:
        console().print(
            f"[green bold]OK[/]: release {inert(v.release_id)} was released with "
            f"{len(v.valid_approvers)} valid approval(s) by distinct people (the gate needs "
            f"{v.required}); none is the requester"
        )
    else:
        errors().print(
            f"[red bold]FAILED[/]: release {inert(v.release_id)} ({inert(v.status)}) does not verify"
        )
