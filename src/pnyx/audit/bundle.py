"""The standalone auditor (issue 14): ``pnyx audit bundle --out pnyx-audit.pyz`` writes a Python zipapp
that replays a log's decision records with the standard library alone (``python3 -I -S pnyx-audit.pyz
URL --key KEY``, no Pnyx and no site-packages).

What goes in is computed, never listed by hand: the import graph, read from the source (``ast``), of
the entry point (``pnyx.audit.standalone``) and of every module the scheduler version covers
(``pnyx.audit.version.MODULES``), followed within ``pnyx``. Each module is copied byte for byte, so
``scheduler_version()`` inside the bundle is this installation's. Every other import must be the
standard library, a vendored package (copied whole, byte for byte, with its licence) or an optional
package imported only behind a guard; anything else fails the build, naming the module and the import.
The archive is reproducible: the same source makes the same bytes (sorted entries, fixed times).
"""

from __future__ import annotations

import ast
import io
import sys
import zipapp
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path

from pnyx.audit.version import MODULES
from pnyx.core.errors import Conflict

ENTRY = "pnyx.audit.standalone"
OWN = "pnyx"
VENDORED = ("rfc8785",)  # pure Python, Apache-2.0: pnyx.core.canonical imports it (the replay never calls it)
OPTIONAL = ("cryptography",)  # pnyx.transparency.ed25519 verifies in pure Python where it is absent
INTERPRETER = "/usr/bin/env python3"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAIN = f"import sys\n\nfrom {ENTRY} import main\n\nsys.exit(main())\n"


class NotStandalone(Conflict):
    """A module the auditor needs imports something it cannot carry."""

    code = "audit_bundle_not_standalone"


@dataclass(frozen=True, slots=True, kw_only=True)
class Import:
    name: str  # absolute dotted name: a module, or (``from m import x``) maybe an attribute ``m.x``
    guarded: bool  # inside a function, ``if`` or ``try``: not run unconditionally at import
    attribute: bool = False  # ``m.x`` of ``from m import x``: a module only if a file says so


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    files: dict[str, Path]  # path inside the archive -> the file copied there
    modules: tuple[str, ...]  # every module carried, sorted
    vendored: tuple[str, ...]  # "name version (licence file)"


def plan(roots: Mapping[str, Path] | None = None, entries: tuple[str, ...] | None = None) -> Bundle:
    """What the archive holds, from the import graph of ``entries`` (default: the entry point and
    the scheduler version's modules) over the packages in ``roots`` (default: pnyx's)."""
    roots = dict(roots or {OWN: Path(__file__).resolve().parents[1]})
    found: dict[str, Path] = {}
    todo = list(entries or (ENTRY, *version_modules(roots[OWN])))
    while todo:
        name = todo.pop()
        if name not in found:
            found[name] = _require(name, roots)
            todo.extend(_parents(name))
            todo.extend(_needed(name, found[name], roots))
    files = {_arcname(name, path): path for name, path in found.items()}
    vendored = [_licence(top, roots[top], files) for top in sorted(set(roots) - {OWN})]
    return Bundle(files=files, modules=tuple(sorted(found)), vendored=tuple(vendored))


def version_modules(own: Path) -> Iterator[str]:
    """The modules whose bytes ``scheduler_version`` hashes: all must be carried, imported or not."""
    for package, only in MODULES:
        folder = own.joinpath(*package.split(".")[1:])
        for path in sorted(folder.glob("*.py")):
            if only is None or path.name == only:
                yield package if path.stem == "__init__" else f"{package}.{path.stem}"


def _source(name: str, roots: Mapping[str, Path]) -> Path | None:
    top, *rest = name.split(".")
    base = roots[top].joinpath(*rest)
    return next((p for p in (base / "__init__.py", base.with_suffix(".py")) if p.is_file()), None)


def _require(name: str, roots: Mapping[str, Path]) -> Path:
    path = _source(name, roots)
    if path is None:
        raise NotStandalone(
            f"{name}: no source file under {roots[name.split('.', maxsplit=1)[0]]}", field="module"
        )
    return path


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _needed(name: str, path: Path, roots: dict[str, Path]) -> Iterator[str]:
    """The modules of ``roots`` that ``name`` imports; every other import checked (``_allowed``)."""
    for found in imports(ast.parse(path.read_bytes(), str(path)), name, path.name == "__init__.py"):
        top = found.name.split(".")[0]
        if top in VENDORED and top not in roots:
            roots[top] = _vendored_root(top)
        if top not in roots:
            _allowed(name, found, top)
        elif not found.attribute or _source(found.name, roots) is not None:
            yield found.name


def _allowed(name: str, found: Import, top: str) -> None:
    if top in sys.stdlib_module_names or (top in OPTIONAL and found.guarded):
        return
    why = "an optional package imported unconditionally" if top in OPTIONAL else "not the standard library"
    raise NotStandalone(
        f"{name} imports {found.name}: {why}; the standalone auditor carries no third-party code "
        f"(vendored: {', '.join(VENDORED)}; optional behind a guard: {', '.join(OPTIONAL)})",
        field="module",
    )


def imports(tree: ast.Module, name: str, package: bool) -> Iterator[Import]:
    """Every import in a module's source, made absolute."""
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        guarded = id(node) not in top_level
        if isinstance(node, ast.Import):
            yield from (Import(name=alias.name, guarded=guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node, name, package)
            yield Import(name=module, guarded=guarded)
            yield from (
                Import(name=f"{module}.{a.name}", guarded=guarded, attribute=True) for a in node.names
            )


def _absolute(node: ast.ImportFrom, name: str, package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    parts = name.split(".")[: len(name.split(".")) - node.level + package]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _arcname(name: str, path: Path) -> str:
    return "/".join(name.split(".")) + ("/__init__.py" if path.name == "__init__.py" else ".py")


def _vendored_root(top: str) -> Path:
    spec = util.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise NotStandalone(f"the vendored package {top} is not installed here", field="module")
    return Path(next(iter(spec.submodule_search_locations)))


def _licence(top: str, root: Path, files: dict[str, Path]) -> str:
    """Carry a vendored package's licence beside it; a package without one is not carried."""
    dist = metadata.distribution(top)
    licences = [f for f in dist.files or () if f.name.upper().startswith(("LICENSE", "LICENCE", "COPYING"))]
    if not licences:
        raise NotStandalone(f"the vendored package {top} ships no licence file", field="module")
    for licence in licences:
        files[f"{top}/{licence.name}"] = Path(str(licence.locate()))
    return f"{top} {dist.version} ({', '.join(f'{top}/{f.name}' for f in licences)})"


def write(bundle: Bundle, out: Path) -> None:
    """The zipapp: every file at its place, sorted, with fixed times, and a ``__main__``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, path in sorted(bundle.files.items()):
            _add(archive, arcname, path.read_bytes())
        _add(archive, "__main__.py", MAIN.encode())
    buffer.seek(0)
    zipapp.create_archive(buffer, str(out), interpreter=INTERPRETER)  # a str: made executable


def _add(archive: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, ZIP_TIME)
    info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
    archive.writestr(info, data)
