"""The standalone auditor (``python3 -I -S pnyx-audit.pyz``) against a hostile log server, a real stdlib
one: the bounds of ``pnyx log verify`` hold with urllib too. A body over the cap for its kind of path,
a server too slow in its headers or its body, a compressed body and a redirect all end the audit with
exit 6 and a message naming the URL; a checkpoint too large is refused before any tile is fetched."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from pnyx.audit import bundle
from tests.cli.test_log_limits import (
    VKEY,
    Answer,
    Hostile,
    _endless,
    _full_log,
    _send,
    _signed,
    _trickle_body,
    _trickle_headers,
)
from tests.unit.audit.test_bundle import isolated

UNAVAILABLE = 6  # ErrorKind.UNAVAILABLE, as the CLI's


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "pnyx-audit.pyz"
    bundle.write(bundle.plan(), out)
    return out


@pytest.fixture
def server() -> Iterator[Callable[[dict[str, Answer]], Hostile]]:
    made: list[Hostile] = []

    def make(answers: dict[str, Answer]) -> Hostile:
        made.append(Hostile(answers))
        return made[-1]

    yield make
    for hostile in made:
        hostile.server.shutdown()
        hostile.server.server_close()


def _redirect(status: int, to: str) -> Answer:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return answer


def _audited(pyz: Path, hostile: Hostile, *extra: str) -> tuple[int, str]:
    ran = isolated(str(pyz), hostile.url, "--key", VKEY, *extra)
    return ran.returncode, ran.stderr


def test_an_oversized_hash_tile_is_refused(server: Callable[..., Hostile], pyz: Path) -> None:
    hostile = server({**_full_log(), "tile/0/000": _endless})
    code, err = _audited(pyz, hostile)
    assert code == UNAVAILABLE, err
    assert (
        f"error (monitor_too_large): GET {hostile.url}/tile/0/000: the body exceeds 8,192 bytes, "
        "the most a hash tile may hold"
    ) in err


def test_a_declared_oversized_entry_bundle_is_refused(server: Callable[..., Hostile], pyz: Path) -> None:
    hostile = server({**_full_log(), "tile/entries/000": _send(b"x", Content_Length=str(2**40))})
    code, err = _audited(pyz, hostile)
    assert code == UNAVAILABLE, err
    assert "the body exceeds 16,777,472 bytes, the most an entry bundle may hold" in err


def test_a_compressed_body_is_refused(server: Callable[..., Hostile], pyz: Path) -> None:
    hostile = server({"checkpoint": _send(gzip.compress(b"A" * 10_000_000), Content_Encoding="gzip")})
    code, err = _audited(pyz, hostile)
    assert code == UNAVAILABLE, err
    assert "error (monitor_fetch)" in err
    assert "Content-Encoding 'gzip'; the monitor reads identity bodies only" in err


@pytest.mark.parametrize("answer", [_trickle_body, _trickle_headers], ids=["body", "headers"])
def test_a_slow_server_meets_the_deadline(server: Callable[..., Hostile], pyz: Path, answer: Answer) -> None:
    hostile = server({"checkpoint": answer})
    code, err = _audited(pyz, hostile, "--timeout-s", "1")
    assert code == UNAVAILABLE, err
    assert (
        f"error (monitor_timeout): GET {hostile.url}/checkpoint: no complete answer within 1 s (--timeout-s)"
    ) in err


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed(server: Callable[..., Hostile], pyz: Path, status: int) -> None:
    log = _full_log()
    hostile = server({**log, "checkpoint": _redirect(status, "/log/moved"), "moved": log["checkpoint"]})
    code, err = _audited(pyz, hostile)
    assert code == UNAVAILABLE, err
    assert f"error (monitor_fetch): GET {hostile.url}/checkpoint answered {status}" in err
    assert hostile.paths == ["checkpoint"]  # the place it points to is never asked


def test_a_checkpoint_too_large_is_refused_untiled(server: Callable[..., Hostile], pyz: Path) -> None:
    hostile = server({"checkpoint": _send(_signed(2**63, b"\0" * 32))})
    code, err = _audited(pyz, hostile, "--max-size", "1000")
    assert code == 1, err
    assert "more than the 1,000 this audit accepts" in err
    assert hostile.paths == ["checkpoint"]
