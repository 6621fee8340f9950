"""A hostile log server (a real stdlib HTTP server) cannot fill the monitor's memory or stall it:
`pnyx log verify` and `pnyx audit replay` stop with an error naming the URL and the limit."""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pnyx.cli.main import app
from pnyx.core.errors import IntegrityFailure, InvalidInput, Unavailable
from pnyx.transparency import merkle
from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.note import NoteSigner, generate_signer
from pnyx.wiring import Platform
from tests.conftest import LiveServer

ORIGIN = "hostile.example/log"
SKEY, VKEY = generate_signer(ORIGIN)
ENTRIES = [f"entry {i}".encode() for i in range(256)]
Answer = Callable[[BaseHTTPRequestHandler], None]


def _signed(size: int, root: bytes) -> bytes:
    return NoteSigner.from_skey(SKEY).sign(Checkpoint(origin=ORIGIN, size=size, root=root).body()).encode()


def _send(body: bytes, **headers: str) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.wfile.write(body)

    return answer


def _endless(h: BaseHTTPRequestHandler) -> None:
    """64 MiB with no Content-Length (a bounded stand-in for an endless body)."""
    h.send_response(200)
    h.end_headers()
    for _ in range(64):
        h.wfile.write(b"A" * (1 << 20))


def _trickle_body(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.end_headers()
    for _ in range(100):  # one byte every 0.2 s for 20 s, far past the 1 s deadline
        h.wfile.write(b"p")
        h.wfile.flush()
        time.sleep(0.2)


def _trickle_headers(h: BaseHTTPRequestHandler) -> None:
    h.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(100):  # a header line that never ends, each byte well inside any per-read timeout
        h.wfile.write(b"X")
        h.wfile.flush()
        time.sleep(0.2)


class Hostile:
    """A log prefix served by a stdlib server, path by path; records the paths asked for."""

    def __init__(self, answers: dict[str, Answer]) -> None:
        self.answers, self.paths = answers, list[str]()
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.removeprefix("/log/")
                hostile.paths.append(path)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the monitor hung up
                    hostile.answers.get(path, _not_found)(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/log"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _not_found(h: BaseHTTPRequestHandler) -> None:
    h.send_response(404)
    h.end_headers()


@pytest.fixture
def hostile() -> Iterator[Callable[[dict[str, Answer]], Hostile]]:
    made: list[Hostile] = []

    def make(answers: dict[str, Answer]) -> Hostile:
        made.append(Hostile(answers))
        return made[-1]

    yield make
    for server in made:
        server.server.shutdown()
        server.server.server_close()


def _full_log() -> dict[str, Answer]:
    """A correct 256-entry log: its checkpoint, entry bundle, hash tile and the root's partial tile."""
    leaves = [merkle.leaf_hash(e) for e in ENTRIES]
    bundle = b"".join(len(e).to_bytes(2, "big") + e for e in ENTRIES)
    root = merkle.root_from_leaf_hashes(leaves)
    return {
        "checkpoint": _send(_signed(256, root)),
        "tile/entries/000": _send(bundle),
        "tile/0/000": _send(b"".join(leaves)),
        "tile/1/000.p/1": _send(root),
    }


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})


def _verify(url: str, tmp_path: Path, *extra: str) -> Result:
    return _run("log", "verify", url, "--key", VKEY, "--state", str(tmp_path / "m.json"), *extra)


def _refused(result: Result, code: str) -> str:
    assert isinstance(result.exception, Unavailable), result.output
    assert result.exception.code == code
    return result.exception.message


def test_a_correct_log_verifies_under_the_caps(hostile: Callable[..., Hostile], tmp_path: Path) -> None:
    result = _verify(hostile(_full_log()).url, tmp_path, "--timeout-s", "5")
    assert result.exit_code == 0, result.output
    assert "256 entries" in result.output


def test_an_oversized_hash_tile_is_refused(hostile: Callable[..., Hostile], tmp_path: Path) -> None:
    server = hostile({**_full_log(), "tile/0/000": _endless})
    message = _refused(_verify(server.url, tmp_path), "monitor_too_large")
    assert message == (
        f"GET {server.url}/tile/0/000: the body exceeds 8,192 bytes, the most a hash tile may hold"
    )


def test_a_declared_oversized_checkpoint_is_refused(hostile: Callable[..., Hostile], tmp_path: Path) -> None:
    server = hostile({"checkpoint": _send(b"x" * 100, Content_Length="16385")})  # refused on its word
    message = _refused(_verify(server.url, tmp_path), "monitor_too_large")
    assert "checkpoint: the body exceeds 16,384 bytes, the most a checkpoint may hold" in message


def test_a_key_too_long_is_refused(hostile: Callable[..., Hostile], tmp_path: Path) -> None:
    server = hostile({"key": _endless})
    result = _run("log", "verify", server.url, "--state", str(tmp_path / "m.json"))
    assert "the most a verifier key may hold" in _refused(result, "monitor_too_large")


def test_a_compressed_body_is_refused(hostile: Callable[..., Hostile], tmp_path: Path) -> None:
    server = hostile({"checkpoint": _send(gzip.compress(b"A" * 10_000_000), Content_Encoding="gzip")})
    assert "Content-Encoding 'gzip'" in _refused(_verify(server.url, tmp_path), "monitor_fetch")


@pytest.mark.parametrize("answer", [_trickle_body, _trickle_headers], ids=["body", "headers"])
def test_a_slow_server_meets_the_deadline(
    hostile: Callable[..., Hostile], tmp_path: Path, answer: Answer
) -> None:
    server = hostile({"checkpoint": answer})
    message = _refused(_verify(server.url, tmp_path, "--timeout-s", "1"), "monitor_timeout")
    assert message == f"GET {server.url}/checkpoint: no complete answer within 1 s (--timeout-s)"


def test_audit_replay_shares_the_deadline(hostile: Callable[..., Hostile]) -> None:
    server = hostile({"checkpoint": _trickle_body})
    result = _run("audit", "replay", server.url, "--key", VKEY, "--timeout-s", "1")
    assert "no complete answer within 1 s" in _refused(result, "monitor_timeout")


@pytest.mark.parametrize("command", ["verify", "replay"])
def test_a_signed_checkpoint_of_2_63_entries_is_refused_untiled(
    hostile: Callable[..., Hostile], tmp_path: Path, command: str
) -> None:
    server = hostile({"checkpoint": _send(_signed(2**63, b"\0" * 32))})
    if command == "verify":
        result = _verify(server.url, tmp_path)
    else:
        result = _run("audit", "replay", server.url, "--key", VKEY)
    assert result.exit_code == 1, result.output
    assert "9,223,372,036,854,775,808 entries, more than the 100,000,000 this audit accepts" in result.output
    assert server.paths == ["checkpoint"]


def test_simulate_from_log_reads_under_the_same_deadline(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile({"checkpoint": _trickle_body})
    result = _run(
        "simulate", "--from-log", server.url, "--key", VKEY, "--timeout-s", "1", "--out", str(tmp_path)
    )
    assert "no complete answer within 1 s" in _refused(result, "monitor_timeout")


def test_simulate_from_log_refuses_a_log_over_its_max_size(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile({"checkpoint": _send(_signed(300, b"\0" * 32))})
    result = _run(
        "simulate", "--from-log", server.url, "--key", VKEY, "--max-size", "299", "--out", str(tmp_path)
    )
    assert isinstance(result.exception, IntegrityFailure), result.output
    assert "300 entries, more than the 299 this audit accepts" in result.exception.message
    assert server.paths == ["checkpoint"]


@pytest.mark.parametrize("command", ["replay", "simulate"])
def test_a_log_neither_a_url_nor_a_directory_is_refused_by_name(tmp_path: Path, command: str) -> None:
    where = str(tmp_path / "no-such-dir")
    if command == "replay":
        result, named = _run("audit", "replay", where, "--key", VKEY), "URL"
    else:
        result, named = (
            _run("simulate", "--from-log", where, "--key", VKEY, "--out", str(tmp_path)),
            "--from-log",
        )
    assert isinstance(result.exception, InvalidInput), result.output
    assert result.exception.message.startswith(
        f"{named} wants the log's URL (http://HOST/log) or a directory"
    )


def test_max_size_admits_a_log_of_exactly_that_size(
    platform: Platform, live_server: LiveServer, tmp_path: Path
) -> None:
    for i in range(300):
        platform.identity.register_user(name=f"citizen{i:04d}", roles=["researcher"])
    platform.log.drain()
    size = platform.log.size()
    url = f"{live_server.url}/log"
    at_limit = _run("log", "verify", url, "--state", str(tmp_path / "a.json"), "--max-size", str(size))
    assert at_limit.exit_code == 0, at_limit.output
    below = _run("log", "verify", url, "--state", str(tmp_path / "b.json"), "--max-size", str(size - 1))
    assert below.exit_code == 1
    assert f"more than the {size - 1:,} this audit accepts" in below.output
