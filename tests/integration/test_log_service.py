"""The log service on SQLite and PostgreSQL: every event becomes exactly one entry, in order."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from pnyx.core.errors import Conflict, IntegrityFailure, InvalidInput, NotFound
from pnyx.transparency import merkle, verification
from pnyx.transparency.checkpoint import parse_checkpoint
from pnyx.transparency.note import open_note
from pnyx.transparency.store import log_entries, log_nodes
from pnyx.wiring import Platform


def _admit(platform: Platform, code: str, name: str) -> None:
    platform.member_states.admit(code=code, name=name, contribution_minor_units=100, population=10)


def test_every_event_becomes_one_entry_in_order(platform: Platform) -> None:
    for i, code in enumerate(["AA", "BB", "CC"]):
        _admit(platform, code, f"State {i}")
    platform.identity.register_user(name="ada", roles=["researcher"])
    assert platform.log.size() == 0

    result = platform.log.append_pending()

    assert (result.appended, result.size) == (4, 4)
    types = [e.event_type for e in platform.log.entries(0, 10)]
    assert types == ["governance.member_state.admitted"] * 3 + ["identity.user.registered"]
    codes = [json.loads(e.data)["data"].get("code") for e in platform.log.entries(0, 3)]
    assert codes == ["AA", "BB", "CC"]
    assert platform.log.append_pending().appended == 0  # nothing twice


def test_entries_are_canonical_json_with_time(platform: Platform) -> None:
    _admit(platform, "AA", "Aland")
    platform.log.drain()
    entry = platform.log.entry(0)
    decoded = json.loads(entry.data)
    assert decoded["type"] == "governance.member_state.admitted"
    assert decoded["occurred_at"] == "2026-11-25T09:00:00.000000Z"
    assert entry.data == json.dumps(decoded, sort_keys=True, separators=(",", ":")).encode()


def test_checkpoint_is_signed_and_matches_the_tree(platform: Platform) -> None:
    for i in range(5):
        _admit(platform, f"A{chr(65 + i)}", f"S{i}")
    platform.log.drain()
    signed = platform.log.checkpoint()
    assert platform.log.signer is not None
    body, names = open_note(signed.note, [platform.log.signer.verifier])
    checkpoint = parse_checkpoint(body)
    assert names == ["test.pnyx.example/log"]
    assert (checkpoint.size, checkpoint.root) == (5, signed.root)
    leaves = [merkle.leaf_hash(e.data) for e in platform.log.entries(0, 5)]
    assert checkpoint.root == merkle.root_from_leaf_hashes(leaves)


def test_proofs_verify_against_signed_roots(platform: Platform) -> None:
    sizes = []
    for batch in range(6):
        for i in range(batch + 1):
            platform.identity.register_user(name=f"u{batch}x{i}", roles=["researcher"])
        sizes.append(platform.log.append_pending().size)
    last = sizes[-1]
    for index in range(last):
        proof = platform.log.inclusion_proof(index)
        verification.verify_inclusion(proof.leaf_hash, index, last, proof.hashes, proof.root)
        assert proof.leaf_hash == merkle.leaf_hash(platform.log.entry(index).data)
    for first in sizes:
        c = platform.log.consistency_proof(first)
        verification.verify_consistency(first, last, c.hashes, c.first_root, c.second_root)
    with pytest.raises(InvalidInput):
        platform.log.inclusion_proof(last)
    with pytest.raises(InvalidInput):
        platform.log.consistency_proof(0)


def test_a_failed_use_case_leaves_no_event(platform: Platform) -> None:
    _admit(platform, "AA", "Aland")
    with pytest.raises(Conflict):
        _admit(platform, "AA", "Aland again")
    assert platform.log.drain() == 1


def test_tiles_serve_hashes_and_entry_bundles(platform: Platform) -> None:
    for i in range(300):
        platform.identity.register_user(name=f"user{i:03d}", roles=["researcher"])
    platform.log.drain(batch=128)
    full = platform.log.tile("0/000")
    assert len(full) == 256 * 32
    assert full[:32] == merkle.leaf_hash(platform.log.entry(0).data)
    partial = platform.log.tile("0/001.p/44")
    assert len(partial) == 44 * 32
    bundle = platform.log.tile("entries/001.p/44")
    assert int.from_bytes(bundle[:2], "big") == len(platform.log.entry(256).data)
    assert len(platform.log.tile("1/000.p/1")) == 32
    for missing in ("0/001", "0/001.p/45", "1/000", "entries/002", "0/1", "x/000", "0/000.p/0"):
        with pytest.raises(NotFound):
            platform.log.tile(missing)


def test_refuses_to_sign_when_the_stored_tree_was_tampered(platform: Platform) -> None:
    for i in range(4):
        _admit(platform, f"A{chr(65 + i)}", f"S{i}")
    platform.log.drain()
    with platform.engine.begin() as conn:
        conn.execute(
            log_nodes.update().where(log_nodes.c.level == 2, log_nodes.c.idx == 0).values(hash=b"\x00" * 32)
        )
    _admit(platform, "ZZ", "Late")
    with pytest.raises(IntegrityFailure, match="refusing to sign"):
        platform.log.append_pending()
    assert platform.log.size() == 4  # nothing half-written


def test_time_moves_only_with_the_clock(platform: Platform) -> None:
    _admit(platform, "AA", "Aland")
    platform.log.drain()
    first = platform.log.checkpoint().signed_at
    platform.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    _admit(platform, "BB", "Bland")
    platform.log.drain()
    assert platform.log.checkpoint().signed_at - first == timedelta(hours=1)


def test_entry_count_matches_rows(platform: Platform) -> None:
    for i in range(50):
        platform.identity.register_user(name=f"n{i:02d}", roles=["auditor"])
    platform.log.drain(batch=7)
    with platform.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(log_entries)).scalar_one() == 50
        indexes = conn.execute(sa.select(log_entries.c.idx).order_by(log_entries.c.idx)).scalars().all()
    assert indexes == list(range(50))
