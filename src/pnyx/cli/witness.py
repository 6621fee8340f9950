"""pnyx witness: run a c2sp.org/tlog-witness witness that cosigns Pnyx (or any C2SP) log checkpoints.

Any member state can run one, with its own key and state: it cosigns a checkpoint only when it
extends the last one it cosigned for that log, so a log cannot show two histories to two people
who each check for its cosignature.

The HTTP edge is strict, for it faces the Internet: one ``Content-Length`` of ASCII digits (400
otherwise, 411 without, 413 above ``MAX_BODY``), a socket timeout on every connection (a client
silent that long is dropped) and at most ``--max-connections`` at once (503 beyond), so half-sent
requests cannot hold its threads.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import typer

from pnyx.cli.context import console
from pnyx.core.errors import InvalidInput
from pnyx.transparency.note import NoteVerifier
from pnyx.transparency.witness import (
    StateFiles,
    WitnessAnswer,
    WitnessService,
    create_witness_key,
    load_cosigner,
)

app = typer.Typer(help="A transparency-log witness (c2sp.org/tlog-witness).", no_args_is_help=True)

MAX_BODY = 64 * 1024  # an old-size line, 63 hashes and a checkpoint with its signatures fit easily
LENGTH = re.compile(r"[0-9]{1,9}")  # ASCII digits only (str.isdigit() also takes "²")
TIMEOUT_S = 10.0  # a connection silent this long (request line, headers or body) is closed
MAX_CONNECTIONS = 64  # connections served at once; more are answered 503
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 5\r\nRetry-After: 1\r\nConnection: close\r\n\r\nbusy\n"
)


@app.command()
def keygen(
    name: str = typer.Option(..., help="The witness's name, e.g. witness.example.org/pnyx"),
    out: Path = typer.Option(..., help="Where to write the private key (mode 0600)"),
) -> None:
    """Create the witness's Ed25519 key; print the verifier key logs and verifiers configure."""
    cosigner = create_witness_key(out, name)
    console().print(f"witness key written to {out} (mode 0600); keep it secret and backed up")
    console().print("verifier key (publish this; logs and verifiers configure it):", style="bold")
    typer.echo(cosigner.verifier.vkey)


def parse_logs(values: Sequence[str]) -> dict[str, list[NoteVerifier]]:
    """``ORIGIN=VKEY`` (or a bare VKEY, its key name the origin), each origin with its keys."""
    logs: dict[str, list[NoteVerifier]] = {}
    for value in values:
        origin, sep, vkey = value.partition("=")
        verifier = NoteVerifier.from_vkey(vkey if sep else origin)
        logs.setdefault(origin if sep else verifier.name, []).append(verifier)
    if not logs:
        raise InvalidInput("name at least one log to witness: --log ORIGIN=VKEY", field="log")
    return logs


def length_refusal(lengths: Sequence[str], chunked: bool) -> WitnessAnswer | None:
    """Why a request's body length is refused (None: ``int(lengths[0])`` is its length)."""
    if not lengths:
        return WitnessAnswer(status=411, body="a Content-Length is required\n")
    if len(lengths) > 1 or chunked or LENGTH.fullmatch(lengths[0]) is None:
        return WitnessAnswer(status=400, body="bad length: one Content-Length of ASCII digits\n")
    if int(lengths[0]) > MAX_BODY:
        return WitnessAnswer(status=413, body=f"bad length: at most {MAX_BODY} bytes\n")
    return None


def handler(service: WitnessService, timeout_s: float = TIMEOUT_S) -> type[BaseHTTPRequestHandler]:
    """The HTTP edge: POST /add-checkpoint, and nothing else; each socket read waits ``timeout_s``
    at most (then the connection is closed)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as tlog-witness suggests
        timeout = timeout_s

        def do_POST(self) -> None:
            self._send(self._answer())

        def _answer(self) -> WitnessAnswer:
            if self.path.rstrip("/") != "/add-checkpoint":
                self.close_connection = True  # its body is not read: it must not be taken for a request
                return WitnessAnswer(status=404, body="not found\n")
            lengths = self.headers.get_all("Content-Length") or []
            refused = length_refusal(lengths, "Transfer-Encoding" in self.headers)
            if refused is not None:
                self.close_connection = True  # the unread body must not be taken for a request
                return refused
            return service.add_checkpoint(self.rfile.read(int(lengths[0])))

        def do_GET(self) -> None:
            self._send(WitnessAnswer(status=405, body="POST <prefix>/add-checkpoint\n"))

        def _send(self, answer: WitnessAnswer) -> None:
            data = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            logging.getLogger("pnyx.witness.http").info(format, *args)

    return Handler


class WitnessServer(ThreadingHTTPServer):
    """A thread per connection, ``max_connections`` at most: one more is answered 503 and closed."""

    def __init__(
        self,
        address: tuple[str, int],
        handler_class: type[BaseHTTPRequestHandler],
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        super().__init__(address, handler_class)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        if not self.slots.acquire(blocking=False):
            _busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)  # its thread releases the slot
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def _busy(request: socket.socket | tuple[bytes, socket.socket]) -> None:
    """503 without waiting on the client: a short reply fits the socket's buffer, or is dropped."""
    if isinstance(request, socket.socket):
        try:
            request.setblocking(False)
            request.send(BUSY)
        except OSError:
            pass


def build_service(key: Path, logs: Mapping[str, list[NoteVerifier]], state: Path) -> WitnessService:
    return WitnessService(load_cosigner(key), logs, StateFiles(state), now=time.time)


@app.command()
def serve(
    key: Path = typer.Option(..., help="The witness's private key file (from `pnyx witness keygen`)"),
    log: list[str] = typer.Option(..., "--log", help="ORIGIN=VKEY of a log to witness; repeatable"),
    state: Path = typer.Option(..., help="State directory: one file per log, the last cosigned checkpoint"),
    port: int = typer.Option(8380, min=1, max=65535),
    host: str = typer.Option("127.0.0.1", help="Listen address"),
    timeout_s: float = typer.Option(TIMEOUT_S, min=0.1, max=600, help="Close a connection silent this long"),
    max_connections: int = typer.Option(
        MAX_CONNECTIONS, min=1, max=10_000, help="Served at once; 503 beyond"
    ),
) -> None:
    """Serve POST /add-checkpoint until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    service = build_service(key, parse_logs(log), state)
    server = WitnessServer((host, port), handler(service, timeout_s), max_connections)
    console().print(
        f"witness {service.cosigner.name} serving http://{host}:{port}/add-checkpoint for "
        f"{', '.join(service.logs)}; verifier key {service.cosigner.verifier.vkey}",
        highlight=False,
        soft_wrap=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
