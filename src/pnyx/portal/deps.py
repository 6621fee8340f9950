"""Request-scoped access to the composition root, for every portal page."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from pnyx.wiring import Platform


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]

# An id in a page's path, as both databases can look it up: no NUL character (PostgreSQL refuses it),
# at most 200 characters. Anything else is no such page (404), before a service runs.
PathRef = Annotated[str, Path(max_length=200, pattern=r"^[^\x00]*$")]
