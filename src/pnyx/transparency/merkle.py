"""RFC 6962 / RFC 9162 Merkle tree hashing and proof generation. Pure: no I/O.

Proof *verification* is in ``pnyx.transparency.verification``.

Storage model: a store keeps the hash of every *complete* subtree. Node ``(level, index)``
covers leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes.
Complete nodes never change once written, so a store built for size ``n`` answers every
question about every size ``<= n``. The hash of an incomplete subtree (one that touches the
right edge of a tree whose size is not a power of two) is folded from O(log n) complete nodes.

Proof generators compute every key they need first and read them in ONE ``NodeReader.nodes``
call, so a database answers a proof in a single round trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pnyx.core.errors import FacilityError, IntegrityFailure, InvalidInput

HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1  # sizes and indices are uint64 on the wire (RFC 9162 §4.5, §4.11)

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256() (RFC 9162 §2.1.1)."""

Key = tuple[int, int]
"""``(level, index)`` of a complete subtree."""

Node = tuple[int, int, bytes]
"""``(level, index, hash)`` of a complete subtree."""

ProofPlan = list[tuple[Key, ...]]
"""One entry per proof hash: the complete nodes whose right fold gives that hash."""


# --- errors -------------------------------------------------------------------------------------


class ProofError(FacilityError):
    """A Merkle proof, or the claim it is checked against, does not hold."""

    code = "merkle_proof_invalid"


class RootMismatch(ProofError, IntegrityFailure):
    """The proof folds to a different root than the one claimed."""

    code = "merkle_root_mismatch"


class WrongProofSize(ProofError, InvalidInput):
    """The proof has too many or too few hashes for the claimed sizes."""

    code = "merkle_wrong_proof_size"


class IndexOutOfRange(ProofError, InvalidInput):
    """A leaf index or tree size is outside what the claim allows."""

    code = "merkle_index_out_of_range"


class BadHashSize(ProofError, InvalidInput):
    """A hash is not exactly ``HASH_SIZE`` bytes."""

    code = "merkle_bad_hash_size"


class NodeStoreError(IntegrityFailure):
    """The node store is missing a complete node it must have, or returned a malformed one."""

    code = "merkle_node_store"


# --- hashing (RFC 9162 §2.1.1) --------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (RFC 9162 §2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def fold(hashes: Sequence[bytes]) -> bytes:
    """Right fold of subtree hashes, left to right: h0 . (h1 . (... . hn)).

    Folding the maximal complete subtrees of an RFC 9162 subtree gives its MTH.
    """
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_from_leaf_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes in one pass (RFC 9162 §2.1.1), for monitors and tests.

    Keeps a stack of maximal complete subtrees and folds it at the end: linear time, log space.
    """
    stack: list[tuple[int, bytes]] = []
    for h in leaf_hashes:
        check_hash(h, "leaf hash")
        level, node = 0, h
        while stack and stack[-1][0] == level:
            level, node = level + 1, node_hash(stack.pop()[1], node)
        stack.append((level, node))
    return fold([node for _level, node in stack])


# --- the node reader -----------------------------------------------------------------------------


class NodeReader(Protocol):
    """Batch read of complete-subtree hashes, in the order of ``keys``."""

    def nodes(self, keys: Sequence[Key]) -> Sequence[bytes]: ...


@dataclass(frozen=True, slots=True)
class DictNodeReader:
    """A ``NodeReader`` over an in-memory mapping ``(level, index) -> hash``."""

    table: Mapping[Key, bytes]

    def nodes(self, keys: Sequence[Key]) -> Sequence[bytes]:
        try:
            return [self.table[k] for k in keys]
        except KeyError as exc:
            raise NodeStoreError(f"missing complete node {exc.args[0]!r}") from exc


def read_nodes(reader: NodeReader, keys: Sequence[Key]) -> dict[Key, bytes]:
    """Read distinct ``keys`` in one ``reader.nodes`` call and check what comes back."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    try:
        found = reader.nodes(wanted)
    except KeyError as exc:
        raise NodeStoreError(f"missing complete node {exc.args[0]!r}") from exc
    if len(found) != len(wanted):
        raise NodeStoreError(f"asked for {len(wanted)} nodes, got {len(found)}")
    for key, h in zip(wanted, found, strict=True):
        if len(h) != HASH_SIZE:
            raise NodeStoreError(f"node {key!r} is {len(h)} bytes, not {HASH_SIZE}")
    return dict(zip(wanted, (bytes(h) for h in found), strict=True))


# --- shapes ----------------------------------------------------------------------------------------


def check_size(size: int, what: str = "size") -> None:
    if not 0 <= size <= MAX_TREE_SIZE:
        raise IndexOutOfRange(f"{what} {size} is not in [0, 2**64)", field=what)


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``), the RFC 9162 §2.1.1 ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_keys(begin: int, end: int) -> tuple[Key, ...]:
    """The maximal complete subtrees of the RFC 9162 subtree ``D[begin:end]``, left to right.

    ``D[begin:end]`` must be a node of the recursive MTH definition (RFC 9162 §2.1.1): non-empty
    and ``begin`` a multiple of the smallest power of two ``>= end - begin``. ``fold`` of their
    hashes is ``MTH(D[begin:end])``.
    """
    n = end - begin
    if begin < 0 or n <= 0:
        raise InvalidInput(f"[{begin}, {end}) is not a non-empty leaf range", code="merkle_bad_range")
    if begin % (1 << (n - 1).bit_length()):
        raise InvalidInput(f"[{begin}, {end}) is not an RFC 9162 subtree", code="merkle_bad_range")
    keys: list[Key] = []
    pos = begin
    for level in range(n.bit_length() - 1, -1, -1):
        if n >> level & 1:
            keys.append((level, pos >> level))
            pos += 1 << level
    return tuple(keys)


def right_edge_keys(size: int) -> list[Key]:
    """The complete nodes whose fold is the root of a tree of ``size`` leaves, left to right.

    One per set bit of ``size``: these are all an appender needs to extend the tree.
    """
    check_size(size)
    return [] if size == 0 else list(subtree_keys(0, size))


def complete_node_count(size: int) -> int:
    """How many complete nodes a tree of ``size`` leaves has (all levels)."""
    check_size(size)
    return sum(size >> level for level in range(size.bit_length()))


# --- appending ---------------------------------------------------------------------------------------


def append_nodes(right_edge: Sequence[Node], size: int, leaf_hashes: Sequence[bytes]) -> list[Node]:
    """Every new complete node created by appending ``leaf_hashes`` to a tree of ``size`` leaves.

    ``right_edge`` is the tree's ``right_edge_keys(size)`` with their hashes, in that order. The
    result includes the level-0 leaf nodes, each followed by the parents it completes. Linear in
    ``len(leaf_hashes)`` (plus O(log size)).
    """
    check_size(size)
    check_size(size + len(leaf_hashes), "new size")
    if [(level, index) for level, index, _ in right_edge] != right_edge_keys(size):
        raise InvalidInput(f"right edge does not match a tree of size {size}", code="merkle_bad_right_edge")
    stack: list[Node] = []
    for level, index, h in right_edge:
        check_hash(h, "right edge hash")
        stack.append((level, index, h))
    out: list[Node] = []
    for offset, h in enumerate(leaf_hashes):
        check_hash(h, "leaf hash")
        node: Node = (0, size + offset, h)
        out.append(node)
        while stack and stack[-1][0] == node[0]:
            level, index, left = stack.pop()
            node = (level + 1, index >> 1, node_hash(left, node[2]))
            out.append(node)
        stack.append(node)
    return out


def append_from_reader(reader: NodeReader, size: int, leaf_hashes: Sequence[bytes]) -> list[Node]:
    """``append_nodes`` reading the right edge from ``reader`` in one call."""
    keys = right_edge_keys(size)
    found = read_nodes(reader, keys)
    return append_nodes([(level, index, found[level, index]) for level, index in keys], size, leaf_hashes)


# --- roots and proofs (generation) -----------------------------------------------------------------


def root(reader: NodeReader, size: int) -> bytes:
    """MTH of the first ``size`` leaves (RFC 9162 §2.1.1), from O(log n) complete nodes."""
    keys = right_edge_keys(size)
    found = read_nodes(reader, keys)
    return fold([found[k] for k in keys])


def inclusion_proof_plan(index: int, size: int) -> ProofPlan:
    """The nodes behind PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf level first."""
    check_size(size)
    if not 0 <= index < size:
        raise IndexOutOfRange(f"leaf index {index} is not below tree size {size}", field="index")
    plan: ProofPlan = []
    begin, end, m = 0, size, index
    while end - begin > 1:
        k = _split(end - begin)
        if m < k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            plan.append(subtree_keys(begin + k, end))
            end = begin + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            plan.append(subtree_keys(begin, begin + k))
            begin, m = begin + k, m - k
    plan.reverse()
    return plan


def consistency_proof_plan(size1: int, size2: int) -> ProofPlan:
    """The nodes behind PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true) (RFC 9162 §2.1.4.1).

    ``0 < size1 <= size2``; equal sizes give an empty proof.
    """
    check_size(size1, "size1")
    check_size(size2, "size2")
    if size1 > size2:
        raise IndexOutOfRange(f"size1 {size1} is larger than size2 {size2}", field="size1")
    if size1 == 0:
        raise IndexOutOfRange("there is no consistency proof from the empty tree", field="size1")
    plan: ProofPlan = []
    begin, end, m, complete = 0, size2, size1, True
    while m != end - begin:
        k = _split(end - begin)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            plan.append(subtree_keys(begin + k, end))
            end = begin + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            plan.append(subtree_keys(begin, begin + k))
            begin, m, complete = begin + k, m - k, False
    if not complete:  # SUBPROOF(m, D[m], false) = {MTH(D[m])}
        plan.append(subtree_keys(begin, end))
    plan.reverse()
    return plan


def resolve_plan(reader: NodeReader, plan: ProofPlan) -> list[bytes]:
    """Read every node of ``plan`` in one ``reader.nodes`` call and fold each proof hash."""
    found = read_nodes(reader, [key for group in plan for key in group])
    return [fold([found[key] for key in group]) for group in plan]


def inclusion_proof(reader: NodeReader, index: int, size: int) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of ``size`` leaves (RFC 9162 §2.1.3.1)."""
    return resolve_plan(reader, inclusion_proof_plan(index, size))


def consistency_proof(reader: NodeReader, size1: int, size2: int) -> list[bytes]:
    """The consistency proof between trees of ``size1`` and ``size2`` leaves (RFC 9162 §2.1.4.1)."""
    return resolve_plan(reader, consistency_proof_plan(size1, size2))


def check_hash(h: bytes, what: str) -> None:
    if len(h) != HASH_SIZE:
        raise BadHashSize(f"{what} is {len(h)} bytes, not {HASH_SIZE}", field=what)
