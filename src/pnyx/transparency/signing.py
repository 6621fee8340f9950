"""The log's Ed25519 signing key, kept in a file outside the database."""

from __future__ import annotations

import os
from pathlib import Path

from pnyx.core.errors import Conflict, Unavailable
from pnyx.transparency.note import NoteSigner, generate_signer


def create_key_file(path: Path, origin: str, *, overwrite: bool = False) -> NoteSigner:
    """Create a new signing key at ``path`` (mode 0600) and return its signer."""
    if path.exists() and not overwrite:
        raise Conflict(f"a signing key already exists at {path}; refusing to replace it", code="key_exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    skey, _vkey = generate_signer(origin)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(skey + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return NoteSigner.from_skey(skey)


def load_signer(path: Path) -> NoteSigner:
    if not path.exists():
        raise Unavailable(
            f"no log signing key at {path}: create one with `pnyx log keygen`", code="log_key_missing"
        )
    return NoteSigner.from_skey(path.read_text().strip())
