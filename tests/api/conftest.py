"""An API client over the real app (both databases), plus tokens of every role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pnyx.identity.model import Role
from pnyx.server import create_app
from pnyx.wiring import Platform


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


@pytest.fixture
def tokens(platform: Platform) -> dict[str, str]:
    """One bearer header value per role, for a user holding only that role."""
    out = {}
    for role in Role:
        name = role.value.replace("-", "")
        platform.identity.register_user(name=name, roles=[role.value])
        out[role.value] = "Bearer " + platform.identity.issue_token(name).secret
    return out
