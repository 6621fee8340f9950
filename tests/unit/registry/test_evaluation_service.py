"""Evaluation results on both databases: a finished job's hand-written ``pnyx-eval.json`` for a
registered model taken in through the real local executor's reader, signed with the log's key,
stored with its public log entry; a result pinning other weights refused; reads as the model's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from pnyx.core.errors import NotFound
from pnyx.db.outbox import outbox
from pnyx.identity.model import ANONYMOUS
from pnyx.jobs.model import JobRecord
from pnyx.registry.evaluation import EVAL_FILE, EvalResult, Scalar, config_digest, parse_result, result_json
from pnyx.registry.evaluation_records import note_text
from pnyx.registry.evaluation_service import EvaluationService, RegistryIntake
from pnyx.registry.evaluation_store import evaluation_intakes, evaluation_results
from pnyx.registry.lineage_model import FileRole, IntakeOutcome, ModelVersion
from pnyx.transparency.note import open_note
from pnyx.wiring import Platform
from tests.unit.registry.lineage_outputs import finished_job
from tests.unit.registry.test_lineage_service import ADA, BOB, World, build_world

HARNESS = "ab" * 32
CONFIG: dict[str, Scalar] = {"batch_size": 8, "split": "test"}


@pytest.fixture
def world(platform: Platform, tmp_path: Path) -> World:
    return build_world(platform, tmp_path)


def _service(world: World) -> EvaluationService:
    return EvaluationService(
        world.platform.uow, blobs=world.blobs, readers={"local": world.executor}, models=world.models,
        signer=world.platform.log.signer,
    )  # fmt: skip


def _result(model: ModelVersion, weights: str | None = None, loss: float = 2.25) -> EvalResult:
    return EvalResult(
        model=model.version, weights_sha256=weights or model.role(FileRole.WEIGHTS).sha256,
        eval_set=model.datasets[0], harness_digest=HARNESS, config=tuple(sorted(CONFIG.items())),
        config_hash=config_digest(CONFIG), metrics=(("loss", loss), ("perplexity", 9.5)),
        tolerance=(("loss", 0.01),),
    )  # fmt: skip


def _eval_job(world: World, result: EvalResult, job_id: str = "job_eval01") -> JobRecord:
    files = {EVAL_FILE: json.dumps(result_json(result)).encode()}
    return finished_job(world.platform, world.executor, files, job_id=job_id, models=[result.model])


def _rows(platform: Platform, table: sa.Table) -> list[dict[str, object]]:
    with platform.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table)).mappings()]


def _events(platform: Platform, event_type: str) -> list[dict[str, object]]:
    with platform.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.entry).where(outbox.c.event_type == event_type)).scalars()
        return [json.loads(row)["data"] for row in rows]


def test_a_result_for_a_registered_model_is_signed_stored_and_logged(world: World) -> None:
    model, service = world.register(), _service(world)
    result = _result(model)
    job = _eval_job(world, result)
    assert service.intake(job) is None
    (stored,) = service.results(ADA, model.version)
    assert stored.parsed == result
    assert service.result(ADA, stored.id) == stored
    signer = world.platform.log.signer
    assert signer is not None
    text, names = open_note(stored.signature, [signer.verifier])
    assert text == note_text(result)
    assert names == [signer.name]
    assert parse_result(text.encode()) == result
    (event,) = _events(world.platform, "registry.evaluation.recorded")
    assert event["result_id"] == stored.id
    assert event["model_version"] == model.version
    assert event["metrics"] == {"loss": 2.25, "perplexity": 9.5}
    assert event["harness_digest"] == HARNESS
    assert service.intake(job) is None  # once per attempt
    assert len(_rows(world.platform, evaluation_results)) == 1


def test_a_result_pinning_other_weights_is_refused_and_the_refusal_recorded(world: World) -> None:
    model, service = world.register(), _service(world)
    job = _eval_job(world, _result(model, weights="0" * 64))
    refusal = service.intake(job)
    assert refusal is not None
    assert "pinned digest does not match" in refusal
    assert _rows(world.platform, evaluation_results) == []
    (intake,) = _rows(world.platform, evaluation_intakes)
    assert intake["outcome"] == IntakeOutcome.REFUSED.value
    assert intake["code"] == "pinned_digest_mismatch"
    (event,) = _events(world.platform, "registry.evaluation.refused")
    assert event == {"job_id": job.id, "attempt": job.attempt, "code": "pinned_digest_mismatch"}


def test_a_result_for_an_unknown_model_or_a_malformed_file_is_refused(world: World) -> None:
    model, service = world.register(), _service(world)
    unknown = dataclasses.replace(_result(model), model="f" * 64)
    assert "not in the registry" in (service.intake(_eval_job(world, unknown)) or "")
    files = {EVAL_FILE: b"[" * 5000 + b"]" * 5000}
    bad = finished_job(world.platform, world.executor, files, job_id="job_eval02", models=[model.version])
    assert service.intake(bad) is not None
    assert _rows(world.platform, evaluation_results) == []


def test_results_are_read_as_their_model_version_is(world: World) -> None:
    model, service = world.register(), _service(world)
    assert service.intake(_eval_job(world, _result(model))) is None
    (stored,) = service.results(ADA, model.version)
    for outsider in (BOB, ANONYMOUS):
        with pytest.raises(NotFound):
            service.results(outsider, model.version)
        with pytest.raises(NotFound, match="evaluation result"):
            service.result(outsider, stored.id)


def test_the_registry_intake_takes_in_models_and_evaluations(world: World) -> None:
    model, service = world.register(), _service(world)
    both = RegistryIntake(world.models, service)
    job = _eval_job(world, _result(model))
    assert [j.id for j in both.untaken(since=job.submitted_at, limit=10)] == [job.id]
    assert both.intake(job) is None
    assert both.untaken(since=job.submitted_at, limit=10) == []
    assert len(service.results(ADA, model.version)) == 1


def test_a_result_for_a_model_the_job_was_not_given_is_refused(world: World) -> None:
    model, service = world.register(), _service(world)
    files = {EVAL_FILE: json.dumps(result_json(_result(model))).encode()}
    job = finished_job(world.platform, world.executor, files, job_id="job_eval03")  # no model input
    refusal = service.intake(job)
    assert refusal is not None
    assert f"model version {model.version} is not among the job's model inputs (none)" in refusal
    assert _rows(world.platform, evaluation_results) == []
    (intake,) = _rows(world.platform, evaluation_intakes)
    assert (intake["outcome"], intake["code"]) == (IntakeOutcome.REFUSED.value, "model_not_an_input")
