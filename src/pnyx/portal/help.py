"""Help: the role guides (docs/roles/*.md), listed on /portal/help and each shown as a page.

The guides live in the source tree, beside the code; an installed copy without them lists each
guide by its path in the Pnyx source instead of showing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt

from pnyx.settings import source_checkout

# (file stem, who it is for), in the order a visitor meets the facility
GUIDES = (
    ("public", "The public, journalists and auditors"),
    ("researcher", "Researchers"),
    ("reviewer", "Reviewers"),
    ("delegate", "Delegates of the member states"),
    ("safety-officer", "Safety officers"),
    ("operator", "Facility operators"),
    ("auditor", "Auditors"),
)
ROLE_NAMES = "|".join(stem for stem, _who in GUIDES)


def guides_dir() -> Path | None:
    """docs/roles of the source checkout this runs from, if there is one."""
    checkout = source_checkout()
    found = checkout / "docs" / "roles" if checkout is not None else None
    return found if found is not None and found.is_dir() else None


def render_guide(text: str) -> str:
    """A guide's Markdown as HTML; raw HTML in it is escaped, not passed through."""
    html: str = MarkdownIt("commonmark", {"html": False}).render(text)
    return html


def help_pages(templates: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/portal/help", response_class=HTMLResponse)
    def help_index(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "help.html", {"guides": GUIDES, "readable": guides_dir() is not None}
        )

    @router.get("/portal/help/{role}", response_class=HTMLResponse)
    def guide_page(
        request: Request, role: Annotated[str, PathParam(pattern=f"^({ROLE_NAMES})$")]
    ) -> HTMLResponse:
        folder = guides_dir()
        who = dict(GUIDES)[role]
        if folder is None:
            message = f"This installation has no copy of the guide: docs/roles/{role}.md in the source."
            context = {"title": who, "message": message}
            return templates.TemplateResponse(request, "error.html", context, status_code=404)
        body = render_guide((folder / f"{role}.md").read_text(encoding="utf-8"))
        return templates.TemplateResponse(
            request, "help_guide.html", {"who": who, "role": role, "body": body}
        )

    return router
