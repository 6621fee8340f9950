"""C2SP tlog-checkpoint bodies: formatting, strict parsing, and signing as a note."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pnyx.core.errors import InvalidInput
from pnyx.transparency.checkpoint import Checkpoint, MalformedCheckpoint, parse_checkpoint
from pnyx.transparency.merkle import leaf_hash
from pnyx.transparency.note import NoteSigner, NoteVerifier, generate_signer, open_note


def _vectors_dir() -> Path:
    env = os.environ.get("PNYX_VECTORS_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[3]
    for candidate in (root / ".." / "shared" / "vectors", root / "shared" / "vectors"):
        if candidate.is_dir():
            return candidate
    return root / ".." / "shared" / "vectors"


VECTORS = _vectors_dir() / "signed-note" / "vectors.json"
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()
LINE_CHARS = st.characters(min_codepoint=0x20, exclude_categories=["Cs"])
URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xff" * 32).decode()


def _format_cases() -> list[Any]:
    if not VECTORS.is_file():
        reason = f"no signed-note vectors at {VECTORS} (set PNYX_VECTORS_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [pytest.param(c, id=c["desc"]) for c in json.loads(VECTORS.read_text())["checkpoint_format"]]


@pytest.mark.parametrize("case", _format_cases())
def test_go_tlog_format_tree_vector(case: dict[str, Any]) -> None:
    origin = case["checkpoint_text"].split("\n")[0]
    checkpoint = Checkpoint(origin=origin, size=case["size"], root=leaf_hash(case["record"].encode()))
    assert checkpoint.body() == case["checkpoint_text"]
    assert parse_checkpoint(case["checkpoint_text"]) == checkpoint


def test_body_layout() -> None:
    checkpoint = Checkpoint(origin="example.com/log", size=0, root=ROOT, extensions=("ext one", "ext two"))
    assert checkpoint.body() == f"example.com/log\n0\n{ROOT_B64}\next one\next two\n"
    assert parse_checkpoint(checkpoint.body()) == checkpoint


@given(
    origin=st.text(LINE_CHARS, min_size=1, max_size=40),
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(LINE_CHARS, min_size=1, max_size=20),
        max_size=3,
    ),
)
def test_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(origin=origin, size=size, root=root, extensions=tuple(extensions))
    assert parse_checkpoint(checkpoint.body()) == checkpoint


@pytest.mark.parametrize(
    "body",
    [
        "",
        "example.com/log\n",
        "example.com/log\n5\n",
        f"example.com/log\n5\n{ROOT_B64}",
        f"\n5\n{ROOT_B64}\n",
        f"example.com/log\n05\n{ROOT_B64}\n",
        f"example.com/log\n00\n{ROOT_B64}\n",
        f"example.com/log\n-1\n{ROOT_B64}\n",
        f"example.com/log\n+1\n{ROOT_B64}\n",
        f"example.com/log\n1_000\n{ROOT_B64}\n",
        f"example.com/log\n 5\n{ROOT_B64}\n",
        f"example.com/log\n\u0665\n{ROOT_B64}\n",
        f"example.com/log\n{2**64}\n{ROOT_B64}\n",
        f"example.com/log\n\n{ROOT_B64}\n",
        "example.com/log\n5\n\n",
        f"example.com/log\n5\n{ROOT_B64[:-1]}\n",
        f"example.com/log\n5\n{ROOT_B64} \n",
        f"example.com/log\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"example.com/log\n5\n{base64.b64encode(ROOT + b'x').decode()}\n",
        f"example.com/log\n5\n{URLSAFE_ROOT}\n",
        f"example.com/log\n5\n{ROOT_B64[:-2]}B=\n",  # non-canonical: non-zero padding bits
        f"example.com/log\n5\n{ROOT_B64}\n\n",
        f"example.com/log\n5\n{ROOT_B64}\next\n\n",
        f"example.com/log\n5\n{ROOT_B64}\nex\tt\n",
        f"exa\rmple.com/log\n5\n{ROOT_B64}\n",
    ],
)
def test_strict_parsing(body: str) -> None:
    with pytest.raises(MalformedCheckpoint):
        parse_checkpoint(body)


def test_fields_are_validated() -> None:
    for kwargs in [
        {"origin": "", "size": 1, "root": ROOT},
        {"origin": "a\nb", "size": 1, "root": ROOT},
        {"origin": "a", "size": -1, "root": ROOT},
        {"origin": "a", "size": 2**64, "root": ROOT},
        {"origin": "a", "size": True, "root": ROOT},
        {"origin": "a", "size": 1, "root": ROOT[:31]},
        {"origin": "a", "size": 1, "root": ROOT, "extensions": ("",)},
        {"origin": "a", "size": 1, "root": ROOT, "extensions": ("x\ny",)},
        {"origin": "\ud800", "size": 1, "root": ROOT},
    ]:
        with pytest.raises(MalformedCheckpoint):
            Checkpoint(**kwargs)  # type: ignore[arg-type]
    assert issubclass(MalformedCheckpoint, InvalidInput)


def test_signed_checkpoint_round_trip() -> None:
    skey, vkey = generate_signer("example.com/log")
    checkpoint = Checkpoint(origin="example.com/log", size=123, root=ROOT)
    note = NoteSigner.from_skey(skey).sign(checkpoint.body())
    text, names = open_note(note, [NoteVerifier.from_vkey(vkey)])
    assert names == ["example.com/log"]
    assert parse_checkpoint(text) == checkpoint
