"""A witness is not trusted with the log server's memory or time: an endless answer is cut at
``ANSWER_MAX`` bytes, a trickled one at ``ANSWER_TIMEOUT_S``; the round goes on, the checkpoint is
published uncosigned by it and the refusal is logged."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from pnyx.transparency import witness_client
from pnyx.transparency.cosignature import generate_cosigner
from pnyx.transparency.witness_client import Witness, WitnessCollector
from pnyx.wiring import Platform


class Hostile(BaseHTTPRequestHandler):
    mode = "endless"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        chunk = b"\xe2\x80\x94 witness.example/w cosignature\n" * 1024
        try:
            for _ in range(10_000):  # about 400 MB unless the reader stops
                self.wfile.write(chunk if self.mode == "endless" else b"x")
                if self.mode == "trickle":
                    time.sleep(0.5)
        except OSError:
            pass  # the reader hung up

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode", ["endless", "trickle"])
def test_a_hostile_witness_neither_fills_memory_nor_holds_the_round(
    platform: Platform,
    hostile: tuple[ThreadingHTTPServer, str],
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(Hostile, "mode", mode)
    monkeypatch.setattr(witness_client, "ANSWER_TIMEOUT_S", 2.0)
    assert platform.log.signer is not None
    for i in range(3):
        platform.identity.register_user(name=f"citizen{i}", roles=["researcher"])
    platform.log.drain(batch=7)
    key = generate_cosigner("witness.example/w")
    with httpx.Client(timeout=30) as client, caplog.at_level(logging.WARNING, "pnyx.witnesses"):
        began = time.monotonic()
        found = WitnessCollector(platform.log, [Witness(hostile[1], key.verifier)], client).collect()
        took = time.monotonic() - began
    assert found is not None
    assert found.cosigned == ()
    assert found.missing == (key.verifier.name,)
    assert took < 15  # the deadline held, not the client's per-read timeout of 30 s
    said = "over 16384 bytes" if mode == "endless" else "no whole answer within 2 s"
    assert said in caplog.text
