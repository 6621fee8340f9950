"""pnyx serve: the API and the portal under uvicorn, on a port checked before anything is announced."""

from __future__ import annotations

import errno
import socket

import typer

from pnyx.cli.context import console, platform
from pnyx.core.errors import Conflict
from pnyx.settings import Settings


def serve(
    host: str | None = typer.Option(None, help="Default PNYX_HOST or 127.0.0.1"),
    port: int | None = typer.Option(None, help="Default PNYX_PORT or 8000"),
) -> None:
    """Serve the API and the portal (refuses an unmigrated database, and a port already taken)."""
    import uvicorn

    settings = Settings.from_env()
    with platform():  # fails here, with its message, if the database is not migrated
        pass
    host = host or settings.host
    port = port or settings.port
    check_port(host, port)
    console().print(
        f"Pnyx is serving on [bold]http://{host}:{port}/[/] (API docs at http://{host}:{port}/api/docs)"
    )
    uvicorn.run("pnyx.server:create_app", factory=True, host=host, port=port, log_level="info")


def check_port(host: str, port: int) -> None:
    """Bind the address as uvicorn will (SO_REUSEADDR, IPv6 for a host with a colon), then let it go:
    a port another server holds is refused here, with the way to pick another, not after the banner."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise Conflict(
                f"port {port} on {host} is taken (another Pnyx server still running?): stop it, or choose "
                f"another port: PNYX_PORT={_next(port)} make run, or pnyx serve --port {_next(port)}",
                field="port",
                code="port_in_use",
            ) from None


def _next(port: int) -> int:
    return port + 1 if port < 65535 else 8001
