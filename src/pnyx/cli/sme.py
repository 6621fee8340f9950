"""pnyx sme: an SME's private workspace, from the SME's own machine.

Keys are made and used here only: ``keygen`` writes the private key (0600) and prints the public
one, which the workspace is created with. ``upload`` encrypts each file here (a new data key, the
stream encrypted, the key wrapped to the workspace's public key, the name and digest sealed with a
fresh commitment salt) and sends only ciphertext; ``decrypt`` downloads, checks every tag and writes
the plaintext only once all of it checked out. The server is ``--server`` (PNYX_SERVER), the caller
``--token`` (PNYX_TOKEN). ``commitment verify`` is offline: anyone checks an opened commitment.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

import typer
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from rich.progress import Progress
from rich.table import Table

from pnyx.cli.context import console, inert
from pnyx.cli.sme_client import RemoteObject, RemoteWorkspace, SmeClient, Upload
from pnyx.cli.sme_jobs import authorize
from pnyx.core.errors import Conflict, InvalidInput
from pnyx.workspaces import envelope

app = typer.Typer(
    help="SME workspaces: keys, encrypted uploads, decryption, commitments.", no_args_is_help=True
)
workspaces = typer.Typer(help="Create and show workspaces.", no_args_is_help=True)
commitments = typer.Typer(help="Open a commitment; verify an opened one (offline).", no_args_is_help=True)
app.add_typer(workspaces, name="workspace")
app.add_typer(commitments, name="commitment")
app.command("authorize")(authorize)  # a workspace job's keys, sealed to the dispatcher (cli.sme_jobs)
SERVER = typer.Option("http://127.0.0.1:8000", "--server", envvar="PNYX_SERVER", help="The Pnyx server")
TOKEN = typer.Option(None, "--token", envvar="PNYX_TOKEN", help="Your API token")
WORKSPACE = typer.Option(..., "--workspace", help="The workspace (ws_...)")
KEY = typer.Option(..., "--key", help="Your private key file (pnyx sme keygen)")
OBJECT = typer.Argument(..., help="An object id (32 hex)")
CHUNK = 1 << 20


@app.command("keygen")
def keygen(out: Path = typer.Option(..., "--out", help="Where to write the private key (0600)")) -> None:
    """A new X25519 key pair: the private key to FILE (never overwritten), the public key printed."""
    pair = envelope.generate_keypair()
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"{out} exists: refusing to overwrite a key", field="out") from None
    with os.fdopen(descriptor, "wb") as f:
        f.write(pair.private_pem)
    console().print(f"private key written to {inert(str(out))} (keep it; nobody can recover it)")
    console().print(pair.public_key, highlight=False, soft_wrap=True)


@workspaces.command("create")
def create(
    project: str = typer.Option(..., "--project"),
    public_key: str | None = typer.Option(None, "--public-key", help="x25519:<base64url>"),
    key: Path | None = typer.Option(None, "--key", help="Or your private key file: its public half"),
    server: str = SERVER,
    token: str | None = TOKEN,
) -> None:
    """A workspace for a project you are a member of, sealed to your key."""
    if (public_key is None) == (key is None):
        raise typer.BadParameter("give --public-key or --key, one of them", param_hint="--public-key")
    chosen = public_key if public_key is not None else envelope.public_key_of(_pem(key))
    with SmeClient(server, token) as client:
        _show_workspaces([client.create(project, chosen)])


@workspaces.command("show")
def show(
    workspace: str | None = typer.Argument(None, help="A workspace (ws_...)"),
    project: str | None = typer.Option(None, "--project", help="Or every workspace of a project"),
    server: str = SERVER,
    token: str | None = TOKEN,
) -> None:
    if (workspace is None) == (project is None):
        raise typer.BadParameter("give a WORKSPACE or --project, one of them", param_hint="WORKSPACE")
    with SmeClient(server, token) as client:
        found = [client.workspace(workspace)] if workspace is not None else client.of_project(str(project))
    _show_workspaces(found)


@app.command("upload")
def upload(
    files: list[Path] = typer.Argument(..., help="Files to encrypt here and upload"),
    workspace: str = WORKSPACE,
    server: str = SERVER,
    token: str | None = TOKEN,
) -> None:
    """Encrypt each file on this machine and upload its ciphertext; prints each object's id and
    commitment (the public log gets the commitment only)."""
    with SmeClient(server, token) as client, Progress(console=console(), transient=True) as progress:
        target = _active(client.workspace(workspace))
        for path in files:
            task = progress.add_task(f"{inert(path.name)}: encrypting", total=None)
            stored = _upload_one(client, target, path)
            progress.update(task, description=f"{inert(path.name)}: uploaded", completed=1, total=1)
            console().print(f"{inert(path.name)}: object {stored.id} commitment {stored.commitment}")


@app.command("ls")
def ls(
    workspace: str = WORKSPACE,
    key: Path | None = typer.Option(None, "--key", help="Your private key: names shown (decrypted here)"),
    server: str = SERVER,
    token: str | None = TOKEN,
) -> None:
    """The workspace's objects: ids and commitments; with --key, their names and sizes too."""
    with SmeClient(server, token) as client:
        found = client.objects(workspace)
    table = Table("object", "commitment", "origin", *(("name", "size") if key else ()), "created")
    private = None if key is None else envelope.load_private_key(_pem(key))
    for obj in found:
        named = () if private is None else _named(private, workspace, obj)
        table.add_row(obj.id, obj.commitment, obj.origin, *named, obj.created_at[:19])
    console().print(table)


@app.command("decrypt")
def decrypt(
    object_id: str = OBJECT,
    workspace: str = WORKSPACE,
    key: Path = KEY,
    out: Path = typer.Option(..., "--out", help="Where to write the plaintext (only once all of it checks)"),
    server: str = SERVER,
    token: str | None = TOKEN,
) -> None:
    """Download an object, unwrap its key with yours, decrypt; nothing is written unless every tag
    and the sealed digest check out."""
    if out.exists():
        raise InvalidInput(f"{out} exists: refusing to overwrite it", field="out")
    private = envelope.load_private_key(_pem(key))
    with SmeClient(server, token) as client:
        _active(client.workspace(workspace))
        obj = client.object(workspace, object_id)
        data_key, meta = _opened(private, workspace, obj)
        with tempfile.TemporaryFile() as ciphertext:
            client.download(workspace, obj.id, ciphertext)
            ciphertext.seek(0)
            _decrypt_to(out, ciphertext, data_key, envelope.context_of(workspace, obj.id), meta)
    console().print(
        f"{inert(meta.name)} ({meta.size} bytes, sha256 {meta.plaintext_sha256}) -> {inert(str(out))}"
    )


@app.command("shred")
def shred(
    workspace: str = typer.Argument(..., help="The workspace to destroy"),
    reason: str = typer.Option(..., "--reason", help="Public, in the log"),
    yes: bool = typer.Option(False, "--yes", help="Yes: destroy every key and ciphertext, for good"),
    server: str = SERVER,
    token: str | None = TOKEN,
) -> None:
    """Destroy the workspace's wrapped keys and ciphertexts (crypto-shredding); logged."""
    if not yes:
        raise InvalidInput("shredding cannot be undone: add --yes to go ahead", field="yes")
    with SmeClient(server, token) as client:
        done = client.shred(workspace, reason)
    console().print(f"workspace {done.id} shredded: nothing of it can be opened any more")


@commitments.command("open")
def open_commitment(
    object_id: str = OBJECT,
    workspace: str = WORKSPACE,
    key: Path = KEY,
    server: str = SERVER,
    token: str | None = TOKEN,
) -> None:
    """What to hand a third party to prove what this object is: commitment, salt, plaintext SHA-256."""
    private = envelope.load_private_key(_pem(key))
    with SmeClient(server, token) as client:
        obj = client.object(workspace, object_id)
    _data_key, meta = _opened(private, workspace, obj)
    if meta.commitment() != obj.commitment:
        raise envelope.Tampered(
            "the logged commitment is not the sealed salt's and digest's", field="commitment"
        )
    for label, value in (("name", inert(meta.name)), ("commitment", obj.commitment), ("salt", meta.salt),
                         ("sha256", meta.plaintext_sha256)):  # fmt: skip
        console().print(f"{label:<11} {value}", highlight=False, soft_wrap=True)


@commitments.command("verify")
def verify_commitment(
    file: Path = typer.Argument(..., help="The file the commitment is said to be of"),
    commitment: str = typer.Option(..., "--commitment"),
    salt: str = typer.Option(..., "--salt"),
) -> None:
    """Offline: does (salt, this file) open the commitment? Exit 0 if it does, 1 if not."""
    digest = hashlib.sha256()
    with file.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    if not envelope.opens(commitment.lower(), salt.lower(), digest.hexdigest()):
        console().print(f"[red]does not open[/]: {inert(str(file))} with this salt is not committed to")
        raise typer.Exit(1)
    console().print(
        f"[green]opens[/]: {inert(str(file))} (sha256 {digest.hexdigest()}) is what was committed to"
    )


def _upload_one(client: SmeClient, workspace: RemoteWorkspace, path: Path) -> RemoteObject:
    with path.open("rb") as src, tempfile.TemporaryFile() as ciphertext:
        sealed = envelope.seal_object(
            src,
            ciphertext,
            object_id=envelope.new_object_id(),
            name=path.name,
            public_key=workspace.public_key,
            workspace_id=workspace.id,
        )
        upload = Upload(
            object_id=sealed.object_id,
            wrapped_key=sealed.wrapped_key,
            sealed_meta=sealed.sealed_meta,
            commitment=sealed.commitment,
        )
        ciphertext.seek(0)
        return client.upload(workspace.id, upload, ciphertext)


def _decrypt_to(
    out: Path, ciphertext: BinaryIO, data_key: bytes, context: str, meta: envelope.ObjectMeta
) -> None:
    """Plaintext into a temporary file beside ``out``, renamed to it only when every tag and the
    sealed digest checked; on any failure nothing is left."""
    descriptor, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    staged = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as f:
            digest = envelope.decrypt_stream(ciphertext, f, data_key, context)
            f.flush()
            os.fsync(f.fileno())
        if digest.plaintext_sha256 != meta.plaintext_sha256:
            raise envelope.Tampered("the decrypted object is not the one its sealed metadata names")
        os.link(staged, out)
    finally:
        staged.unlink(missing_ok=True)


def _named(private: X25519PrivateKey, workspace: str, obj: RemoteObject) -> tuple[str, str]:
    if obj.wrapped_key is None:
        return ("(shredded)", "")
    _data_key, meta = _opened(private, workspace, obj)
    return inert(meta.name), str(meta.size)


def _opened(
    private: X25519PrivateKey, workspace: str, obj: RemoteObject
) -> tuple[bytes, envelope.ObjectMeta]:
    """The object's data key, unwrapped with the SME's key, and its sealed metadata, opened."""
    if obj.wrapped_key is None:
        raise Conflict(
            f"workspace {workspace} is shredded: its keys are destroyed", code="workspace_shredded"
        )
    context = envelope.context_of(workspace, obj.id)
    data_key = envelope.unwrap_key(obj.wrapped_key, private, context)
    return data_key, envelope.open_meta(obj.sealed_meta or b"", data_key, context)


def _active(workspace: RemoteWorkspace) -> RemoteWorkspace:
    if workspace.status != "active":
        raise Conflict(
            f"workspace {workspace.id} is {workspace.status}: its keys and ciphertexts are destroyed",
            code=f"workspace_{workspace.status}",
        )
    return workspace


def _pem(key: Path | None) -> bytes:
    return Path(str(key)).read_bytes()


def _show_workspaces(found: list[RemoteWorkspace]) -> None:
    table = Table("workspace", "project", "status", "public key", "created")
    for w in found:
        table.add_row(w.id, inert(w.project), w.status, w.public_key, w.created_at[:19])
    console().print(table)
