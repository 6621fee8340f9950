"""pnyx log catalogue: docs/events.md, made from every event class of the package.

The catalogue itself only reads classes (``pnyx.transparency.catalogue``); finding them means
importing every module, which only an edge may do: the CLI already sits above every domain. It
leaves out the other edges (the API, the portal, the server), which translate and define no events,
so that one edge never loads another (tests/unit/transparency/test_event_catalogue.py checks that
nothing is missed). A module whose optional dependency is not installed (``pnyx.training`` needs
torch) is skipped: it must define no event, or the catalogue would change with the installation.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import typer

import pnyx
from pnyx.transparency.catalogue import event_classes, render

OTHER_EDGES = frozenset({"pnyx.api", "pnyx.portal", "pnyx.server"})


def event_modules() -> list[ModuleType]:
    """Every module of the pnyx package but the other edges', imported."""
    names = [
        name
        for top in pkgutil.iter_modules(pnyx.__path__, "pnyx.")
        if top.name not in OTHER_EDGES
        for name in [top.name, *_submodules(top)]
    ]
    return [module for name in names if (module := _import(name)) is not None]


def _submodules(top: pkgutil.ModuleInfo) -> list[str]:
    if not top.ispkg or _import(top.name) is None:
        return []
    package = importlib.import_module(top.name)
    return [info.name for info in pkgutil.walk_packages(package.__path__, f"{top.name}.", onerror=_skip)]


def _import(name: str) -> ModuleType | None:
    """The module, or None when a dependency outside the package is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] == "pnyx":
            raise
        return None


def _skip(name: str) -> None:
    """walk_packages' handler for a subpackage that failed to import: ``_import`` decides."""
    _import(name)


def render_catalogue() -> str:
    return render(event_classes(event_modules()))


def catalogue(
    output: Path | None = typer.Option(None, help="Write it here (make events: docs/events.md)"),
) -> None:
    """Print the event catalogue: every log entry type, its fields and an example entry."""
    text = render_catalogue()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    typer.echo(f"wrote {output}")
