"""pnyx log: the transparency log's key, appender and independent monitor."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pnyx.cli.catalogue import catalogue
from pnyx.cli.context import console, errors, platform
from pnyx.core.errors import InvalidInput, Unavailable
from pnyx.db.files import private_dir
from pnyx.settings import Settings
from pnyx.transparency import limits
from pnyx.transparency.guard import IDENTITY, Guard, within
from pnyx.transparency.keys import key_text, witness_keys
from pnyx.transparency.monitor import MonitorState, audit
from pnyx.transparency.note import NoteVerifier
from pnyx.transparency.signing import create_key_file

app = typer.Typer(help="The public transparency log.", no_args_is_help=True)
app.command(name="catalogue")(catalogue)


@app.command()
def keygen(
    origin: str | None = typer.Option(None, help="Log origin (key name); default PNYX_LOG_ORIGIN"),
    if_missing: bool = typer.Option(False, "--if-missing", help="Do nothing if a key exists"),
) -> None:
    """Create the log's Ed25519 signing key (kept in a file, never in the database)."""
    settings = Settings.from_env()
    path = settings.log_key_file
    if if_missing and path.exists():
        console().print(f"signing key already at {path}")
        return
    private_dir(settings.data_dir)
    signer = create_key_file(path, origin or settings.log_origin)
    console().print(f"signing key written to {path} (mode 0600); keep it secret and backed up")
    console().print("verifier key (publish this; monitors pin it):", style="bold")
    typer.echo(signer.vkey)


@app.command()
def append() -> None:
    """Append every pending event to the log and sign a checkpoint (the server does this itself)."""
    with platform() as p:
        appended = p.log.drain()
        size = p.log.size()
    console().print(f"appended {appended} entries; log size {size}")


@app.command()
def show() -> None:
    """Print the latest signed checkpoint."""
    with platform() as p:
        note = p.log.checkpoint().note
    typer.echo(note, nl=False)


MAX_SIZE_OPTION = typer.Option(
    limits.DEFAULT_MAX_SIZE,
    "--max-size",
    min=0,
    help="Refuse a checkpoint of more entries than this before fetching any tile "
    "(the audit keeps about 75 bytes per entry in memory)",
)
TIMEOUT_OPTION = typer.Option(
    limits.DEFAULT_TIMEOUT_S,
    "--timeout-s",
    min=0.001,
    help="Seconds each request may take in all, headers and body (not per read)",
)


class HttpTiles:
    """A log's paths over HTTP, as a hostile server may serve them: each body is streamed against the
    cap for its kind of path (``transparency.limits``) and each request, headers and body, has
    ``timeout_s`` in all (not per read), so a server can neither fill memory nor stall the audit."""

    def __init__(self, client: httpx.Client, timeout_s: float = limits.DEFAULT_TIMEOUT_S) -> None:
        self.client, self.timeout_s = client, timeout_s

    def get(self, path: str) -> bytes:
        status, body = self.fetch(path)
        if status == 404 and ".p/" in path:  # tlog-tiles: fall back to the full tile
            path = path.split(".p/", maxsplit=1)[0]
            status, body = self.fetch(path)
        if status != 200:
            raise Unavailable(f"GET {self.url(path)} answered {status}", code="monitor_fetch")
        return body

    def url(self, path: str) -> str:
        return str(self.client.base_url.join(path))

    def fetch(self, path: str) -> tuple[int, bytes]:
        """The status and (for a 200) the body at ``path``, within ``timeout_s`` in all (``guard``)."""
        deadline = time.monotonic() + self.timeout_s
        return within(self.timeout_s, lambda: self._read(path, deadline), self._guard(path).late)

    def _guard(self, path: str) -> Guard:
        return Guard(url=self.url(path), path=path, timeout_s=self.timeout_s)

    def _read(self, path: str, deadline: float) -> tuple[int, bytes]:
        with self.client.stream("GET", path, headers=IDENTITY, timeout=self.timeout_s) as response:
            if response.status_code != 200:
                return response.status_code, b""
            guard = self._guard(path)
            guard.accept(response.headers.get("content-encoding"), response.headers.get("content-length"))
            return 200, guard.body(response.iter_raw(), deadline)


@app.command()
def verify(
    url: str = typer.Argument(..., help="The log's prefix, e.g. http://127.0.0.1:8000/log"),
    key: str | None = typer.Option(None, help="Verifier key (or a file holding it); pinned after first use"),
    state: Path | None = typer.Option(
        None, help="State file; default ~/.local/state/pnyx/monitor-HASH.json, one per log URL"
    ),
    witness: list[str] = typer.Option(
        [], "--witness", help="A witness's cosignature verifier key (or a file holding it); repeatable"
    ),
    min_witnesses: int | None = typer.Option(
        None, "--min-witnesses", min=0, help="Known witnesses that must have cosigned (default: all given)"
    ),
    max_size: int = MAX_SIZE_OPTION,
    timeout_s: float = TIMEOUT_OPTION,
) -> None:
    """Audit a log independently: signature, every entry and tile hash, the root, append-only growth,
    and (with --witness) cosignatures by at least --min-witnesses of the known witnesses."""
    witnesses, needed = witness_keys(witness, min_witnesses)
    base = url.rstrip("/") + "/"
    state_file = (
        state
        or Path.home()
        / ".local/state/pnyx"
        / f"monitor-{hashlib.sha256(base.encode()).hexdigest()[:16]}.json"
    )
    previous = MonitorState.load(state_file)
    with httpx.Client(base_url=base) as client:
        source = HttpTiles(client, timeout_s)
        verifier = _verifier(key, previous, source)
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tiles"),
            TimeElapsedColumn(),
            console=console(),
            transient=True,
        ) as bar:
            task = bar.add_task("tiles", total=None)
            report = audit(
                source,
                verifier,
                previous,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                witnesses=witnesses,
                min_witnesses=needed,
                max_size=max_size,
            )
    checkpoint = report.checkpoint
    assert checkpoint is not None
    if not report.ok:
        for problem in report.problems:
            where = f"index {problem.index}: " if problem.index is not None else ""
            errors().print(f"[red]✗[/] {where}{problem.message}")
        first = report.first_bad_index
        errors().print(
            f"[red bold]FAILED[/]: {len(report.problems)} problem(s)"
            + (f"; first bad index {first}" if first is not None else "")
        )
        raise typer.Exit(1)
    MonitorState(vkey=verifier.vkey, size=checkpoint.size, root_hex=checkpoint.root.hex()).save(state_file)
    since = f" (extends the {previous.size}-entry checkpoint seen before)" if previous else ""
    cosigned = f"; cosigned by {', '.join(report.cosigned_by)}" if report.cosigned_by else ""
    console().print(
        f"[green bold]OK[/]: {checkpoint.origin} has {checkpoint.size:,} entries, root "
        f"{checkpoint.root.hex()}{since}; signature, entries, tiles and root all check out{cosigned}"
    )


def _verifier(key: str | None, previous: MonitorState | None, source: HttpTiles) -> NoteVerifier:
    if key is not None:
        verifier = NoteVerifier.from_vkey(key_text(key))
        if previous is not None and previous.vkey != verifier.vkey:
            raise InvalidInput(
                "this key differs from the one pinned in the state file; the log changed keys?", field="key"
            )
        return verifier
    if previous is not None:
        return NoteVerifier.from_vkey(previous.vkey)
    status, body = source.fetch("key")
    if status != 200:
        raise Unavailable(
            f"no --key given and the log publishes none at {source.url('key')} "
            f"(HTTP {status}); pass the log's verifier key with --key",
            code="monitor_no_key",
        )
    errors().print("[yellow]no --key given: trusting the key the log publishes now, and pinning it[/]")
    return NoteVerifier.from_vkey(body.decode("utf-8", errors="replace").strip())
