"""Evaluation results as data: strict parsing of pnyx-eval.json, comparison within the published
tolerance, and the canonical bytes the facility signs."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.registry.evaluation import (
    RESULT_MAX_BYTES,
    EvalResult,
    compare,
    config_digest,
    parse_result,
    result_json,
    signing_text,
)

CONFIG: dict[str, Any] = {"batch_size": 8, "model_config_hash": "c" * 64}


def document(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "format": "pnyx.eval/1",
        "model": "a" * 64,
        "weights_sha256": "b" * 64,
        "eval_set": "d" * 64,
        "harness_digest": "e" * 64,
        "config": CONFIG,
        "config_hash": config_digest(CONFIG),
        "metrics": {"samples": 25, "loss": 2.5, "bits_per_byte": 3.6, "accuracy": 0.25},
        "tolerance": {"loss": 1e-6, "bits_per_byte": 1e-6, "accuracy": 0.0},
    }
    found.update(changes)
    return found


def parsed(**changes: Any) -> EvalResult:
    return parse_result(json.dumps(document(**changes)).encode())


def with_metric(result: EvalResult, name: str, value: float) -> EvalResult:
    return replace(result, metrics=tuple(sorted({**dict(result.metrics), name: value}.items())))


def refusal(raw: bytes) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_result(raw)
    return caught.value


def test_a_result_round_trips_and_reads_by_name() -> None:
    result = parsed()
    assert result.metric("loss") == 2.5
    assert result.metric("samples") == 25
    assert result.metric("perplexity") is None
    assert result.allowed("loss") == 1e-6
    assert result.allowed("samples") == 0.0
    assert parse_result(json.dumps(result_json(result)).encode()) == result
    assert result_json(result) == document()


def test_a_result_agrees_with_itself() -> None:
    assert compare(parsed(), parsed()) == []


def test_a_difference_within_the_tolerance_agrees() -> None:
    published = parsed()
    assert compare(published, with_metric(published, "loss", 2.5 + 5e-7)) == []


def test_a_metric_outside_its_tolerance_is_named_with_both_values() -> None:
    published = parsed()
    lines = compare(published, with_metric(published, "loss", 2.5001))
    assert len(lines) == 1
    assert lines[0].startswith("metric loss: published 2.5, reproduced 2.5001")
    assert "tolerance 1e-06" in lines[0]


def test_a_metric_without_a_tolerance_must_match_exactly() -> None:
    published = parsed()
    assert compare(published, with_metric(published, "samples", 26)) == [
        "metric samples: published 25, reproduced 26, a difference of 1 over the tolerance 0.0"
    ]


def test_missing_and_extra_metrics_are_named() -> None:
    published = parsed()
    fewer = replace(published, metrics=tuple(m for m in published.metrics if m[0] != "accuracy"))
    assert compare(published, fewer) == ["metric accuracy: published 0.25, missing from the reproduction"]
    assert compare(fewer, published) == ["metric accuracy: not in the published result"]


def test_changed_pins_are_named_before_the_metrics() -> None:
    published = parsed()
    other = with_metric(replace(published, weights_sha256="f" * 64, eval_set="0" * 64), "loss", 3.0)
    lines = compare(published, other)
    assert lines[0] == f"weights_sha256 differs: published {'b' * 64}, reproduced {'f' * 64}"
    assert lines[1] == f"eval_set differs: published {'d' * 64}, reproduced {'0' * 64}"
    assert lines[2].startswith("metric loss:")
    assert len(lines) == 3


def test_a_changed_config_names_its_hash_and_the_field() -> None:
    config = {**CONFIG, "batch_size": 4}
    lines = compare(parsed(), parsed(config=config, config_hash=config_digest(config)))
    assert lines == [
        f"config_hash differs: published {config_digest(CONFIG)}, reproduced {config_digest(config)}",
        "config batch_size differs: published 8, reproduced 4",
    ]


def test_the_signing_text_is_canonical_and_covers_every_field() -> None:
    result = parsed()
    text = signing_text(result)
    assert json.loads(text) == document()
    assert text.startswith(b'{"config":{"batch_size":8,')  # sorted keys
    assert b" " not in text
    assert b'"tolerance":{"accuracy":0,"bits_per_byte":0.000001,' in text  # RFC 8785 numbers
    reordered = json.dumps(dict(reversed(list(document().items()))), indent=3).encode()
    assert signing_text(parse_result(reordered)) == text
    assert signing_text(with_metric(result, "loss", 2.5000001)) != text
    assert signing_text(replace(result, model="9" * 64)) != text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"format": "pnyx.eval/2"}, "format"),
        ({"model": "A" * 64}, "model"),
        ({"weights_sha256": "b" * 63}, "weights_sha256"),
        ({"eval_set": 7}, "eval_set"),
        ({"harness_digest": None}, "harness_digest"),
        ({"config_hash": "0" * 64}, "config_hash"),
        ({"config": []}, "config"),
        ({"metrics": {"loss": "2.5"}}, "metrics.loss"),
        ({"metrics": {"loss": True}}, "metrics.loss"),
        ({"metrics": {"Loss": 2.5}}, "metrics"),
        ({"metrics": {"x" * 65: 2.5}}, "metrics"),
        ({"metrics": {"loss": 2**60}}, "metrics.loss"),
        ({"metrics": {f"m{i}": i for i in range(65)}}, "metrics"),
        ({"tolerance": {"loss": -1e-6}}, "tolerance.loss"),
        ({"tolerance": {"perplexity": 0.1}}, "tolerance"),
        ({"signature": "x"}, "signature"),
    ],
)
def test_a_malformed_field_is_refused_by_name(changes: dict[str, Any], field: str) -> None:
    assert refusal(json.dumps(document(**changes)).encode()).field == field


def test_a_config_value_of_the_wrong_kind_is_refused() -> None:
    config = {"batch_size": [8]}
    found = refusal(json.dumps(document(config=config, config_hash="0" * 64)).encode())
    assert found.field == "config.batch_size"
    config_long = {"note": "x" * 257}
    assert refusal(json.dumps(document(config=config_long, config_hash="0" * 64)).encode()).field == (
        "config.note"
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"{not json",
        b"\xff\xfe",
        json.dumps(document()).replace("2.5", "NaN").encode(),
        json.dumps(document()).replace("2.5", "Infinity").encode(),
        b" " * (RESULT_MAX_BYTES + 1),
    ],
)
def test_a_document_that_is_no_result_is_refused(raw: bytes) -> None:
    found = refusal(raw)
    assert found.field in {"result", "metrics.loss"}
