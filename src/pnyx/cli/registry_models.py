"""pnyx registry model: list and show model versions, their cards, lineage and checkpoints, what the
registry made of a job's outputs, and download a file checked against the public log.

Commands act as the local console (the facility's operator) unless ``--as USER`` names a user.
``download`` goes over HTTP to a server (``--server``) and trusts it for nothing: it keeps the bytes
only if the version's registration entry is included in a checkpoint signed by the log's key
(``--key``, else the key the server publishes, with a warning) and logs the digest the bytes hash to,
for the role the version's own manifest (checked first, as the ``manifest`` role) gives the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import httpx
import typer
from rich.table import Column, Table

from pnyx.cli.context import console, errors, full_id, inert, platform
from pnyx.core.errors import (
    FacilityError,
    Forbidden,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from pnyx.identity.model import LOCAL_CONSOLE, Principal
from pnyx.registry.lineage_model import MANIFEST_NAME, Checkpoint, FileRole, Lineage, ModelVersion
from pnyx.registry.lineage_rules import MAX_MANIFEST_BYTES, role_of
from pnyx.registry.model_downloads import DownloadProof, LoggedDigest, check_download, parse_proof
from pnyx.transparency.note import NoteVerifier
from pnyx.wiring import Platform

app = typer.Typer(help="Models: versions, cards, lineage, checkpoints, downloads.", no_args_is_help=True)
AS = typer.Option(None, "--as", help="Act as this user; default: the local console (operator)")
VERSION = typer.Argument(..., help="A model version (64 hex digits)")
CHUNK = 1 << 20
STATUS_ERRORS: dict[int, type[FacilityError]] = {
    401: Unauthenticated, 403: Forbidden, 404: NotFound, 500: IntegrityFailure, 503: Unavailable,
}  # fmt: skip


def _as(p: Platform, user: str | None) -> Principal:
    return LOCAL_CONSOLE if user is None else p.identity.principal_of(user)


@app.command("list")
def list_models(name: str | None = typer.Option(None, "--name"), user: str | None = AS) -> None:
    """The versions you may read, newest first."""
    with platform() as p:
        found = [(m, p.models.is_public(m)) for m in p.models.search(_as(p, user), name=name)]
    table = Table(full_id(), "name", "label", "public", Column("job", no_wrap=True), "steps", "created")
    for m, public in found:
        table.add_row(
            m.version, inert(m.name), str(m.label), "yes" if public else "no", m.job_id, str(m.steps),
            m.created_at.strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    console().print(table)


@app.command("show")
def show(version: str = VERSION, user: str | None = AS) -> None:
    with platform() as p:
        model = p.models.get(_as(p, user), version)
        public = p.models.is_public(model)
    _print(model, public)


def _print(m: ModelVersion, public: bool) -> None:
    fields = {
        "version": m.version, "name": m.name, "label": f"{m.label} ({'public' if public else 'not public'})",
        "job": f"{m.job_id} (attempt {m.attempt}) of {m.project}", "code digest": m.code_digest,
        "config hash": m.config_hash, "datasets": ", ".join(m.datasets),
        "data order": f"seed {m.seed}, world size {m.world_size}, batch {m.batch_size}, {m.steps} steps",
        "weights": f"{m.weights.parameters:,} parameters in {m.weights.tensors} tensors",
    }  # fmt: skip
    for key, value in fields.items():
        console().print(f"[bold]{key:>12}[/] {inert(value)}", highlight=False)
    table = Table("file", "role", "bytes", "sha256")
    for f in m.files:
        table.add_row(inert(f.path), f.role.value, str(f.size), f.sha256)
    console().print(table)


@app.command("card")
def card(version: str = VERSION, user: str | None = AS) -> None:
    """The model card (README.md), checked against the log."""
    with platform() as p:
        text = p.models.card(_as(p, user), version)
    typer.echo(inert(text, markup=False), nl=False)


@app.command("lineage")
def lineage(version: str = VERSION, user: str | None = AS) -> None:
    """Dataset versions -> job -> model version -> releases."""
    with platform() as p:
        found = p.models.lineage(_as(p, user), version)
    for line in _lineage_lines(found):
        console().print(line, highlight=False)


def _lineage_lines(found: Lineage) -> list[str]:
    m = found.model
    lines = [
        f"dataset {inert(d.name or '?')} {d.version}: shards {', '.join(map(str, d.shards)) or 'none'} read"
        for d in found.datasets
    ]
    lines.append(
        f"  -> job {m.job_id} (attempt {m.attempt}), code {m.code_digest[:16]}, config {m.config_hash[:16]}"
    )
    lines.append(f"  -> model version {m.version} ({inert(m.name)}, {m.label})")
    lines += [f"  -> release {r.release_id}: {inert(r.path)} to {r.label}" for r in found.releases]
    lines.append(
        "public" if found.public else "not public: weights, card and data order are not all released"
    )
    return lines


@app.command("checkpoints")
def checkpoints(
    version: str | None = typer.Argument(None, help="A model version (64 hex digits)"),
    job: str | None = typer.Option(
        None, "--job", help="A job's instead: registered while it runs, and after"
    ),
    user: str | None = AS,
) -> None:
    """A model version's checkpoints, or a job's (``--job``, before its version exists)."""
    with platform() as p:
        found = _checkpoints(p, _as(p, user), version, job)
    table = Table("attempt", "step", "directory", "files", "bytes", "registered")
    for c in found:
        table.add_row(
            str(c.attempt), str(c.step), inert(c.dir), str(len(c.files)), str(sum(f.size for f in c.files)),
            c.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
        )  # fmt: skip
    console().print(table)


def _checkpoints(p: Platform, principal: Principal, version: str | None, job: str | None) -> list[Checkpoint]:
    if version is not None and job is None:
        return p.models.checkpoints(principal, version)
    if job is not None and version is None:
        return p.models.job_checkpoints(principal, job)
    raise typer.BadParameter("give a model version or --job JOB, one of them", param_hint="VERSION")


@app.command("intake")
def intake(job_id: str = typer.Argument(..., help="A job id"), user: str | None = AS) -> None:
    """What the registry made of each attempt of a job: registered (the version) or refused (why)."""
    with platform() as p:
        found = p.models.intakes(_as(p, user), job_id)
    if not found:
        console().print(f"the registry has not taken in job {inert(job_id)}'s outputs", highlight=False)
    for i in found:
        said = i.version if i.version is not None else f"{i.code}: {i.reason}"
        console().print(f"attempt {i.attempt}: [bold]{i.outcome.value}[/] {inert(said)}", highlight=False)


@app.command("download")
def download(
    version: str = VERSION,
    file: str = typer.Argument(..., help="The file's name in the version, e.g. model.safetensors"),
    out: Path = typer.Option(..., "--out", help="Where to write it (only once it checks out)"),
    server: str = typer.Option(..., "--server", help="The Pnyx server, e.g. http://127.0.0.1:8000"),
    key: str | None = typer.Option(None, "--key", help="The log's verifier key (or a file holding it)"),
    token: str | None = typer.Option(None, "--token", envvar="PNYX_TOKEN", help="For versions not public"),
) -> None:
    """Download a file of a model version; keep it only if it matches the digest in the signed log.
    The file's role (which logged digest it must match) comes from the version's manifest, downloaded
    and checked first, never from the server's word."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    base = f"{server.rstrip('/')}/api/v1/registry/models/{quote(version)}"
    with httpx.Client(timeout=60.0, headers=headers) as client:
        verifier = _verifier(key, client, server)
        asked = Asked(client=client, base=base, version=version, verifier=verifier)
        role = _role(asked, file)
        staged, digest = _fetch(client, f"{base}/files/{quote(file)}", out)
        try:
            proof, logged = _prove(asked, file, role, digest, staged.stat().st_size)
            os.replace(staged, out)
        finally:
            staged.unlink(missing_ok=True)
    console().print(
        f"[green]OK[/]: {inert(str(out))} ({logged.size} bytes, sha256 {logged.sha256}) is what log entry "
        f"{proof.log_index} registers as the {role} file, included in the signed checkpoint of "
        f"{proof.tree_size} entries",
        highlight=False,
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Asked:
    """One download's server, version and log key."""

    client: httpx.Client
    base: str
    version: str
    verifier: NoteVerifier


def _role(asked: Asked, file: str) -> str:
    """The file's role as the version's manifest names it, the manifest checked against the log as
    the ``manifest`` role first (a server that serves another logged file under this name fails)."""
    if file == MANIFEST_NAME:
        return FileRole.MANIFEST.value
    data = _fetch_bytes(asked.client, f"{asked.base}/files/{MANIFEST_NAME}", MAX_MANIFEST_BYTES)
    _prove(asked, MANIFEST_NAME, FileRole.MANIFEST.value, hashlib.sha256(data).hexdigest(), len(data))
    return role_of(data, asked.version, file)


def _prove(asked: Asked, file: str, role: str, digest: str, size: int) -> tuple[DownloadProof, LoggedDigest]:
    """The bytes' digest and size against what the signed log registers for the file's role."""
    served = parse_proof(_json(asked.client, f"{asked.base}/proofs/{quote(file)}"))
    proof = dataclasses.replace(served, version=asked.version, path=file, role=role)  # asked, not said
    logged = check_download(proof, digest, asked.verifier)
    if logged.size != size:
        raise IntegrityFailure(f"{file}: the log says {logged.size} bytes, {size} came")
    return proof, logged


def _fetch_bytes(client: httpx.Client, url: str, cap: int) -> bytes:
    """A small response body, at most ``cap`` bytes (IntegrityFailure past it)."""
    data = bytearray()
    with client.stream("GET", url) as response:
        _check(response)
        for chunk in response.iter_bytes(CHUNK):
            data += chunk
            if len(data) > cap:
                raise IntegrityFailure(f"{url} sent more than {cap} bytes", field="manifest")
    return bytes(data)


def _fetch(client: httpx.Client, url: str, out: Path) -> tuple[Path, str]:
    """The response body in a temporary file beside ``out``, and its SHA-256 (nothing at ``out``)."""
    descriptor, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    staged = Path(name)
    try:
        with client.stream("GET", url) as response, os.fdopen(descriptor, "wb") as f:
            _check(response)
            return staged, _copy(response.iter_bytes(CHUNK), f)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


def _copy(chunks: Iterator[bytes], f: BinaryIO) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        f.write(chunk)
    return digest.hexdigest()


def _json(client: httpx.Client, url: str) -> object:
    response = client.get(url)
    _check(response)
    return response.json()


def _check(response: httpx.Response) -> None:
    """A refusal from the server as the error of its kind, with the server's words (made inert)."""
    if response.status_code == 200:
        return
    response.read()
    try:
        detail = str(response.json().get("detail", ""))
    except ValueError:
        detail = response.text[:200]
    error = STATUS_ERRORS.get(response.status_code, InvalidInput)
    raise error(f"{response.request.url} answered {response.status_code}: {inert(detail, markup=False)}")


def _verifier(key: str | None, client: httpx.Client, server: str) -> NoteVerifier:
    if key is not None:
        text = Path(key).read_text().strip() if Path(key).is_file() else key
        return NoteVerifier.from_vkey(text)
    response = client.get(f"{server.rstrip('/')}/log/key")
    _check(response)
    errors().print("[yellow]no --key given: trusting the log key this server publishes now[/]")
    return NoteVerifier.from_vkey(response.text.strip())
