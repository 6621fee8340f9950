"""pnyx sme authorize: an SME lets one of its workspace jobs read its objects.

On the SME's machine: the job's authorisation request is fetched (each object's data key wrapped to
the SME's key, and the dispatcher's delivery key), every data key is unwrapped here with the SME's
private key and the map is sealed to the delivery key (``workspaces.authorisation``); only that
sealed bundle is sent. A wrong key fails before anything is sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pnyx.cli.context import console
from pnyx.cli.sme_client import SmeClient, decode
from pnyx.workspaces import envelope
from pnyx.workspaces.authorisation import AuthorisationRequest, ObjectKey, seal_authorisation


def authorize(
    job: str = typer.Argument(..., help="The workspace job to let run (it awaits keys)"),
    key: Path = typer.Option(..., "--key", help="Your private key file (pnyx sme keygen)"),
    server: str = typer.Option(
        "http://127.0.0.1:8000", "--server", envvar="PNYX_SERVER", help="The Pnyx server"
    ),
    token: str | None = typer.Option(None, "--token", envvar="PNYX_TOKEN", help="Your API token"),
) -> None:
    """Unwrap the job's input keys here and hand them to the dispatcher, sealed to its key."""
    private = envelope.load_private_key(key.read_bytes())
    with SmeClient(server, token) as client:
        request = _request(client.authorisation_request(job))
        sealed = seal_authorisation(request, private)  # a wrong key raises here: nothing is sent
        done = client.authorise(job, request.delivery_key_id, sealed)
    console().print(
        f"authorised [bold]{request.job_id}[/] to read {len(request.objects)} objects of workspace "
        f"{request.workspace_id} ({done.get('status')}): its keys are sealed to the dispatcher's key "
        f"{request.delivery_key_id}",
        highlight=False,
    )


def _request(raw: Any) -> AuthorisationRequest:
    return AuthorisationRequest(
        job_id=str(raw["job_id"]),
        workspace_id=str(raw["workspace_id"]),
        delivery_key_id=int(raw["delivery_key_id"]),
        delivery_public_key=str(raw["delivery_public_key"]),
        objects=tuple(_object_key(str(raw["workspace_id"]), o) for o in raw["objects"]),
    )


def _object_key(workspace_id: str, raw: Any) -> ObjectKey:
    """The context is made here, from the ids: a key the server moved to another object fails."""
    object_id = str(raw["object_id"])
    context = envelope.context_of(workspace_id, object_id)
    return ObjectKey(object_id=object_id, wrapped_key=decode(raw["wrapped_key"]), context=context)
