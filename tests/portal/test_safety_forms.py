"""The safety queue's endpoints without a browser: who is refused with which status, bad form input
answered with a page naming the field, nothing changed by a refusal, nothing cached."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from pnyx.safety.model import ClassificationStatus, SafetyLevel
from pnyx.server import create_app
from pnyx.wiring import Platform
from tests.integration.test_safety_classification import Facility
from tests.portal.signing_in import bearer

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform, run_appender=False, run_dispatcher=False)) as c:
        yield c


@pytest.fixture
def wide(platform: Platform) -> str:
    """A project proposed at L2, awaiting an officer."""
    project = Facility(platform).project(general_purpose=True)
    platform.safety.ensure_classified(project)
    return project


def test_only_officers_get_the_panel_and_it_is_never_cached(
    client: TestClient, platform: Platform, wide: str
) -> None:
    panel = "/portal/safety/queue/panel"
    for headers, status in [
        ({}, 401),
        ({"Authorization": "Basic x"}, 401),
        ({"Authorization": "Bearer pnyx_unknown"}, 401),
        (bearer(platform, "alice"), 403),
    ]:
        refused = client.get(panel, headers=headers)
        assert (refused.status_code, wide in refused.text) == (status, False), headers
        assert refused.headers["content-type"].startswith("text/html")
    shown = client.get(panel, headers=bearer(platform, "sofia"))
    assert shown.status_code == 200
    assert wide in shown.text
    assert shown.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ("level=L7", 400, "a safety level is L1, L2, L3 or L4; got 'L7'"),
        ("level=L7", 400, 'data-testid="error-level"'),  # beside the field
        ("level=L1", 400, 'data-testid="error-level"'),  # not a raise
        ("", 400, 'data-testid="error-level"'),
        ("level=%00", 400, "no NUL"),
        ("level=" + "3" * 2001, 400, "at most 2000 characters"),
        ("&".join(f"f{i}=1" for i in range(30)), 400, "not readable"),
        ("level=%C3%28", 400, "not readable"),  # not UTF-8
    ],
)
def test_bad_form_input_is_a_page_naming_it_and_changes_nothing(
    client: TestClient, platform: Platform, wide: str, body: str, status: int, says: str
) -> None:
    sofia = FORM | bearer(platform, "sofia")
    answer = client.post(f"/portal/safety/classifications/{wide}/raise", content=body, headers=sofia)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert says in html.unescape(answer.text)
    assert platform.safety.classification(wide).status is ClassificationStatus.PROPOSED


def test_paths_a_database_cannot_hold_are_no_such_page(client: TestClient, platform: Platform) -> None:
    officer = bearer(platform, "sofia") if Facility(platform) else {}
    for path in [
        "/portal/safety/classifications/a%00b/confirm",
        "/portal/safety/releases/" + "r" * 201 + "/refuse",
    ]:
        answer = client.post(path, headers=officer)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")


def test_an_officer_raises_through_the_form(client: TestClient, platform: Platform, wide: str) -> None:
    answer = client.post(
        f"/portal/safety/classifications/{wide}/raise",
        content="level=L3",
        headers=FORM | bearer(platform, "omar"),
    )
    assert answer.status_code == 200
    assert f"{wide} raised to L3" in answer.text
    raised = platform.safety.classification(wide)
    assert (raised.level, raised.status, raised.decided_by) == (
        SafetyLevel.L3,
        ClassificationStatus.CONFIRMED,
        ("omar",),
    )


def test_lowering_takes_a_second_officer(client: TestClient, platform: Platform, wide: str) -> None:
    path = f"/portal/safety/classifications/{wide}"
    sofia, omar = FORM | bearer(platform, "sofia"), FORM | bearer(platform, "omar")
    proposed = client.post(path + "/lower", content="level=L1", headers=sofia)
    assert f"{wide}: lowering to L1 proposed" in proposed.text
    assert "Agree to lower" not in proposed.text  # not to sofia, who proposed it
    same = client.post(path + "/agree-lower", headers=sofia)
    assert (same.status_code, 'data-testid="done"' in same.text) == (403, True)  # the refusal, at the top
    assert "Agree to lower" in client.get("/portal/safety/queue/panel", headers=omar).text
    lowered = client.post(path + "/agree-lower", headers=omar)
    assert f"{wide} lowered to L1" in lowered.text
    assert platform.safety.classification(wide).level is SafetyLevel.L1
