"""The intake against hostile outputs (attack report M1, M2, M3): a manifest claiming a dataset the
job was not given, or a withdrawn one; values that crash a parser (huge integers, Infinity, a list
as a dtype, deep nesting); a data-order record over its budget, or an intake past its time. Each is
a recorded refusal (an intake row and the public ``registry.model.refused`` entry), nothing is
registered, and a takedown of the dataset names no model. Real local executor, real blob store,
both databases."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pnyx.identity.model import LOCAL_CONSOLE
from pnyx.registry import lineage_service
from pnyx.registry.lineage_model import IntakeOutcome, ModelVersion
from pnyx.registry.lineage_service import ModelService
from pnyx.registry.lineage_store import ModelRepository, model_files, model_intakes, model_versions
from pnyx.safety.model import SafetyLevel
from pnyx.wiring import Platform
from tests.unit.registry.lineage_outputs import finished_job, manifest, outputs, safetensors
from tests.unit.registry.test_lineage_service import ADA, World, _count, _events, build_world

NESTED = 5000  # deeper than Python's recursion limit


@pytest.fixture
def world(platform: Platform, tmp_path: Path) -> World:
    return build_world(platform, tmp_path)


def _refused(world: World, files: dict[str, bytes], inputs: list[str] | None = None, **kw: Any) -> str:
    """The refusal's message; checks the intake row, the public entry, and that nothing registered."""
    models = kw.pop("models", world.models)
    job = finished_job(world.platform, world.executor, files, inputs=inputs, **kw)
    refusal = models.intake(job)
    assert refusal is not None
    (intake,) = world.models.intakes(ADA, job.id)
    assert (intake.outcome, intake.version, intake.reason) == (IntakeOutcome.REFUSED, None, refusal)
    assert {"job_id": job.id, "attempt": 0, "code": intake.code} in _events(
        world.platform, "registry.model.refused"
    )
    assert _count(world.platform, model_versions) == _count(world.platform, model_files) == 0
    assert world.models.intake(job) is None  # decided once: not tried again, not reported again
    return f"{intake.code}: {refusal}"


def _with_manifest(files: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    found = json.loads(files["pnyx-model.json"])
    return files | {"pnyx-model.json": json.dumps(found | changes).encode()}


# --- M1: the dataset claimed is one the job was given, and not withdrawn --------------------------


def test_a_dataset_the_job_was_not_given_is_refused_and_no_takedown_names_it(world: World) -> None:
    files = outputs(world.run())  # a true record of the demo dataset, computed from its shard sizes
    message = _refused(world, files, inputs=[])
    assert message.startswith("dataset_not_an_input: manifest: dataset version ")
    assert "is not among the job's inputs (it was given: none)" in message
    other = "ab" * 32  # given another version, claiming this one
    assert f"it was given: {other}" in _refused(world, files, inputs=[other], job_id="job_other")
    done = world.platform.datasets.takedown(
        LOCAL_CONSOLE, "demo", reason="court order", origin=world.dataset.sources[0].origin
    )
    assert done.affected_models == ()
    assert _count(world.platform, model_intakes) == 2


def test_a_withdrawn_dataset_version_is_refused_naming_its_successor(world: World) -> None:
    done = world.platform.datasets.takedown(
        LOCAL_CONSOLE, "demo", reason="court order", origin=world.dataset.sources[0].origin
    )
    assert world.dataset.version in done.withdrawn
    message = _refused(world, outputs(world.run()))  # given the version before it was withdrawn
    assert message.startswith(f"dataset_withdrawn: manifest: dataset version {world.dataset.version}")
    assert f"its successor is {done.to_version}" in message


# --- M3: values that crash a parser are refusals ---------------------------------------------------


def _order(files: dict[str, bytes], old: bytes, new: bytes) -> dict[str, bytes]:
    record = files["data-order.jsonl"]
    assert old in record
    return files | {"data-order.jsonl": record.replace(old, new, 1)}


def _nested_config(files: dict[str, bytes]) -> dict[str, bytes]:
    found = json.loads(files["pnyx-model.json"])
    found["config"]["deep"] = "NESTED"
    text = json.dumps(found).replace('"NESTED"', "[" * 900 + "]" * 900)
    return files | {"pnyx-model.json": text.encode()}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: _with_manifest(f, final={"loss": 10**400, "tokens_per_s": 1.0, "mfu": 0.1}),
         "final.loss must be a finite number"),
        (lambda f: _order(f, b'"step":0}', b'"step":Infinity}'), "data-order line 1"),
        (lambda f: _order(f, b'"step":0}', b'"step":1e400}'), "data-order line 1"),
        (lambda f: _order(f, b'"ranges":[[', b'"ranges":[[1e400,'), "data-order line 1"),
        (lambda f: _order(f, b"\n", b"\n" + b"[" * NESTED + b"\n"), "order_over_budget"),  # up front
        (lambda f: _order(f, b'"step":0}', b'"step":0,"x":1}'), "data-order line 1"),
        (lambda f: _order(f, b'"step":0}', b'"step":"0"}'), "data-order line 1"),
        (lambda f: f | {"model.safetensors": safetensors({"w": ("F32", [2])}).replace(b'"F32"', b'["F32"]')},
         "has an unknown dtype"),
        (lambda f: f | {"model.safetensors": b"\x00\x28" + bytes(6) + b"{" * 40},
         "not a valid safetensors file"),
        (lambda f: f | {"pnyx-model.json": b"[" * NESTED}, "manifest is not valid JSON"),
        (_nested_config, ""),
    ],
)  # fmt: skip
def test_values_that_crash_a_parser_are_recorded_refusals(world: World, change: Any, message: str) -> None:
    assert message in _refused(world, change(outputs(world.run())))


# --- M2: the data-order record's budget, and the intake's time -------------------------------------


def test_a_record_longer_than_any_true_record_of_the_run_is_refused_up_front(world: World) -> None:
    files = outputs(world.run())
    padded = files["data-order.jsonl"].replace(b"\n", b" " * 200 + b"\n")
    message = _refused(world, files | {"data-order.jsonl": padded})
    assert message.startswith(f"order_over_budget: the data-order record is {len(padded)} bytes")


def test_a_run_too_costly_to_re_derive_is_refused_up_front(world: World) -> None:
    files = outputs(world.run())
    huge = manifest(world.run(steps=3_000_000, checkpoints=()))  # 6M lines: 18M units of work
    started = time.monotonic()
    message = _refused(world, files | {"pnyx-model.json": json.dumps(huge).encode()})
    assert time.monotonic() - started < 10
    assert message.startswith("order_over_budget: re-deriving this run's data order (6000000 lines")


def test_an_intake_past_its_time_budget_is_refused(world: World) -> None:
    m = world.models
    hurried = ModelService(
        world.platform.uow, blobs=m.blobs, datasets=m.datasets, readers=m.readers, members=m.members,
        releases=m.releases, log=m.log, jobs=m.jobs, intake_budget_s=0.0,
    )  # fmt: skip
    message = _refused(world, outputs(world.run()), models=hurried)
    assert message.startswith("intake_over_budget: checking the job's outputs took more than")
    assert "budget of 0 s" in message


# --- Low 12: a listing pages through the versions it may not read ---------------------------------


def test_a_listing_pages_past_versions_the_reader_may_not_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    readable = world.register()
    hidden: list[ModelVersion] = []
    for n in range(3):  # L2: ada holds p1's L1 clearance only
        job = finished_job(world.platform, world.executor, outputs(world.run()), job_id=f"job_l2_{n}",
                           level=SafetyLevel.L2)  # fmt: skip
        assert world.models.intake(job) is None
    monkeypatch.setattr(lineage_service, "PAGE", 1)
    assert [m.version for m in world.models.search(ADA, limit=1)] == [readable.version]
    assert world.models.search(ADA, offset=1) == hidden
    monkeypatch.setattr(lineage_service, "MAX_SCAN", 1)  # the cap: one version looked at
    with world.platform.engine.connect() as conn:
        (newest,) = ModelRepository(conn).search(name=None, limit=1)
    assert world.models.search(ADA) == ([readable] if newest == readable else [])
