"""The log's HTTP face: tlog-tiles paths, the key, JSON entries and proofs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pnyx.transparency import verification
from pnyx.transparency.checkpoint import parse_checkpoint
from pnyx.transparency.note import NoteVerifier, open_note
from pnyx.wiring import Platform


def _seed(platform: Platform, n: int) -> None:
    for i in range(n):
        platform.identity.register_user(name=f"user{i:03d}", roles=["researcher"])
    platform.log.drain()


def test_empty_log(client: TestClient) -> None:
    response = client.get("/log/checkpoint")
    assert response.status_code == 404
    assert response.json()["code"] == "log_empty"


def test_checkpoint_key_and_tiles(client: TestClient, platform: Platform) -> None:
    _seed(platform, 260)
    key = client.get("/log/key").text.strip()
    note = client.get("/log/checkpoint")
    assert note.headers["content-type"].startswith("text/plain")
    body, _ = open_note(note.text, [NoteVerifier.from_vkey(key)])
    checkpoint = parse_checkpoint(body)
    assert checkpoint.size == 260
    tile = client.get("/log/tile/0/000")
    assert tile.headers["content-type"] == "application/octet-stream"
    assert "immutable" in tile.headers["cache-control"]
    assert len(tile.content) == 256 * 32
    assert len(client.get("/log/tile/0/001.p/4").content) == 4 * 32
    assert len(client.get("/log/tile/entries/001.p/4").content) > 8
    for path in (
        "/log/tile/0/002",
        "/log/tile/0/001.p/5",
        "/log/tile/9/000",
        "/log/tile/0/1",
        "/log/tile/0/x000/001",
        "/log/tile/banana",
        "/log/tiles/0/000",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


def test_entry_and_proofs(client: TestClient, platform: Platform) -> None:
    _seed(platform, 10)
    entry = client.get("/api/v1/log/entries/3").json()
    assert entry["type"] == "identity.user.registered"
    assert entry["entry"]["data"]["name"] == "user003"
    proof = client.get("/api/v1/log/proofs/inclusion/3").json()
    verification.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        3,
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["proof"]],
        bytes.fromhex(proof["root_hash"]),
    )
    assert proof["leaf_hash"] == entry["leaf_hash"]
    cons = client.get("/api/v1/log/proofs/consistency", params={"first": 4, "second": 10}).json()
    verification.verify_consistency(
        4,
        10,
        [bytes.fromhex(h) for h in cons["proof"]],
        bytes.fromhex(cons["first_root"]),
        bytes.fromhex(cons["second_root"]),
    )
    assert len(client.get("/api/v1/log/entries", params={"start": 8, "count": 5}).json()) == 2


def test_bad_log_queries(client: TestClient, platform: Platform) -> None:
    _seed(platform, 3)
    assert client.get("/api/v1/log/entries/99").status_code == 404
    assert client.get("/api/v1/log/entries/abc").json()["field"] == "path.index"
    assert client.get("/api/v1/log/proofs/inclusion/5").json()["field"] == "index"
    response = client.get("/api/v1/log/proofs/consistency", params={"first": 2, "second": 9})
    assert (response.status_code, response.json()["field"]) == (400, "second")
    assert client.get("/api/v1/log/proofs/consistency").json()["field"] == "query.first"
    assert client.get("/api/v1/log/entries", params={"count": 5000}).status_code == 422


def test_huge_numbers_are_bad_input_not_server_errors(client: TestClient, platform: Platform) -> None:
    _seed(platform, 2)
    huge = "99999999999999999999"
    for path in (
        f"/api/v1/log/entries/{huge}",
        f"/api/v1/log/entries?start={huge}",
        f"/api/v1/log/proofs/inclusion/{huge}",
        f"/api/v1/log/proofs/consistency?first={huge}",
    ):
        response = client.get(path)
        assert response.status_code == 422, path
        assert response.headers["content-type"] == "application/problem+json"
    page = client.get(f"/portal/log/entries/{huge}")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert client.get("/portal/nope").headers["content-type"].startswith("text/html")
