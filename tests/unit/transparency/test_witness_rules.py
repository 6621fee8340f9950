"""tlog-witness add-checkpoint: the request format and the witness's decision, with real trees."""

from __future__ import annotations

import base64

import pytest

from pnyx.transparency import merkle
from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.note import NoteSigner, NoteVerifier, generate_signer
from pnyx.transparency.witness_rules import (
    MAX_PROOF_LINES,
    Accepted,
    AddCheckpoint,
    MalformedRequest,
    Refused,
    WitnessedState,
    decide,
    format_request,
    parse_request,
    parse_size,
)

ORIGIN = "log.example/test"
LOG = NoteSigner.from_skey(generate_signer(ORIGIN)[0])
LOGS: dict[str, list[NoteVerifier]] = {ORIGIN: [LOG.verifier]}


class Tree:
    """An in-memory log: leaves, roots at any size, consistency proofs."""

    def __init__(self, entries: list[bytes]) -> None:
        leaves = [merkle.leaf_hash(e) for e in entries]
        nodes = merkle.append_nodes([], 0, leaves)
        self.reader = merkle.DictNodeReader({(lv, i): h for lv, i, h in nodes})
        self.size = len(entries)

    def root(self, size: int) -> bytes:
        return merkle.root(self.reader, size)

    def note(self, size: int, signer: NoteSigner = LOG) -> str:
        return signer.sign(Checkpoint(origin=signer.name, size=size, root=self.root(size)).body())

    def request(self, old: int, size: int) -> AddCheckpoint:
        proof = merkle.consistency_proof(self.reader, old, size) if 0 < old < size else []
        return parse_request(format_request(old, proof, self.note(size)))

    def state(self, size: int) -> dict[str, WitnessedState]:
        return {ORIGIN: WitnessedState(size=size, root=self.root(size))}


REAL = Tree([f"entry {i}".encode() for i in range(40)])
FORK = Tree([f"entry {i}".encode() for i in range(20)] + [f"forged {i}".encode() for i in range(30)])


def test_request_round_trips() -> None:
    hashes = [bytes([i]) * 32 for i in range(3)]
    note = REAL.note(9)
    body = format_request(7, hashes, note)
    assert body.decode().startswith("old 7\n" + base64.b64encode(hashes[0]).decode() + "\n")
    assert parse_request(body) == AddCheckpoint(old_size=7, proof=tuple(hashes), note=note)
    assert parse_request(format_request(0, [], note)) == AddCheckpoint(old_size=0, proof=(), note=note)


@pytest.mark.parametrize(
    "body",
    [
        b"old 07\n\nx\n",
        b"old -1\n\nx\n",
        b"old 1\n",  # no blank line
        b"new 1\n\nx\n",
        b"old 1\nnot-base64!\n\nx\n",
        b"old 1\n" + base64.b64encode(b"short") + b"\n\nx\n",
        b"old 1\n\xff\n\nx\n",
        (
            "old 1\n" + (base64.b64encode(b"\0" * 32).decode() + "\n") * (MAX_PROOF_LINES + 1) + "\nx\n"
        ).encode(),
    ],
)
def test_malformed_requests_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_request(body)


def test_first_checkpoint_is_accepted_and_recorded() -> None:
    decision = decide(REAL.request(0, 10), LOGS, {})
    assert isinstance(decision, Accepted)
    assert decision.state == WitnessedState(size=10, root=REAL.root(10))
    assert decision.body == REAL.note(10).rpartition("\n\n")[0] + "\n"


@pytest.mark.parametrize(("old", "new"), [(1, 2), (3, 17), (16, 40), (10, 10), (39, 40)])
def test_a_consistent_extension_is_accepted(old: int, new: int) -> None:
    decision = decide(REAL.request(old, new), LOGS, REAL.state(old))
    assert isinstance(decision, Accepted)
    assert decision.state.size == new


def test_a_different_old_size_is_a_409_with_the_recorded_size() -> None:
    decision = decide(REAL.request(5, 10), LOGS, REAL.state(8))
    assert decision == Refused(status=409, reason="the witness last cosigned size 8", size=8)
    assert parse_size("8\n") == 8


def test_a_fork_at_the_same_size_is_a_409() -> None:
    forked = FORK.request(30, 30)
    decision = decide(forked, LOGS, REAL.state(30))
    assert isinstance(decision, Refused)
    assert decision.status == 409


def test_a_fork_at_a_larger_size_is_a_422() -> None:
    forked = FORK.request(30, 50)  # a proof from the fork's own size 30
    decision = decide(forked, LOGS, REAL.state(30))
    assert isinstance(decision, Refused)
    assert decision.status == 422


def test_a_proof_from_zero_must_be_empty() -> None:
    request = AddCheckpoint(old_size=0, proof=(b"\0" * 32,), note=REAL.note(4))
    decision = decide(request, LOGS, {})
    assert isinstance(decision, Refused)
    assert decision.status == 422


def test_old_above_size_is_a_400() -> None:
    request = AddCheckpoint(old_size=11, proof=(), note=REAL.note(10))
    decision = decide(request, LOGS, REAL.state(11))
    assert isinstance(decision, Refused)
    assert decision.status == 400


def test_unknown_origin_is_a_404() -> None:
    stranger = NoteSigner.from_skey(generate_signer("elsewhere.example")[0])
    request = AddCheckpoint(old_size=0, proof=(), note=REAL.note(3, stranger))
    decision = decide(request, LOGS, {})
    assert isinstance(decision, Refused)
    assert decision.status == 404


def test_a_checkpoint_signed_by_another_key_is_a_403() -> None:
    impostor = NoteSigner.from_skey(generate_signer(ORIGIN)[0])  # same origin, stolen name, other key
    request = AddCheckpoint(old_size=0, proof=(), note=REAL.note(3, impostor))
    decision = decide(request, LOGS, {})
    assert isinstance(decision, Refused)
    assert decision.status == 403


def test_a_broken_signature_is_a_403() -> None:
    note = REAL.note(3)
    body, _, sigs = note.rpartition("\n\n")
    tampered = body.replace("\n3\n", "\n4\n") + "\n\n" + sigs
    decision = decide(AddCheckpoint(old_size=0, proof=(), note=tampered), LOGS, {})
    assert isinstance(decision, Refused)
    assert decision.status == 403


def test_a_malformed_checkpoint_is_a_400() -> None:
    decision = decide(AddCheckpoint(old_size=0, proof=(), note="not a note"), LOGS, {})
    assert isinstance(decision, Refused)
    assert decision.status == 400
