"""RFC 9162 proof verification (§2.1.3.2 inclusion, §2.1.4.2 consistency), as pure functions over data.

Anyone may run these on what the log serves: they take hashes and sizes, never a store.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from pnyx.transparency.merkle import (
    IndexOutOfRange,
    RootMismatch,
    WrongProofSize,
    check_hash,
    check_size,
    node_hash,
)


def _check_root(computed: bytes, claimed: bytes, what: str) -> None:
    if not hmac.compare_digest(computed, claimed):
        raise RootMismatch(f"the proof does not lead to the claimed {what}", field=what)


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root ``proof`` gives for ``leaf_hash`` at ``index`` in a tree of ``size`` (RFC 9162 §2.1.3.2)."""
    check_hash(leaf_hash, "leaf_hash")
    for h in proof:
        check_hash(h, "proof")
    check_size(size)
    # Step 1.
    if not 0 <= index < size:
        raise IndexOutOfRange(f"leaf index {index} is not below tree size {size}", field="index")
    # Steps 2 and 3.
    fn, sn, r = index, size - 1, leaf_hash
    # Step 4.
    for p in proof:
        if sn == 0:
            raise WrongProofSize("the inclusion proof is too long", field="proof")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    # Step 5 (the root comparison is the caller's).
    if sn != 0:
        raise WrongProofSize("the inclusion proof is too short", field="proof")
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is at ``index`` in the tree of ``size`` with ``root`` (RFC 9162 §2.1.3.2)."""
    check_hash(root, "root")
    _check_root(root_from_inclusion_proof(leaf_hash, index, size, proof), root, "root")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of ``size2`` with ``root2`` extends the one of ``size1`` with ``root1``.

    RFC 9162 §2.1.4.2. There is nothing to prove from the empty tree, so ``size1 == 0`` is an
    error. Equal sizes need an empty proof and equal roots, compared as opaque bytes.
    """
    check_size(size1, "size1")
    check_size(size2, "size2")
    if size1 > size2:
        raise IndexOutOfRange(f"size1 {size1} is larger than size2 {size2}", field="size1")
    if size1 == 0:
        raise IndexOutOfRange("there is no consistency proof from the empty tree", field="size1")
    if size1 == size2:
        if len(proof) != 0:
            raise WrongProofSize("equal sizes need an empty consistency proof", field="proof")
        _check_root(root1, root2, "root2")
        return
    check_hash(root1, "root1")
    check_hash(root2, "root2")
    for h in proof:
        check_hash(h, "proof")
    fr, sr = _fold_consistency(size1, size2, proof, root1)
    _check_root(fr, root1, "root1")
    _check_root(sr, root2, "root2")


def _fold_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes) -> tuple[bytes, bytes]:
    """Steps 1 to 7 of RFC 9162 §2.1.4.2 for ``0 < size1 < size2``: the computed (fr, sr)."""
    # Step 1.
    if not proof:
        raise WrongProofSize("the consistency proof is empty", field="proof")
    # Step 2.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    # Steps 3 and 4.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise WrongProofSize("the consistency proof is too long", field="proof")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    # Step 7 (sn; the root comparisons are the caller's).
    if sn != 0:
        raise WrongProofSize("the consistency proof is too short", field="proof")
    return fr, sr
