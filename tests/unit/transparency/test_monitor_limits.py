"""The monitor's limits (pure): the largest tree it audits, the tile count done by arithmetic, the caps."""

from __future__ import annotations

import pytest

from pnyx.transparency import limits, tiles
from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.monitor import audit
from pnyx.transparency.note import MalformedNote, NoteSigner, NoteVerifier, generate_signer

ORIGIN = "limits.example/log"


class Served:
    """A signed checkpoint of ``size`` entries and empty bytes at every other path; records the paths."""

    def __init__(self, size: int) -> None:
        skey, vkey = generate_signer(ORIGIN)
        self.verifier = NoteVerifier.from_vkey(vkey)
        body = Checkpoint(origin=ORIGIN, size=size, root=b"\0" * 32).body()
        self.note = NoteSigner.from_skey(skey).sign(body).encode()
        self.paths: list[str] = []

    def get(self, path: str) -> bytes:
        self.paths.append(path)
        return self.note if path == "checkpoint" else b""


def test_a_checkpoint_above_max_size_is_refused_before_any_tile() -> None:
    served = Served(2**63)
    report = audit(served, served.verifier)
    assert not report.ok
    assert served.paths == ["checkpoint"]
    assert "9,223,372,036,854,775,808 entries, more than the 100,000,000" in report.problems[0].message


def test_max_size_is_inclusive() -> None:
    served = Served(300)
    admitted = audit(served, served.verifier, max_size=300)
    assert not [p.message for p in admitted.problems if "more than" in p.message]
    refused = audit(served, served.verifier, max_size=299)
    assert [p.message for p in refused.problems if "more than the 299" in p.message]


@pytest.mark.parametrize("size", [0, 1, 255, 256, 257, 256 * 256, 256 * 256 + 1, 3 * 256 * 256 + 5])
def test_the_tile_total_is_the_number_of_tiles_fetched(size: int) -> None:
    served = Served(size)
    totals: set[int] = set()
    audit(served, served.verifier, progress=lambda _done, total: totals.add(total), max_size=size)
    fetched = [p for p in served.paths if p.startswith("tile/")]
    levels = [None, *tiles.tile_levels(size)]
    enumerated = sum(1 for level in levels for _ in tiles.tiles_for_size(level, size))
    assert len(fetched) == enumerated
    assert totals <= {enumerated}
    assert totals or size == 0


def test_a_checkpoint_that_is_not_utf8_is_a_malformed_note() -> None:
    served = Served(1)
    served.note = b"\xff\xfe" + served.note
    with pytest.raises(MalformedNote, match="not UTF-8"):
        audit(served, served.verifier)


@pytest.mark.parametrize(
    ("path", "cap"),
    [
        ("checkpoint", 16 * 1024),
        ("key", 4 * 1024),
        ("tile/0/000", 256 * 32),
        ("tile/3/x001/234.p/7", 256 * 32),
        ("tile/entries/000", 256 * (2 + 65535)),
        ("tile/entries/x001/000.p/9", 256 * (2 + 65535)),
        ("something/else", 4 * 1024),
    ],
)
def test_caps_by_kind_of_path(path: str, cap: int) -> None:
    assert limits.max_bytes(path) == cap
