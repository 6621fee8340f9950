"""pnyx sme authorize: an SME lets one of its workspace jobs read its objects.

On the SME's machine: the job's authorisation request is fetched (each object's data key wrapped to
the SME's key, and the dispatcher's delivery key), every data key is unwrapped here with the SME's
private key and the map is sealed to the delivery key (``workspaces.authorisation``); only that
sealed bundle is sent. A wrong key fails before anything is sent.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import typer

from pnyx.cli.context import console
from pnyx.cli.sme_client import TIMEOUT_S, _check
from pnyx.core.errors import IntegrityFailure
from pnyx.workspaces import envelope
from pnyx.workspaces.authorisation import AuthorisationRequest, ObjectKey, seal_authorisation

PREFIX = "/api/v1/sme/jobs"


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
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.rstrip("/") + PREFIX, headers=headers, timeout=TIMEOUT_S) as http:
        path = f"/{quote(job, safe='')}/authorisation"
        request = _request(_json(http.get(path)))
        sealed = seal_authorisation(request, private)  # a wrong key raises here: nothing is sent
        body = {"delivery_key_id": request.delivery_key_id, "sealed": _encode(sealed)}
        done = _json(http.post(path, json=body))
    console().print(
        f"authorised [bold]{request.job_id}[/] to read {len(request.objects)} objects of workspace "
        f"{request.workspace_id} ({done.get('status')}): its keys are sealed to the dispatcher's key "
        f"{request.delivery_key_id}",
        highlight=False,
    )


def _json(response: httpx.Response) -> Any:
    _check(response)
    return response.json()


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
    return ObjectKey(object_id=object_id, wrapped_key=_decode(raw["wrapped_key"]), context=context)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: object) -> bytes:
    try:
        return base64.urlsafe_b64decode(str(text) + "=" * (-len(str(text)) % 4))
    except (binascii.Error, ValueError) as exc:
        raise IntegrityFailure("the server sent bytes that are not base64url") from exc
