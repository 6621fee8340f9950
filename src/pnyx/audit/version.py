"""The scheduler's version: a digest of the source that decides (reads this installation's files).

A decision record names the version it was decided by; a replay knows the versions whose source it
runs. The digest covers every module of ``pnyx.scheduler`` and ``pnyx.audit.rerun`` (what ``decide``
executes), by name and bytes, so a vendored copy made byte for byte has the same version.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files

MODULES = (("pnyx.scheduler", None), ("pnyx.audit", "rerun.py"))


def scheduler_version() -> str:
    h = hashlib.sha256()
    for package, only in MODULES:
        root = files(package)
        for entry in sorted((e for e in root.iterdir() if e.name.endswith(".py")), key=lambda e: e.name):
            if only is None or entry.name == only:
                h.update(f"{package}/{entry.name}\0".encode() + entry.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()
