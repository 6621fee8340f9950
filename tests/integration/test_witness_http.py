"""The witness's HTTP edge in-process (attack1 findings 6 and 7): one Content-Length of ASCII digits or
a 400 (never a dropped request), and half-sent requests neither hold its threads past the socket
timeout nor keep a good request from being answered; beyond the connection cap, a 503."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pnyx.cli.witness import WitnessServer, build_service, handler
from pnyx.transparency import merkle
from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.note import NoteSigner, generate_signer
from pnyx.transparency.witness import create_witness_key
from pnyx.transparency.witness_rules import format_request

ORIGIN = "log.example/http"
LOG = NoteSigner.from_skey(generate_signer(ORIGIN)[0])


def good_body(size: int = 1) -> bytes:
    """A first checkpoint of a log the witness watches: cosigned (200)."""
    root = merkle.root_from_leaf_hashes([merkle.leaf_hash(b"entry %d" % i) for i in range(size)])
    return format_request(0, [], LOG.sign(Checkpoint(origin=ORIGIN, size=size, root=root).body()))


class Served:
    """A witness on a free port, served from a thread."""

    def __init__(self, tmp: Path, timeout_s: float, max_connections: int) -> None:
        create_witness_key(tmp / "key", "witness.example")
        service = build_service(tmp / "key", {ORIGIN: [LOG.verifier]}, tmp / "state")
        self.server = WitnessServer(("127.0.0.1", 0), handler(service, timeout_s), max_connections)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/add-checkpoint"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def raw(self, head: bytes, body: bytes) -> bytes:
        """What the witness answers a request sent byte for byte, read until it closes."""
        with self.connect() as s:
            s.sendall(head + b"\r\n\r\n" + body)
            return read_all(s)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(4096):
        out += chunk
    return out


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[float, int], Served]]:
    made: list[Served] = []

    def start(timeout_s: float, max_connections: int) -> Served:
        made.append(Served(tmp_path / str(len(made)), timeout_s, max_connections))
        return made[-1]

    yield start
    for served in made:
        served.close()


HEAD = b"POST /add-checkpoint HTTP/1.1\r\nHost: witness"


@pytest.mark.parametrize(
    "lengths",
    [
        [b"\xb2"],  # superscript two: str.isdigit() says yes, int() raises
        [b"+{n}"],
        [b"-1"],
        [b"0x10"],
        [b"1_0"],
        [b"{n}.0"],
        [b"0000000{n}"],  # ten characters
        [b"{n}", b"{n}"],  # twice, even alike
        [b"{n}", b"900000"],  # twice, different: which would a proxy take?
    ],
)
def test_a_length_of_anything_but_one_run_of_ascii_digits_is_a_400(
    serve: Callable[[float, int], Served], lengths: list[bytes]
) -> None:
    served, body = serve(5.0, 8), good_body()
    n = str(len(body)).encode()
    head = HEAD + b"".join(b"\r\nContent-Length: " + v.replace(b"{n}", n) for v in lengths)
    assert served.raw(head, body).startswith(b"HTTP/1.1 400 ")
    assert httpx.post(served.url, content=body, timeout=5).status_code == 200  # alive, and nothing taken


def test_missing_chunked_and_oversized_lengths_keep_their_codes(
    serve: Callable[[float, int], Served],
) -> None:
    served, body = serve(5.0, 8), good_body()
    assert served.raw(HEAD, body).startswith(b"HTTP/1.1 411 ")
    chunked = HEAD + b"\r\nTransfer-Encoding: chunked"
    assert served.raw(chunked, b"0\r\n\r\n").startswith(b"HTTP/1.1 411 ")
    both = HEAD + b"\r\nTransfer-Encoding: chunked\r\nContent-Length: %d" % len(body)
    assert served.raw(both, body).startswith(b"HTTP/1.1 400 ")
    assert served.raw(HEAD + b"\r\nContent-Length: 100000", body).startswith(b"HTTP/1.1 413 ")
    exact = served.raw(HEAD + b"\r\nContent-Length: %d\r\nConnection: close" % len(body), body)
    assert exact.startswith(b"HTTP/1.1 200 ")


def test_half_sent_requests_are_closed_after_the_timeout_and_a_good_one_is_answered(
    serve: Callable[[float, int], Served],
) -> None:
    served, body = serve(0.5, 8), good_body()
    half = [served.connect() for _ in range(3)]
    for s in half:
        s.sendall(HEAD + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
    assert httpx.post(served.url, content=body, timeout=5).status_code == 200
    started = time.monotonic()
    for s in half:
        with s:
            assert read_all(s) == b""  # closed by the witness, nothing answered
    assert time.monotonic() - started < 3


def test_connections_beyond_the_cap_get_a_503_and_freed_slots_serve_again(
    serve: Callable[[float, int], Served],
) -> None:
    served, body = serve(1.0, 2), good_body()
    idle = [served.connect() for _ in range(2)]
    time.sleep(0.2)  # both accepted, each holding a slot
    with served.connect() as extra:
        assert read_all(extra).startswith(b"HTTP/1.1 503 ")
    started = time.monotonic()
    for s in idle:
        with s:
            assert read_all(s) == b""  # the socket timeout closes them
    assert time.monotonic() - started < 4
    deadline = time.monotonic() + 5
    while (status := httpx.post(served.url, content=body, timeout=5).status_code) == 503:
        assert time.monotonic() < deadline, "the slots never came back"
        time.sleep(0.05)
    assert status == 200
