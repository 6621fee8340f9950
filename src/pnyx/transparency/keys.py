"""The keys a verifier is given on a command line (``pnyx log verify``, ``pnyx audit replay``,
``pnyx simulate --from-log`` and the standalone auditor): each inline or as the path of a file
holding it, and how many of the witnesses given must have cosigned (standard library only)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pnyx.core.errors import InvalidInput
from pnyx.transparency.cosignature import CosignatureVerifier


def key_text(key: str) -> str:
    """A key given inline, or the path of a file holding it."""
    return Path(key).read_text().strip() if Path(key).is_file() else key


def witness_keys(keys: Sequence[str], minimum: int | None) -> tuple[list[CosignatureVerifier], int]:
    """The witnesses' verifier keys, and how many must have cosigned (default: all given)."""
    witnesses = [CosignatureVerifier.from_vkey(key_text(w)) for w in keys]
    needed = len(witnesses) if minimum is None else minimum
    if not 0 <= needed <= len(witnesses):
        raise InvalidInput(
            f"--min-witnesses {needed} must be in 0..{len(witnesses)}, the --witness keys given",
            field="min_witnesses",
        )
    return witnesses, needed
