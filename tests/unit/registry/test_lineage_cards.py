"""The model card: Hugging Face front matter that YAML parsers read as intended, and a body that a
job's config cannot break out of."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import yaml

from pnyx.registry.lineage_model import FileRole, ModelFile, ModelVersion, WeightsSummary
from pnyx.registry.model_cards import CardDataset, licence_id, model_card
from pnyx.safety.model import Label, SafetyLevel

DATASET = CardDataset(name="demo", version="d" * 64, licences=("CC-BY-4.0",), shards_read=3, shards=5)


def _model(**changes: Any) -> ModelVersion:
    files = tuple(
        ModelFile(role=role, path=path, sha256=f"{i:064x}", size=10 + i)
        for i, (role, path) in enumerate(
            [(FileRole.WEIGHTS, "model.safetensors"), (FileRole.DATA_ORDER, "data-order.jsonl"),
             (FileRole.METRICS, "metrics.jsonl"), (FileRole.MANIFEST, "pnyx-model.json")]
        )
    )  # fmt: skip
    model = ModelVersion(
        version="e" * 64, name="tiny-lm", job_id="job_1", attempt=0, project="p1", code_digest="c" * 64,
        config_hash="f" * 64, config_json='{"d_model":16}', datasets=("d" * 64,), seed=7, world_size=2,
        batch_size=3, steps=4, final={"loss": 2.5, "mfu": 0.01, "tokens_per_s": 1234.5},
        weights=WeightsSummary(tensors=2, parameters=136, dtypes=("BF16", "F32")), files=files,
        label=Label(level=SafetyLevel.L2, categories=frozenset({"project:p1"})),
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
    )  # fmt: skip
    return dataclasses.replace(model, **changes)


def _front_matter(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    head, _, _body = card[4:].partition("\n---\n")
    found = yaml.safe_load(head)
    assert isinstance(found, dict)
    return found


def test_the_front_matter_is_what_hugging_face_reads() -> None:
    card = model_card(_model(), [DATASET])
    assert _front_matter(card) == {
        "license": "cc-by-4.0",
        "datasets": [f"pnyx/demo@{'d' * 64}"],
        "tags": ["pnyx", "safetensors", "pnyx-label-L2", "project:p1"],
        "library_name": "pytorch",
        "model-index": [
            {
                "name": "tiny-lm",
                "results": [
                    {
                        "task": {"type": "text-generation", "name": "Next-token prediction (training)"},
                        "dataset": {"name": "demo", "type": "pnyx/demo", "revision": "d" * 64},
                        "metrics": [
                            {"type": "loss", "value": 2.5, "name": "final training loss", "verified": False},
                            {
                                "type": "mfu",
                                "value": 0.01,
                                "name": "model FLOPs utilization",
                                "verified": False,
                            },
                            {
                                "type": "tokens_per_s",
                                "value": 1234.5,
                                "name": "tokens per second",
                                "verified": False,
                            },
                        ],
                    }
                ],
            }
        ],
    }
    assert card == model_card(_model(), [DATASET])  # the same inputs, the same bytes


def test_the_body_gives_the_lineage_and_the_files() -> None:
    card = model_card(_model(), [DATASET])
    assert "| `demo` | `" + "d" * 64 + "` | 3 of 5 | CC-BY-4.0 |" in card
    assert "- job: `job_1` (attempt 0)" in card
    assert "- code digest: `" + "c" * 64 + "`" in card
    assert "seed 7, world size 2, batch size 3 per rank, 4 steps" in card
    assert "| `model.safetensors` | weights | 10 | `" + f"{0:064x}" + "` |" in card
    assert "## Intended use" in card
    assert "parameters: 136 in 2 tensors (BF16, F32)" in card


def test_a_config_cannot_break_out_of_its_code_block() -> None:
    hostile = '{"note":"```\\n---\\nlicense: mit\\n```"}'
    card = model_card(_model(config_json=hostile), [DATASET])
    assert "\n````json\n" + hostile + "\n````\n" in card
    assert _front_matter(card)["license"] == "cc-by-4.0"


def test_licences_hugging_face_cannot_name_are_other() -> None:
    assert licence_id(["MIT"]) == "mit"
    assert licence_id(["MIT", "Apache-2.0"]) == "other"
    assert licence_id(["MIT OR Apache-2.0"]) == "other"
    assert licence_id([]) == "other"
    two = dataclasses.replace(DATASET, licences=("MIT", "CC0-1.0"))
    matter = _front_matter(model_card(_model(), [two]))
    assert (matter["license"], matter["license_name"]) == ("other", "training-data-licences")
