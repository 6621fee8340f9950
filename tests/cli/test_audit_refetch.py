"""The replay reads exactly the entries the audit verified (issue 14): every entry bundle is fetched
twice, once by the audit and once by the replay, and a server that answers the second fetch otherwise
(an entry changed or withheld) is refused at the entry's index by ``pnyx audit replay``, ``pnyx
simulate --from-log`` and the standalone auditor alike, never replayed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pnyx.audit import bundle
from pnyx.cli.log_source import log_keys
from pnyx.cli.main import app
from pnyx.cli.sim_log import read_log
from pnyx.core.errors import IntegrityFailure
from pnyx.transparency import merkle, tiles
from tests.cli.test_log_limits import VKEY, Answer, Hostile, _send, _signed
from tests.unit.audit.test_bundle import isolated

ENTRIES = [json.dumps({"type": "demo.note", "data": {"n": i}}).encode() for i in range(300)]
FORGED = json.dumps({"type": "demo.note", "data": {"n": "forged"}}).encode()
LIED_AT = 258  # in the second entry bundle


def _bundle(entries: Sequence[bytes]) -> bytes:
    return b"".join(len(e).to_bytes(2, "big") + e for e in entries)


def _log(entries: Sequence[bytes]) -> dict[str, Answer]:
    """A consistent log of ``entries``: its signed checkpoint, entry bundles and hash tiles."""
    size, nodes = len(entries), [merkle.leaf_hash(e) for e in entries]
    answers = {"checkpoint": _send(_signed(size, merkle.root_from_leaf_hashes(nodes)))}
    for ref in tiles.tiles_for_size(None, size):
        start, end = tiles.tile_entry_range(ref)
        answers[f"tile/{ref.path}"] = _send(_bundle(entries[start:end]))
    for level in tiles.tile_levels(size):
        if level:
            nodes = [
                merkle.root_from_leaf_hashes(nodes[i : i + 256]) for i in range(0, len(nodes) - 255, 256)
            ]
        for ref in tiles.tiles_for_size(level, size):
            answers[f"tile/{ref.path}"] = _send(
                b"".join(nodes[ref.index * 256 : ref.index * 256 + ref.count])
            )
    return answers


def _second_bundle_path() -> str:
    return f"tile/{list(tiles.tiles_for_size(None, len(ENTRIES)))[1].path}"


def _switching(then: bytes) -> Answer:
    """The honest second bundle to the first fetch (the audit's), ``then`` to every later one."""
    honest, asked = _send(_bundle(ENTRIES[256:])), list[int]()

    def answer(h: BaseHTTPRequestHandler) -> None:
        asked.append(1)
        (honest if len(asked) == 1 else _send(then))(h)

    return answer


LIES = {
    "changed": (_bundle([*ENTRIES[256:LIED_AT], FORGED, *ENTRIES[LIED_AT + 1 :]]), "differs"),
    "withheld": (_bundle(ENTRIES[256:LIED_AT]), "is missing"),
}


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


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "pnyx-audit.pyz"
    bundle.write(bundle.plan(), out)
    return out


def _lying(server: Callable[[dict[str, Answer]], Hostile], lie: str) -> Hostile:
    return server({**_log(ENTRIES), _second_bundle_path(): _switching(LIES[lie][0])})


def _refusal(lie: str) -> str:
    return (
        f"entry {LIED_AT} {LIES[lie][1]} when fetched again for the replay: not the entry the audit verified"
    )


def test_an_honest_server_replays(server: Callable[[dict[str, Answer]], Hostile], pyz: Path) -> None:
    hostile = server(_log(ENTRIES))
    result = CliRunner().invoke(app, ["audit", "replay", hostile.url, "--key", VKEY])
    assert result.exit_code == 0, result.output
    assert "0 decision records in 300 entries" in result.output
    assert hostile.paths.count(_second_bundle_path()) == 2  # the audit's fetch, then the replay's
    ran = isolated(str(pyz), hostile.url, "--key", VKEY)
    assert ran.returncode == 0, ran.stdout + ran.stderr


@pytest.mark.parametrize("lie", sorted(LIES))
def test_pnyx_audit_replay_refuses_a_bundle_served_otherwise(
    server: Callable[[dict[str, Answer]], Hostile], lie: str
) -> None:
    result = CliRunner().invoke(app, ["audit", "replay", _lying(server, lie).url, "--key", VKEY])
    assert isinstance(result.exception, IntegrityFailure), result.output
    assert result.exception.code == "log_changed_after_audit"
    assert _refusal(lie) in result.exception.message


@pytest.mark.parametrize("lie", sorted(LIES))
def test_the_standalone_auditor_refuses_a_bundle_served_otherwise(
    server: Callable[[dict[str, Answer]], Hostile], pyz: Path, lie: str
) -> None:
    ran = isolated(str(pyz), _lying(server, lie).url, "--key", VKEY)
    assert ran.returncode == 7, ran.stdout + ran.stderr  # ErrorKind.INTEGRITY, as the CLI's
    assert f"error (log_changed_after_audit): {_refusal(lie)}" in ran.stderr
    assert "OK" not in ran.stdout


def test_simulate_from_log_refuses_a_bundle_served_otherwise(
    server: Callable[[dict[str, Answer]], Hostile],
) -> None:
    with pytest.raises(IntegrityFailure, match=_refusal("changed")):
        read_log(_lying(server, "changed").url, log_keys(VKEY, [], None))
