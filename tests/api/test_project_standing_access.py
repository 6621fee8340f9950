"""A project's standing (GET /api/v1/accounting/projects/{id}): its PI and confirmed team see it, as
operators and auditors do; another researcher is refused (403), the public asked for a token (401)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.integration.test_safety_classification import Facility


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


def bearer(platform: Platform, name: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + platform.identity.issue_token(name).secret}


def test_the_pi_sees_their_own_projects_standing_and_no_one_elses(
    client: TestClient, platform: Platform
) -> None:
    facility = Facility(platform)
    project = facility.project(hours=1000)
    facility.world.user("bob", ["researcher"])
    facility.world.user("aude", ["auditor"])
    path = f"/api/v1/accounting/projects/{project}"
    mine = client.get(path, headers=bearer(platform, "alice"))
    assert mine.status_code == 200, mine.text
    assert mine.json()["project_id"] == project  # (its allocation starts after the frozen clock)
    assert client.get(path, headers=bearer(platform, "aude")).status_code == 200
    refused = client.get(path, headers=bearer(platform, "bob"))
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert client.get(path).status_code == 401
    assert (
        client.get("/api/v1/accounting/projects/prj_unknown", headers=bearer(platform, "alice")).status_code
        == 403
    )
