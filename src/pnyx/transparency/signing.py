"""The log's Ed25519 signing key, kept in a file outside the database, readable by its owner only."""

from __future__ import annotations

import os
from pathlib import Path

from pnyx.core.errors import Conflict, Unavailable
from pnyx.db.files import PRIVATE_DIR, PRIVATE_FILE, check_private
from pnyx.transparency.note import NoteSigner, generate_signer


def create_key_file(path: Path, origin: str, *, overwrite: bool = False) -> NoteSigner:
    """Create a new signing key at ``path`` (mode 0600) and return its signer."""
    if path.exists() and not overwrite:
        raise Conflict(f"a signing key already exists at {path}; refusing to replace it", code="key_exists")
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    skey, _vkey = generate_signer(origin)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # a stale one would keep its own mode; a fresh one is born 0600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "w") as f:
        f.write(skey + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return NoteSigner.from_skey(skey)


def load_signer(path: Path) -> NoteSigner:
    """The signer from the key file; a key that group or others may read is refused."""
    if not path.exists():
        raise Unavailable(
            f"no log signing key at {path}: create one with `pnyx log keygen`", code="log_key_missing"
        )
    check_private(path, "the log signing key")
    return NoteSigner.from_skey(path.read_text().strip())
