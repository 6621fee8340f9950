"""Pure checks on what a training job wrote: the manifest, checkpoints, the data order, the
safetensors header, version ids, and who reads a version."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pnyx.core.errors import InvalidInput
from pnyx.registry.lineage_intake import bounded_lines
from pnyx.registry.lineage_model import (
    CheckpointManifest,
    CheckpointRef,
    FileRelease,
    FileRole,
    ModelFile,
    ModelVersion,
    WeightsSummary,
)
from pnyx.registry.lineage_order import check_inputs, check_order, check_order_budget, shards_read
from pnyx.registry.lineage_rules import (
    PUBLIC,
    check_checkpoint,
    checkpoint_files,
    is_public,
    may_read_model,
    model_artifact,
    parse_checkpoint_manifest,
    parse_manifest,
    parse_model_artifact,
    version_id,
)
from pnyx.registry.order import OrderSpec, order_line, rank_ranges
from pnyx.registry.weights import header_length, summarize
from pnyx.safety.defaults import DEFAULT_POLICY
from pnyx.safety.model import Label, SafetyLevel
from tests.unit.registry.lineage_outputs import Run, manifest, order_record, outputs, safetensors

DATASET = "d" * 64
RUN = Run(dataset=DATASET, sizes=(5, 3, 4))
P1 = Label(level=SafetyLevel.L1, categories=frozenset({"project:p1"}))


def _parse(**changes: Any) -> Any:
    return parse_manifest(json.dumps(manifest(RUN) | changes).encode())


def test_a_manifest_as_the_recipe_writes_it_parses() -> None:
    found = _parse()
    assert (found.name, found.steps, found.world_size, found.batch_size, found.seed) == (
        "tiny-lm",
        4,
        2,
        3,
        7,
    )
    assert found.config_json == (
        '{"batch_size":3,"checkpoint_every":2,"d_model":16,"layers":2,"lr":0.001,"seed":7,"steps":4}'
    )
    assert found.checkpoints == (CheckpointRef(step=2, dir="checkpoints/step-000002"),
                                 CheckpointRef(step=4, dir="checkpoints/step-000004"))  # fmt: skip
    assert found.paths()[FileRole.WEIGHTS] == "model.safetensors"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"extra": 1}, "unknown fields: 'extra'"),
        ({"format": "pnyx.model/2"}, "format must be"),
        ({"steps": True}, "steps must be an integer"),
        ({"steps": 0}, "steps must be an integer in 1.."),
        ({"world_size": 10**7}, "world_size must be an integer"),
        ({"seed": -1}, "seed must be an integer"),
        ({"name": "a b"}, "name must be"),
        ({"config": [1]}, "config must be a JSON object"),
        ({"config": RUN.full_config | {"lr": 0.002}}, "does not match its config"),
        ({"config": RUN.full_config | {"seed": 8}}, "does not match its config"),
        ({"config": RUN.full_config | {"steps": 9}}, "config.steps is 9, the run's steps is 4"),
        ({"config": RUN.full_config | {"checkpoint_every": 3}, "checkpoints": []}, None),
        ({"config_hash": "ABC"}, "config_hash must be 64 lowercase hex"),
        ({"datasets": []}, "exactly one dataset version"),
        ({"datasets": [DATASET, DATASET]}, "exactly one dataset version"),
        ({"weights": "/etc/passwd"}, "relative path"),
        ({"weights": "a/../b.safetensors"}, "relative path"),
        ({"weights": "model.bin"}, "weights must end in .safetensors"),
        ({"metrics": "data-order.jsonl"}, "three different files"),
        ({"data_order": "README.md"}, "data_order must end in .jsonl"),
        ({"checkpoints": [{"step": 9, "dir": "c"}]}, "step must be an integer in 0..4"),
        ({"checkpoints": [{"step": 1, "dir": "c"}, {"step": 2, "dir": "c"}]}, "share a step or a directory"),
        ({"checkpoints": [{"step": 1, "dir": "c", "x": 1}]}, "unknown fields"),
        ({"final": {"loss": 1.0}}, "lacks mfu, tokens_per_s"),
        ({"final": {"loss": "1", "mfu": 0, "tokens_per_s": 0}}, "final.loss must be a finite number"),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_field(changes: dict[str, Any], message: str | None) -> None:
    if message is None:  # how often a run saves is not part of its configuration's hash
        _parse(**changes)
        return
    with pytest.raises(InvalidInput, match=message) as refused:
        _parse(**changes)
    assert refused.value.field is not None
    assert refused.value.field.startswith("manifest")  # ours, never a key the job chose


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "a key appears twice"),
        (b'{"a": NaN}', "NaN is not a JSON number"),
        (b"[1]", "not a JSON object"),
        (b"\xff", "not valid JSON"),
        (b"[" * 100_000, "limit is 65536"),
        (b"[" * 60_000, "not valid JSON"),  # deep nesting within the cap: refused, not a crash
    ],
)
def test_the_manifest_is_parsed_strictly(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_manifest(data)


def test_a_checkpoint_of_another_configuration_is_refused() -> None:
    found = _parse()
    ref = found.checkpoints[0]
    good = CheckpointManifest(step=2, config_hash=found.config_hash, dataset=DATASET, seed=7, world_size=2)
    check_checkpoint(found, ref, good)
    bad = dataclasses.replace(good, config_hash="0" * 64)
    with pytest.raises(
        InvalidInput, match=r"its config_hash is 0+, .* written by another configuration"
    ) as no:
        check_checkpoint(found, ref, bad)
    assert no.value.code == "config_mismatch"
    with pytest.raises(InvalidInput, match="its world_size is 4, the run's is 2"):
        check_checkpoint(found, ref, dataclasses.replace(good, world_size=4))
    with pytest.raises(InvalidInput, match=r"no recorded pnyx-checkpoint\.json"):
        checkpoint_files(ref, ["checkpoints/step-000002/.metadata"])


def test_a_checkpoint_record_as_the_recipe_writes_it() -> None:
    data = outputs(RUN)["checkpoints/step-000002/pnyx-checkpoint.json"]
    parsed = parse_checkpoint_manifest(data)
    assert parsed == CheckpointManifest(
        step=2, config_hash=RUN.config_hash, dataset=DATASET, seed=7, world_size=2
    )
    record = json.loads(data)
    with pytest.raises(InvalidInput, match="does not match its config"):
        parse_checkpoint_manifest(json.dumps(record | {"config": record["config"] | {"lr": 1.0}}).encode())
    with pytest.raises(InvalidInput, match="unknown fields: 'extra'"):
        parse_checkpoint_manifest(json.dumps(record | {"extra": 1}).encode())
    resumed = record | {"config": record["config"] | {"steps": 40}}  # a longer run: the same trajectory
    assert parse_checkpoint_manifest(json.dumps(resumed).encode()) == parsed


def test_the_data_order_record_must_be_the_pure_order() -> None:
    record = order_record(RUN).decode().splitlines(keepends=True)
    spec = RUN.spec
    check_order(spec, record, RUN.steps)
    with pytest.raises(InvalidInput, match="stops after 7 lines of 8"):
        check_order(spec, record[:-1], RUN.steps)
    forged = [*record[:3], record[3].replace('"rank":1', '"rank":0'), *record[4:]]
    with pytest.raises(InvalidInput, match=r"line 4 \(step 1, rank 0\) differs"):
        check_order(spec, forged, RUN.steps)


def test_a_record_line_nested_past_the_recursion_limit_is_refused() -> None:
    record = order_record(RUN).decode().splitlines(keepends=True)
    with pytest.raises(InvalidInput, match="data-order line 2 is not a record"):
        check_order(RUN.spec, [record[0], "[" * 5000 + "\n", *record[2:]], RUN.steps)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 30), min_size=1, max_size=12),
    world_size=st.integers(1, 4),
    batch_size=st.integers(1, 40),
    steps=st.integers(1, 12),
)
def test_every_true_record_fits_its_budget_and_one_byte_more_does_not_always(
    sizes: list[int], world_size: int, batch_size: int, steps: int
) -> None:
    spec = OrderSpec(sizes=tuple(sizes), seed=3, world_size=world_size, batch_size=batch_size)
    lines = [order_line(s, r, rank_ranges(spec, s, r)) for s in range(steps) for r in range(world_size)]
    check_order_budget(spec, steps, sum(len(line) + 1 for line in lines))
    with pytest.raises(InvalidInput, match="a record of this run is at most"):
        check_order_budget(spec, steps, 10**12)


def test_a_run_too_costly_to_re_derive_is_refused_before_any_line_is_read() -> None:
    spec = OrderSpec(sizes=(1,) * 3000, seed=1, world_size=1, batch_size=3000)  # the report's "heavy"
    with pytest.raises(InvalidInput, match=r"1500 lines of up to 3000 ranges, 1501 epochs of 3000 shards"):
        check_order_budget(spec, 1500, 0)
    check_order_budget(spec, 1000, 0)  # 6M units: within the budget (the time budget bounds it)


def test_the_dataset_claimed_must_be_among_the_jobs_inputs() -> None:
    found = _parse()
    check_inputs(found, [DATASET, "e" * 64])
    for inputs, named in (([], "none"), (["e" * 64], "e" * 64)):
        with pytest.raises(InvalidInput, match=f"not among the job's inputs \\(it was given: {named}\\)"):
            check_inputs(found, inputs)


def test_record_lines_are_bounded() -> None:
    lines = iter([b"a\n", b"x" * 70_000])
    with pytest.raises(InvalidInput, match="line 2 is longer than 65536 bytes"):
        list(bounded_lines(lambda n: next(lines, b"")[:n]))
    with pytest.raises(InvalidInput, match="line 1 is not UTF-8"):
        list(bounded_lines(lambda n: b"\xff\n"))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=6),
    seed=st.integers(0, 50),
    world_size=st.integers(1, 3),
    batch_size=st.integers(1, 4),
    steps=st.integers(1, 5),
)
def test_the_shards_read_are_exactly_those_the_record_names(
    sizes: list[int], seed: int, world_size: int, batch_size: int, steps: int
) -> None:
    spec = OrderSpec(sizes=tuple(sizes), seed=seed, world_size=world_size, batch_size=batch_size)
    named = {r.shard for s in range(steps) for rank in range(world_size) for r in rank_ranges(spec, s, rank)}
    assert [u.shard for u in shards_read(spec, DATASET, steps)] == sorted(named)


def test_the_safetensors_header_is_checked_against_the_format() -> None:
    data = safetensors({"a": ("F32", [2, 3]), "b": ("I64", [1])}, metadata={"format": "pt"})
    length = header_length(data[:8], len(data))
    summary = summarize(data[8 : 8 + length], len(data) - 8 - length)
    assert summary == WeightsSummary(tensors=2, parameters=7, dtypes=("F32", "I64"))


def _header(tensors: dict[str, Any]) -> bytes:
    return json.dumps(tensors).encode()


@pytest.mark.parametrize(
    ("header", "data_bytes", "message"),
    [
        (_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}), 12, "cover 8 bytes of a 12"),
        (
            _header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}),
            12,
            "starts at 4, not at 0",
        ),
        (
            _header(
                {
                    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]},
                }
            ),
            8,
            "a hole or an overlap",
        ),
        (_header({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}), 8, "span 8 bytes"),
        (_header({"a": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}}), 8, "unknown dtype"),
        (_header({"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}), 4, "shape"),
        (_header({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}), 4, "exactly dtype"),
        (_header({"__metadata__": {"a": 1}}), 0, "__metadata__ must map names to strings"),
        (b'{"a": 1, "a": 2}', 0, "a key appears twice"),
        (b"[]", 0, "does not start with"),
    ],
)
def test_a_bad_safetensors_header_is_refused(header: bytes, data_bytes: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        summarize(header, data_bytes)


def test_the_header_length_must_fit_the_file() -> None:
    with pytest.raises(InvalidInput, match="shorter than the 8-byte"):
        header_length(b"\x01", 1)
    with pytest.raises(InvalidInput, match="does not fit the file"):
        header_length((100).to_bytes(8, "little"), 50)
    with pytest.raises(InvalidInput, match="does not fit the file"):
        header_length((2**63).to_bytes(8, "little"), 2**64)


def test_version_ids_are_content_addressed() -> None:
    digests = {FileRole.WEIGHTS: "a" * 64, FileRole.DATA_ORDER: "b" * 64}
    first = version_id("job_1", 0, digests)
    assert first == version_id("job_1", 0, dict(reversed(digests.items())))
    assert first != version_id("job_1", 1, digests)
    assert first != version_id("job_1", 0, digests | {FileRole.WEIGHTS: "c" * 64})
    assert parse_model_artifact(model_artifact(first, "a/b.safetensors")) == (first, "a/b.safetensors")
    assert parse_model_artifact("job_1/model.safetensors") is None
    assert parse_model_artifact("model:nothex/x") is None


def _version() -> ModelVersion:
    files = tuple(
        ModelFile(role=role, path=f"{role.value}.f", sha256=f"{i:064x}", size=1)
        for i, role in enumerate(FileRole)
    )
    return ModelVersion(
        version="e" * 64, name="m", job_id="job_1", attempt=0, project="p1", code_digest="c" * 64,
        config_hash="f" * 64, config_json="{}", datasets=(DATASET,), seed=0, world_size=1, batch_size=1,
        steps=1, final={}, weights=WeightsSummary(tensors=0, parameters=0, dtypes=()), files=files, label=P1,
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )  # fmt: skip


def test_a_version_is_public_once_weights_card_and_data_order_are_released_as_registered() -> None:
    model = _version()
    released = [
        FileRelease(path=f.path, release_id=f"rel_{f.role}", sha256=f.sha256, label=PUBLIC)
        for f in model.files
        if f.role in (FileRole.WEIGHTS, FileRole.CARD, FileRole.DATA_ORDER)
    ]
    assert is_public(model, released)
    assert not is_public(model, released[:2])
    other_content = [*released[:2], FileRelease(path=released[2].path, release_id="r", sha256="0" * 64,
                                                label=PUBLIC)]  # fmt: skip
    assert not is_public(model, other_content)
    not_public = [*released[:2], FileRelease(path=released[2].path, release_id="r", sha256=released[2].sha256,
                                             label=P1)]  # fmt: skip
    assert not is_public(model, not_public)


def test_who_reads_a_version() -> None:
    assert may_read_model(True, None, P1, DEFAULT_POLICY)
    assert may_read_model(False, P1, P1, DEFAULT_POLICY)
    assert not may_read_model(False, None, P1, DEFAULT_POLICY)
    assert not may_read_model(False, Label(level=SafetyLevel.L4), P1, DEFAULT_POLICY)  # no compartment
    l3 = Label(level=SafetyLevel.L3, categories=frozenset({"project:p1"}))
    assert not may_read_model(False, l3, l3, DEFAULT_POLICY)  # at L3 only jobs read
