"""Evaluation results over HTTP (both databases): listed and shown as their model version is read
(the canonical bytes and the facility's signed note, which verifies with the log's key), compared,
and reproduced by an auditor: the job pinned to the same model, set and config, its own result taken
in and compared (agreement, or each metric outside the tolerance); unknown results, a missing
project, other roles and replaced weights refused by name. The reproduction runs on a fake engine
and is finished by hand (``evaluation_world``): no sandbox runs the harness here."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pnyx.core.ids import UserId
from pnyx.jobs.model import InputKind
from pnyx.registry.evaluation import parse_result
from pnyx.registry.evaluation_checks import harness_command
from pnyx.registry.evaluation_records import StoredResult, note_text
from pnyx.server import create_app
from pnyx.transparency.note import open_note
from pnyx.wiring import Platform
from tests.api.evaluation_world import EvalWorld, build_eval_world, eval_result

API = "/api/v1/registry"


@dataclass
class Api:
    client: TestClient
    ev: EvalWorld
    published: StoredResult
    auth: dict[str, dict[str, str]]

    def get(self, path: str, role: str | None = None) -> Any:
        return self.client.get(API + path, headers=self.auth[role] if role else {})

    def reproduce(self, result_id: str, role: str = "auditor", **body: str) -> Any:
        return self.client.post(
            f"{API}/evaluations/{result_id}/reproductions", json=body, headers=self.auth[role]
        )


@pytest.fixture
def api(platform: Platform, tokens: dict[str, str], tmp_path: Path) -> Iterator[Api]:
    auditor = platform.identity.user("auditor").id
    ev = build_eval_world(platform, tmp_path, frozenset({UserId(auditor)}))
    published = ev.publish(eval_result(ev.model, ev.world.dataset.version), "job_eval01")
    auth = {role: {"Authorization": value} for role, value in tokens.items()}
    app = create_app(ev.wired(), run_appender=False, run_dispatcher=False)
    with TestClient(app) as client:
        yield Api(client=client, ev=ev, published=published, auth=auth)


def test_results_are_listed_and_shown_as_their_model_is_read(api: Api) -> None:
    version = api.ev.model.version
    listed = api.get(f"/models/{version}/evaluations", "researcher")
    assert listed.status_code == 200, listed.text
    [found] = listed.json()
    assert (found["id"], found["model"], found["metrics"]) == (
        api.published.id,
        version,
        {"accuracy": 0.5, "loss": 2.25},
    )
    shown = api.get(f"/evaluations/{api.published.id}", "researcher").json()
    assert shown["canonical"].encode() == api.published.result
    signer = api.ev.platform.log.signer
    assert signer is not None
    text, _ = open_note(shown["signature"], [signer.verifier])
    assert text == note_text(parse_result(shown["canonical"].encode())) == shown["canonical"] + "\n"
    for role in (None, "reviewer"):  # an unreleased p1 model: not the public's, nor a non-member's
        hidden = api.get(f"/evaluations/{api.published.id}", role)
        assert (hidden.status_code, hidden.json()["code"]) == (404, "evaluation_not_found")
        assert api.get(f"/models/{version}/evaluations", role).status_code == 404
    unknown = api.get("/evaluations/eval_" + "0" * 32, "researcher")
    assert (unknown.status_code, unknown.json()["field"]) == (404, "result_id")


def test_two_results_are_compared_within_the_published_tolerance(api: Api) -> None:
    near = api.ev.publish(eval_result(api.ev.model, api.ev.world.dataset.version, loss=2.255), "job_eval02")
    far = api.ev.publish(eval_result(api.ev.model, api.ev.world.dataset.version, loss=2.5), "job_eval03")

    agree = api.get(f"/evaluations/compare?a={api.published.id}&b={near.id}", "researcher").json()
    differ = api.get(f"/evaluations/compare?a={api.published.id}&b={far.id}", "researcher").json()

    assert (agree["agree"], agree["metrics"], agree["differences"]) == (True, [], [])
    assert differ["agree"] is False
    [gap] = differ["metrics"]
    assert gap == {
        "name": "loss",
        "published": 2.25,
        "reproduced": 2.5,
        "tolerance": 0.01,
        "difference": 0.25,
    }
    assert api.get(f"/evaluations/compare?a={api.published.id}&b=x", "researcher").status_code == 422


def test_an_auditor_reproduces_a_result_and_gets_the_comparison(api: Api) -> None:
    made = api.reproduce(api.published.id, project="audit")

    assert made.status_code == 201, made.text
    job = api.ev.jobs.get(api.ev.platform.identity.principal_of("auditor"), made.json()["id"])
    result = api.published.parsed
    assert job.command == harness_command(result)
    assert job.command[-1] == '{"batch_size":8}'  # the pinned config, less what the harness derives
    assert [(i.version, i.kind) for i in job.inputs] == [
        (result.eval_set, InputKind.DATASET),
        (result.model, InputKind.MODEL),
    ]
    assert (job.project, job.user, job.accelerators) == ("audit", "auditor", 2)  # the published job's size
    path = f"/evaluations/{api.published.id}/reproductions/{job.id}"
    pending = api.get(path, "auditor").json()
    assert (pending["status"], pending["comparison"]) == ("pending", None)

    api.ev.finish(job.id, result)
    done = api.get(path, "auditor").json()

    assert done["status"] == "completed"
    assert done["comparison"]["agree"] is True
    assert done["reproduced"] != api.published.id


def test_a_reproduction_that_differs_names_each_metric(api: Api) -> None:
    job_id = api.reproduce(api.published.id, project="audit").json()["id"]
    api.ev.finish(job_id, eval_result(api.ev.model, api.ev.world.dataset.version, loss=2.4))

    found = api.get(f"/evaluations/{api.published.id}/reproductions/{job_id}", "auditor").json()

    assert found["comparison"]["agree"] is False
    assert [
        (g["name"], g["published"], g["reproduced"], g["tolerance"]) for g in found["comparison"]["metrics"]
    ] == [("loss", 2.25, 2.4, 0.01)]


def test_reproduction_requests_refused_by_name(api: Api) -> None:
    unknown = api.reproduce("eval_" + "0" * 32, project="audit")
    assert (unknown.status_code, unknown.json()["field"]) == (404, "result_id")
    no_project = api.reproduce(api.published.id)
    assert (no_project.status_code, no_project.json()["field"]) == (400, "project")
    assert api.reproduce(api.published.id, role="researcher", project="p1").status_code == 403
    not_member = api.reproduce(api.published.id, project="p2")
    assert (not_member.status_code, not_member.json()["field"]) == (403, "project")
    api.ev.replace_weights()
    gone = api.reproduce(api.published.id, project="audit")
    assert (gone.status_code, gone.json()["code"]) == (409, "pinned_weights_gone")
