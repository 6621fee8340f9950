"""The fast Merkle code against a naive RFC 9162 tree, the RFC 6962 reference vectors and the
transparency-dev/merkle verification probes."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pnyx.core.errors import FacilityError, IntegrityFailure, InvalidInput
from pnyx.transparency import merkle as m
from pnyx.transparency import verification as v
from pnyx.transparency.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    BadHashSize,
    DictNodeReader,
    IndexOutOfRange,
    NodeStoreError,
    ProofError,
    RootMismatch,
    WrongProofSize,
)


def _vectors_dir() -> Path:
    env = os.environ.get("PNYX_VECTORS_DIR")
    if env:
        return Path(env)
    root = Path(__file__).resolve().parents[3]
    for candidate in (root / ".." / "shared" / "vectors", root / "shared" / "vectors"):
        if candidate.is_dir():
            return candidate
    return root / ".." / "shared" / "vectors"


VECTORS = _vectors_dir()
REFERENCE = VECTORS / "rfc6962-reference" / "reference.json"
PROBES = VECTORS / "transparency-dev-merkle" / "testdata"
needs_reference = pytest.mark.skipif(not REFERENCE.is_file(), reason=f"no RFC 6962 vectors at {REFERENCE}")


def _probe_files(kind: str) -> list[Any]:
    files = sorted((PROBES / kind).rglob("*.json")) if (PROBES / kind).is_dir() else []
    if not files:
        reason = f"no transparency-dev/merkle {kind} probes under {PROBES} (set PNYX_VECTORS_DIR)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [pytest.param(f, id=str(f.relative_to(PROBES / kind))) for f in files]


# --- a naive tree, straight from RFC 9162 §2.1 -------------------------------------------------------


def _k(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (RFC 9162 §2.1.1)."""
    n = len(d)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return d[0]
    k = _k(n)
    return m.node_hash(mth(d[:k]), mth(d[k:]))


def path(i: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1)."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if i < k:
        return [*path(i, d[:k]), mth(d[k:])]
    return [*path(i - k, d[k:]), mth(d[:k])]


def subproof(i: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1)."""
    n = len(d)
    if i == n:
        return [] if b else [mth(d)]
    k = _k(n)
    if i <= k:
        return [*subproof(i, d[:k], b), mth(d[k:])]
    return [*subproof(i - k, d[k:], False), mth(d[:k])]


def complete_nodes(d: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree hash of the tree over ``d``."""
    out: dict[tuple[int, int], bytes] = {}
    level = 0
    while (1 << level) <= len(d):
        width = 1 << level
        for index in range(len(d) // width):
            out[level, index] = mth(d[index * width : (index + 1) * width])
        level += 1
    return out


def leaves(n: int) -> list[bytes]:
    return [m.leaf_hash(b"leaf %d" % i) for i in range(n)]


def build(d: Sequence[bytes], batches: Sequence[int] = ()) -> dict[tuple[int, int], bytes]:
    """Append ``d`` in batches of the given sizes (the rest in one batch) through a reader."""
    table: dict[tuple[int, int], bytes] = {}
    size = 0
    for count in [*batches, len(d)]:
        batch = d[size : size + count]
        for level, index, h in m.append_from_reader(DictNodeReader(table), size, batch):
            assert (level, index) not in table
            table[level, index] = h
        size += len(batch)
    return table


class CountingReader:
    def __init__(self, table: dict[tuple[int, int], bytes]) -> None:
        self.table = table
        self.calls: list[list[tuple[int, int]]] = []

    def nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        self.calls.append(list(keys))
        return [self.table[k] for k in keys]


# --- hashing and the RFC 6962 reference tree --------------------------------------------------------


@cache
def _reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REFERENCE.read_text())
    return data


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@needs_reference
def test_hasher_cases() -> None:
    for case in _reference()["hasher_cases"]:
        want = bytes.fromhex(case["want"])
        if "left_ascii" in case:
            assert m.node_hash(case["left_ascii"].encode(), case["right_ascii"].encode()) == want
        elif "leaf_ascii" in case:
            assert m.leaf_hash(case["leaf_ascii"].encode()) == want
        elif "leaf_hex" in case:
            assert m.leaf_hash(bytes.fromhex(case["leaf_hex"])) == want
        else:
            assert want == EMPTY_ROOT


@needs_reference
@pytest.mark.parametrize("batches", [(), (1, 1, 1, 1, 1, 1, 1), (3, 2), (5,), (0, 8)])
def test_reference_tree_nodes_and_roots(batches: tuple[int, ...]) -> None:
    ref = _reference()
    d = [m.leaf_hash(bytes.fromhex(x)) for x in ref["leaves"]]
    table = build(d, batches)
    want = {(lv, i): bytes.fromhex(h) for lv, row in enumerate(ref["node_hashes"]) for i, h in enumerate(row)}
    assert table == want
    for size, h in enumerate(ref["root_by_size"]):
        assert m.root(DictNodeReader(table), size).hex() == h


# --- the transparency-dev/merkle probes -----------------------------------------------------------------


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(raw: list[str] | None) -> list[bytes]:
    return [_b64(p) for p in raw or []]


def _reference_table() -> dict[tuple[int, int], bytes]:
    return build([m.leaf_hash(bytes.fromhex(x)) for x in _reference()["leaves"]])


def _is_reference_root(size: int, root: bytes) -> bool:
    if not REFERENCE.is_file():
        return False
    roots = _reference()["root_by_size"]
    return size < len(roots) and bool(roots[size] == root.hex())


@pytest.mark.parametrize("probe", _probe_files("inclusion"))
def test_inclusion_probe(probe: Path) -> None:
    case = json.loads(probe.read_text())
    args = (
        _b64(case["leafHash"]),
        case["leafIdx"],
        case["treeSize"],
        _proof(case["proof"]),
        _b64(case["root"]),
    )
    if case["wantErr"]:
        with pytest.raises(ProofError):
            v.verify_inclusion(*args)
        return
    v.verify_inclusion(*args)
    leaf, index, size, proof, root = args
    assert v.root_from_inclusion_proof(leaf, index, size, proof) == root
    if _is_reference_root(size, root):
        assert m.inclusion_proof(DictNodeReader(_reference_table()), index, size) == proof


@pytest.mark.parametrize("probe", _probe_files("consistency"))
def test_consistency_probe(probe: Path) -> None:
    case = json.loads(probe.read_text())
    args = (case["size1"], case["size2"], _proof(case["proof"]), _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            v.verify_consistency(*args)
        return
    v.verify_consistency(*args)
    size1, size2, proof, _, root2 = args
    if _is_reference_root(size2, root2):
        assert m.consistency_proof(DictNodeReader(_reference_table()), size1, size2) == proof


# --- shapes and batching --------------------------------------------------------------------------------


def test_right_edge_keys() -> None:
    assert m.right_edge_keys(0) == []
    assert m.right_edge_keys(1) == [(0, 0)]
    assert m.right_edge_keys(8) == [(3, 0)]
    assert m.right_edge_keys(13) == [(3, 0), (2, 2), (0, 12)]
    assert m.right_edge_keys(2**64 - 1)[-1] == (0, 2**64 - 2)
    with pytest.raises(IndexOutOfRange):
        m.right_edge_keys(-1)
    with pytest.raises(IndexOutOfRange):
        m.right_edge_keys(2**64)


def test_subtree_keys_rejects_non_rfc_ranges() -> None:
    assert m.subtree_keys(8, 13) == ((2, 2), (0, 12))
    for begin, end in [(1, 3), (4, 4), (5, 4), (-1, 1), (4, 9)]:
        with pytest.raises(InvalidInput):
            m.subtree_keys(begin, end)


def test_append_needs_the_right_edge_of_the_claimed_size() -> None:
    d = leaves(5)
    table = build(d)
    edge = [(lv, i, table[lv, i]) for lv, i in m.right_edge_keys(5)]
    assert m.append_nodes(edge, 5, []) == []
    with pytest.raises(InvalidInput):
        m.append_nodes(edge, 6, d[:1])
    with pytest.raises(InvalidInput):
        m.append_nodes(edge[:1], 5, d[:1])
    with pytest.raises(BadHashSize):
        m.append_nodes(edge, 5, [b"short"])


def test_append_of_a_large_batch_is_linear() -> None:
    first = m.append_nodes([], 0, leaves(10_000))
    assert len(first) == m.complete_node_count(10_000)
    table = {(lv, i): h for lv, i, h in first}
    reader = CountingReader(table)
    more = m.append_from_reader(reader, 10_000, leaves(20_000)[10_000:])
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) == bin(10_000).count("1")
    assert len(more) == m.complete_node_count(20_000) - m.complete_node_count(10_000)
    assert len(more) < 2 * 10_000 + 64


def test_proofs_read_once_and_logarithmically() -> None:
    size = 1_000_003
    # A sparse store: only the nodes any proof for this size can touch, hashed from their key.
    reader = CountingReader(_KeyedTable())
    for index in (0, 1, 500_000, size - 2, size - 1):
        reader.calls.clear()
        proof = m.inclusion_proof(reader, index, size)
        assert len(reader.calls) == 1
        assert len(reader.calls[0]) <= 2 * size.bit_length()
        assert len(proof) <= size.bit_length()
    for size1 in (1, 2, 3, 777_777, size - 1, size):
        reader.calls.clear()
        m.consistency_proof(reader, size1, size)
        assert len(reader.calls) == (0 if size1 == size else 1)
        assert all(len(c) <= 2 * size.bit_length() for c in reader.calls)
    reader.calls.clear()
    m.root(reader, size)
    assert len(reader.calls) == 1


class _KeyedTable(dict[tuple[int, int], bytes]):
    def __missing__(self, key: tuple[int, int]) -> bytes:
        return m.leaf_hash(b"%d/%d" % key)


def test_missing_or_bad_nodes_are_store_errors() -> None:
    with pytest.raises(NodeStoreError):
        m.root(DictNodeReader({}), 3)
    with pytest.raises(NodeStoreError):
        m.inclusion_proof(DictNodeReader({(0, 0): b"x" * 31, (0, 1): b"y" * 32}), 1, 2)

    class Short:
        def nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
            return []

    with pytest.raises(NodeStoreError):
        m.root(Short(), 1)
    assert issubclass(NodeStoreError, IntegrityFailure)


def test_error_family() -> None:
    assert issubclass(RootMismatch, ProofError)
    assert issubclass(RootMismatch, IntegrityFailure)
    for cls in (WrongProofSize, IndexOutOfRange, BadHashSize):
        assert issubclass(cls, ProofError)
        assert issubclass(cls, InvalidInput)
    assert issubclass(ProofError, FacilityError)
    assert len({RootMismatch.code, WrongProofSize.code, IndexOutOfRange.code, BadHashSize.code}) == 4


def test_generation_rejects_impossible_requests() -> None:
    reader = DictNodeReader(build(leaves(4)))
    for index, size in [(4, 4), (-1, 4), (0, 0)]:
        with pytest.raises(IndexOutOfRange):
            m.inclusion_proof(reader, index, size)
    for size1, size2 in [(0, 4), (5, 4), (0, 0)]:
        with pytest.raises(IndexOutOfRange):
            m.consistency_proof(reader, size1, size2)
    assert m.consistency_proof(reader, 4, 4) == []
    assert m.root(reader, 0) == EMPTY_ROOT


def test_verification_edge_cases() -> None:
    d = leaves(3)
    root = mth(d)
    v.verify_inclusion(d[2], 2, 3, path(2, d), root)
    with pytest.raises(BadHashSize):
        v.verify_inclusion(d[2], 2, 3, path(2, d), root[:-1])
    with pytest.raises(WrongProofSize):
        v.verify_inclusion(d[2], 2, 3, [], root)
    with pytest.raises(WrongProofSize):
        v.verify_inclusion(d[2], 2, 3, [*path(2, d), root], root)
    with pytest.raises(RootMismatch):
        v.verify_inclusion(d[1], 2, 3, path(2, d), root)
    with pytest.raises(IndexOutOfRange):
        v.verify_inclusion(d[2], 2, 2**64, path(2, d), root)
    v.verify_consistency(3, 3, [], root, root)
    with pytest.raises(WrongProofSize):
        v.verify_consistency(3, 3, [root], root, root)
    with pytest.raises(RootMismatch):
        v.verify_consistency(3, 3, [], root, mth(d[:2]))
    with pytest.raises(IndexOutOfRange):
        v.verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


# --- properties -----------------------------------------------------------------------------------------


@st.composite
def trees(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    size = draw(st.integers(min_value=1, max_value=300))
    batches = draw(st.lists(st.integers(min_value=0, max_value=size), max_size=6))
    return leaves(size), batches


@cache
def _naive(size: int) -> tuple[dict[tuple[int, int], bytes], tuple[bytes, ...]]:
    d = leaves(size)
    return complete_nodes(d), tuple(mth(d[:n]) for n in range(size + 1))


_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(trees())
def test_batched_appends_match_the_naive_tree(tree: tuple[list[bytes], list[int]]) -> None:
    d, batches = tree
    table = build(d, batches)
    nodes, roots = _naive(len(d))
    assert table == nodes
    reader = DictNodeReader(table)
    for size in range(len(d) + 1):
        assert m.root(reader, size) == roots[size]


@_settings
@given(st.data())
def test_inclusion_proofs_match_and_verify(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=300), label="n")
    size = data.draw(st.integers(min_value=1, max_value=n), label="size")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    d = leaves(n)
    nodes, roots = _naive(n)
    proof = m.inclusion_proof(DictNodeReader(nodes), index, size)
    assert proof == path(index, d[:size])
    v.verify_inclusion(d[index], index, size, proof, roots[size])

    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) * HASH_SIZE - 1), label="byte")
        bad = [bytearray(p) for p in proof]
        bad[which // HASH_SIZE][which % HASH_SIZE] ^= data.draw(st.integers(1, 255), label="xor")
        with pytest.raises(RootMismatch):
            v.verify_inclusion(d[index], index, size, [bytes(p) for p in bad], roots[size])
    other = data.draw(st.integers(min_value=0, max_value=size), label="other index")
    if other != index:
        with pytest.raises(ProofError):
            v.verify_inclusion(d[index], other, size, proof, roots[size])
    other_size = data.draw(st.integers(min_value=index + 1, max_value=n), label="other size")
    if other_size != size:
        with pytest.raises(ProofError):
            v.verify_inclusion(d[index], index, other_size, proof, roots[other_size])


@_settings
@given(st.data())
def test_consistency_proofs_match_and_verify(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=300), label="n")
    size2 = data.draw(st.integers(min_value=1, max_value=n), label="size2")
    size1 = data.draw(st.integers(min_value=1, max_value=size2), label="size1")
    d = leaves(n)
    nodes, roots = _naive(n)
    proof = m.consistency_proof(DictNodeReader(nodes), size1, size2)
    assert proof == ([] if size1 == size2 else subproof(size1, d[:size2], True))
    v.verify_consistency(size1, size2, proof, roots[size1], roots[size2])

    if proof:
        which = data.draw(st.integers(min_value=0, max_value=len(proof) * HASH_SIZE - 1), label="byte")
        bad = [bytearray(p) for p in proof]
        bad[which // HASH_SIZE][which % HASH_SIZE] ^= data.draw(st.integers(1, 255), label="xor")
        with pytest.raises(RootMismatch):
            v.verify_consistency(size1, size2, [bytes(p) for p in bad], roots[size1], roots[size2])
    other1 = data.draw(st.integers(min_value=0, max_value=size2), label="other size1")
    if other1 != size1:
        with pytest.raises(ProofError):
            v.verify_consistency(other1, size2, proof, roots[other1], roots[size2])
    other2 = data.draw(st.integers(min_value=size1, max_value=n), label="other size2")
    if other2 != size2:
        with pytest.raises(ProofError):
            v.verify_consistency(size1, other2, proof, roots[size1], roots[other2])
    with pytest.raises(ProofError):
        v.verify_consistency(size1, size2, proof, roots[size1 - 1], roots[size2])
