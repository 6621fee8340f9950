"""What the local sandbox needs to know about this machine, read once when the executor starts."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path

from pnyx.executors.local_state import unsearchable_ancestor
from pnyx.executors.sandbox import SYSTEM_DIRS, HostFacts, SandboxConfig


def probe_host(config: SandboxConfig) -> HostFacts:
    """What the sandbox needs to know about this machine (read once)."""
    is_root = os.geteuid() == 0
    return HostFacts(
        bwrap=shutil.which(config.bwrap) if config.enabled else None,
        is_root=is_root,
        symlinks={d: os.readlink(d) for d in SYSTEM_DIRS if os.path.islink(d)},
        system_dirs=tuple(d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)),
        interpreter_prefix=_interpreter_prefix(is_root),
        memory=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        cpus=len(os.sched_getaffinity(0)),
        arch=platform.machine(),
    )


def _interpreter_prefix(is_root: bool) -> str | None:
    """The Python installation jobs may use when it is outside /usr (pyenv, /opt, ...), if the job
    uids can reach it (a prefix under /root, 0700, cannot be bound: jobs then use /usr's python3)."""
    prefix = Path(sys.base_prefix).resolve()
    if prefix.is_relative_to("/usr") or not prefix.is_dir():
        return None
    if is_root and unsearchable_ancestor(prefix / "bin") is not None:
        return None
    return str(prefix)
