"""Registry pages: the public datasets and models, one dataset version, and one model version with
its card, files, metrics, checkpoints and lineage (dataset versions -> job -> model -> releases).

The pages read through ``DatasetService`` and ``ModelService`` as the visitor: the public, unless a
client sends a bearer token (a browser's plain navigation never does). The public sees public
datasets and released model versions only; anything else answers as not found, the same as a
version that does not exist. Nothing a job wrote is trusted: the model card is split into blocks
here and every character of it is escaped by the template.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pnyx.core.errors import Forbidden, IntegrityFailure, NotFound, Unauthenticated, Unavailable
from pnyx.identity.model import Principal
from pnyx.portal.deps import PlatformDep, visitor
from pnyx.registry import rules
from pnyx.registry.lineage_model import FileRelease, ModelVersion
from pnyx.registry.model import DatasetVersion, VersionStatus
from pnyx.wiring import Platform

LISTED = 100  # model versions on one page
Version = Annotated[str, PathParam(pattern="^[0-9a-f]{64}$")]  # anything else: the 404 page
Spans = tuple[tuple[bool, str], ...]  # (is code, text): a line of the card, backticks taken off
FENCE = re.compile(r"^(`{3,})")
HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
RULE_ROW = re.compile(r"^\|?[\s:|-]+\|?$")  # a table's |---|---| line


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """A dataset on the index: its newest version the visitor may read, and the earlier ones."""

    newest: DatasetVersion
    earlier: tuple[DatasetVersion, ...]
    licences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ModelRow:
    model: ModelVersion
    public: bool  # released to the public label


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """A block of the model card: heading (level 3..6), paragraph, items, table (first row: the
    head) or pre (``text`` verbatim)."""

    kind: str
    level: int = 0
    rows: tuple[tuple[Spans, ...], ...] = ()
    text: str = ""


def registry_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(request: Request, who: Principal, name: str, context: dict[str, object]) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, headers=_headers(who))

    def missing(request: Request, what: str) -> HTMLResponse:
        message = f"No {what} that you may read: it does not exist, or it is not public."
        return templates.TemplateResponse(request, "error.html", {"message": message}, status_code=404)

    @router.get("/portal/registry", response_class=HTMLResponse)
    def index(request: Request, platform: PlatformDep) -> HTMLResponse:
        who = _reader(request, platform)
        versions = platform.datasets.versions(who, current_only=False)
        models = platform.models.search(who, limit=LISTED)
        context = {
            "datasets": dataset_rows(versions, lambda v: _licences(platform, who, v)),
            "models": [ModelRow(m, platform.models.is_public(m)) for m in models],
            "names": {v.version: v.dataset for v in versions},
        }
        return page(request, who, "registry.html", context)

    @router.get("/portal/registry/datasets/{version}", response_class=HTMLResponse)
    def dataset_page(request: Request, version: Version, platform: PlatformDep) -> HTMLResponse:
        who = _reader(request, platform)
        try:
            v = platform.datasets.version(who, version)
        except NotFound:
            return missing(request, f"dataset version {version}")
        return page(request, who, "registry_dataset.html", _dataset_context(platform, who, v))

    @router.get("/portal/registry/models/{version}", response_class=HTMLResponse)
    def model_page(request: Request, version: Version, platform: PlatformDep) -> HTMLResponse:
        who = _reader(request, platform)
        try:
            lineage = platform.models.lineage(who, version)
        except (NotFound, Forbidden):  # an unreleased version is not confirmed to exist
            return missing(request, f"model version {version}")
        files = platform.models.files(who, version)
        card, card_note = _card(platform, who, version)
        readable = platform.datasets.versions(who, current_only=False)
        context = {
            "lineage": lineage,
            "model": lineage.model,
            "files": files,
            "log_index": next((f.log_index for f in files if f.log_index is not None), None),
            "card": card,
            "card_note": card_note,
            "releases": releases_by_path(lineage.releases),
            "readable": {v.version for v in readable},
        }
        return page(request, who, "registry_model.html", context)

    return router


def _reader(request: Request, platform: Platform) -> Principal:
    """The public, or whoever the request's bearer token names (a bad token: the 401 page)."""
    try:
        return visitor(request, platform)
    except Unauthenticated as exc:
        raise HTTPException(401, exc.message) from None


def _headers(who: Principal) -> dict[str, str]:
    """What a signed-in reader sees is theirs: never kept by a cache."""
    private = {"Cache-Control": "no-store"} if who.authenticated else {}
    return {"Vary": "Authorization", **private}


def _dataset_context(platform: Platform, who: Principal, v: DatasetVersion) -> dict[str, object]:
    trained = platform.models.models_trained_on(v.version, [s.index for s in v.shards])
    return {
        "v": v,
        "history": platform.datasets.versions(who, dataset=v.dataset, current_only=False),
        "takedowns": platform.datasets.takedowns(who, v.dataset),
        "reserved": {s.name: rules.reservation(s) for s in v.sources},
        "licences": _licences(platform, who, v),
        "tombstones": tombstone_counts(v),
        "models": _readable_models(platform, who, trained[:LISTED]),
    }


def _readable_models(platform: Platform, who: Principal, versions: Iterable[str]) -> list[ModelVersion]:
    """Those of ``versions`` that ``who`` may read; the others are left out of the page."""
    found = []
    for version in versions:
        try:
            found.append(platform.models.get(who, version))
        except (Forbidden, NotFound):
            continue
    return found


def _licences(platform: Platform, who: Principal, v: DatasetVersion) -> tuple[str, ...]:
    """The licences that apply: the SPDX ids of the sources that contribute samples, as they are
    written (``GPL-2.0+``, ``LicenseRef-...``)."""
    return tuple(rules.source_licences(platform.datasets.sources(who, v.version)))


def _card(platform: Platform, who: Principal, version: str) -> tuple[list[Block], str | None]:
    """The card's blocks, or why it is not shown (not in the log yet; its bytes not as logged)."""
    try:
        return card_blocks(platform.models.card(who, version)), None
    except (Unavailable, IntegrityFailure) as exc:
        return [], exc.message


# --- what the pages show (pure) --------------------------------------------------------------------


def dataset_rows(
    versions: Iterable[DatasetVersion], licences: Callable[[DatasetVersion], tuple[str, ...]]
) -> list[DatasetRow]:
    """One row per dataset (by name), from its versions oldest first."""
    by_name: dict[str, list[DatasetVersion]] = {}
    for v in versions:
        by_name.setdefault(v.dataset, []).append(v)
    return [_row(vs, licences) for _name, vs in sorted(by_name.items())]


def _row(vs: Sequence[DatasetVersion], licences: Callable[[DatasetVersion], tuple[str, ...]]) -> DatasetRow:
    """The current version first (versions made in the same instant sort by id), else the last."""
    newest = next((v for v in vs if v.status is VersionStatus.CURRENT), vs[-1])
    earlier = tuple(v for v in reversed(vs) if v is not newest)
    return DatasetRow(newest=newest, earlier=earlier, licences=licences(newest))


def tombstone_counts(v: DatasetVersion) -> list[tuple[str, str, int]]:
    """Samples left out, counted by source and reason (never which samples)."""
    counted = Counter((t.source, t.reason) for t in v.tombstones)
    return [(source, reason, n) for (source, reason), n in sorted(counted.items())]


def releases_by_path(releases: Iterable[FileRelease]) -> dict[str, list[FileRelease]]:
    grouped: dict[str, list[FileRelease]] = {}
    for r in releases:
        grouped.setdefault(r.path, []).append(r)
    return grouped


# --- the model card: simple Markdown as blocks, escaped by the template ----------------------------


def card_blocks(text: str) -> list[Block]:
    """YAML front matter and code fences verbatim; headings (under the page's h2), lists, tables
    and paragraphs with `code` spans. Nothing else of Markdown: any other mark shows as typed."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks, i = [], 0
    if lines and lines[0] == "---" and "---" in lines[1:]:
        end = lines.index("---", 1)
        blocks.append(Block(kind="pre", text="\n".join(lines[: end + 1])))
        i = end + 1
    while i < len(lines):
        block, i = _block(lines, i)
        if block is not None:
            blocks.append(block)
    return blocks


def _block(lines: Sequence[str], i: int) -> tuple[Block | None, int]:
    """The block that starts at line ``i``, and the line after it."""
    line = lines[i]
    if not line.strip():
        return None, i + 1
    fence, heading = FENCE.match(line), HEADING.match(line)
    if fence is not None:
        return _fenced(lines, i, fence.group(1))
    if heading is not None:
        level = min(6, len(heading.group(1)) + 2)
        return Block(kind="heading", level=level, rows=((spans(heading.group(2)),),)), i + 1
    if line.startswith("|"):
        rows, end = _run(lines, i, lambda s: s.startswith("|"))
        return Block(kind="table", rows=tuple(_cells(r) for r in rows if not RULE_ROW.match(r))), end
    if line.startswith(("- ", "* ")):
        items, end = _run(lines, i, lambda s: s.startswith(("- ", "* ")))
        return Block(kind="items", rows=tuple((spans(s[2:]),) for s in items)), end
    para, end = _run(lines, i, lambda s: bool(s.strip()) and not _starts_block(s))
    return Block(kind="paragraph", rows=((spans(" ".join(para)),),)), end


def _fenced(lines: Sequence[str], i: int, fence: str) -> tuple[Block, int]:
    """A code fence, to its closing line (at least as many backticks) or the card's end."""
    end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith(fence)), len(lines))
    return Block(kind="pre", text="\n".join(lines[i + 1 : end])), end + 1


def _run(lines: Sequence[str], i: int, belongs: Callable[[str], bool]) -> tuple[list[str], int]:
    """Line ``i`` and the lines after it that belong to its block."""
    end = i + 1
    while end < len(lines) and belongs(lines[end]):
        end += 1
    return list(lines[i:end]), end


def _starts_block(line: str) -> bool:
    return bool(FENCE.match(line) or HEADING.match(line)) or line.startswith(("|", "- ", "* "))


def _cells(row: str) -> tuple[Spans, ...]:
    inner = row.strip().removeprefix("|").removesuffix("|")
    return tuple(spans(cell.strip()) for cell in inner.split("|"))


def spans(text: str) -> Spans:
    """``text`` split into plain and `code` parts (the backticks taken off)."""
    parts = re.split(r"`([^`]+)`", text)  # plain, code, plain, ...
    return tuple((i % 2 == 1, p) for i, p in enumerate(parts) if p)
