"""PNYX_LOCAL_RUNTIME: what local jobs may run beyond the system's Python (read once at start-up).

A local job sees ``/usr`` and the base Python only, so ``python -m pnyx.training.run`` finds neither
torch nor pnyx there. This setting binds, read-only, a Python environment into every local job at
its own path, with its ``bin`` first on the job's PATH:

- ``off`` (the default): nothing more.
- ``server``: the server's own environment: ``sys.prefix``, its base Python when that lies outside
  ``/usr`` (a venv's interpreter), and the directory holding the installed ``pnyx`` package (the
  source tree of an editable install). Jobs then run the code and libraries the server runs.
- ``DIR[:DIR...]``: absolute directories; the first is a Python environment (its ``bin`` first on
  PATH), the others are bound as they are (the directory holding its own packages, say).

Opt-in on purpose, even with the ``[train]`` extra installed: what the server's environment holds
becomes visible (read-only) to anyone's job, and a deployer may prefer a separate training
environment. Start-up is refused, naming the setting, when a bound directory would let jobs see the
data directory (database, signing key), the job root (other jobs) or the log key, whether inside it
or around it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pnyx.core.errors import InvalidInput
from pnyx.executors.sandbox import SYSTEM_DIRS, Runtime

SETTING = "PNYX_LOCAL_RUNTIME"
OFF = frozenset({"", "off", "none", "0"})
SERVER = "server"


def runtime_setting(text: str, *, hidden: Mapping[str, Path]) -> Runtime:
    """The runtime the setting names; ``hidden``: what no job may see, by what it is."""
    value = text.strip()
    if value.lower() in OFF:
        return Runtime()
    dirs = server_dirs() if value == SERVER else listed_dirs(value)
    binds = visible(dirs)
    check_hidden(binds, hidden)
    bin_dir = dirs[0] / "bin"
    return Runtime(binds=tuple(str(d) for d in binds), path=(str(bin_dir),) if bin_dir.is_dir() else ())


def server_dirs() -> list[Path]:
    """The server's environment, its base Python and the directory holding ``pnyx``, in that order."""
    import pnyx

    package = Path(pnyx.__file__).resolve().parent.parent
    return [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), package]


def listed_dirs(value: str) -> list[Path]:
    found = []
    for text in value.split(":"):
        path = Path(text)
        if not path.is_absolute() or not path.is_dir():
            raise InvalidInput(
                f"{SETTING} is off, server, or absolute directories joined by ':'; {text!r} is not "
                "an absolute path to a directory",
                field=SETTING,
            )
        found.append(path.resolve())
    return found


def visible(dirs: Sequence[Path]) -> list[Path]:
    """What must be bound: each once, none the system already shows (``/usr``) nor one inside
    another that is bound."""
    system = [Path(d) for d in SYSTEM_DIRS]
    kept: list[Path] = []
    for d in dict.fromkeys(dirs):
        if not any(d.is_relative_to(s) for s in system):
            kept.append(d)
    return [d for d in kept if not any(d != o and d.is_relative_to(o) for o in kept)]


def check_hidden(binds: Sequence[Path], hidden: Mapping[str, Path]) -> None:
    """Refuse a bind that holds, or lies inside, what no job may see."""
    for what, path in hidden.items():
        secret = path.expanduser().resolve()
        for d in binds:
            if secret.is_relative_to(d) or d.is_relative_to(secret):
                raise InvalidInput(
                    f"{SETTING} would let every local job see {what} ({secret}) through {d}: keep "
                    f"the data directory, the job root and the log key outside the environment "
                    f"jobs run (or set {SETTING}=off)",
                    field=SETTING,
                )


def missing_command(name: str, path: Sequence[str], *, runtime_lent: bool) -> str:
    """Why a job whose command is not on its PATH is refused, and what to do."""
    hint = (
        "name it by a path under the job's directory, or install it under /usr"
        if runtime_lent
        else "if it belongs to the server's Python environment (torchrun, python -m pnyx.training.run), "
        "start the server with PNYX_LOCAL_RUNTIME=server to lend local jobs that environment read-only"
    )
    return f"{name!r} is not on the job's PATH ({':'.join(path)}): {hint}"
