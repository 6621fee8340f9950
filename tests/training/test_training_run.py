"""The recipe end to end: two CPU ranks under a real torchrun write everything the registry needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from pnyx.registry.order import OrderSpec, check_record
from pnyx.training.config import TrainConfig, config_hash
from pnyx.training.network import Decoder
from pnyx.training.provenance import code_digest
from tests.training.conftest import read_jsonl, torchrun

pytestmark = pytest.mark.slow


def test_twenty_steps_write_every_output_and_learn(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = torchrun("--data", dataset, "--out", out, "--steps", "20", "--name", "tiny-test")
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((out / "pnyx-model.json").read_text())
    manifest = json.loads((dataset / "manifest.json").read_text())
    config = TrainConfig(steps=20)

    assert card["format"] == "pnyx.model/1"
    assert card["name"] == "tiny-test"
    assert card["config_hash"] == config_hash(config)
    assert card["code_digest"] == code_digest()
    assert card["datasets"] == [manifest["version"]]
    assert card["world_size"] == 2
    assert card["steps"] == 20
    assert card["checkpoints"] == [
        {"step": 10, "dir": "checkpoints/step-000010"},
        {"step": 20, "dir": "checkpoints/step-000020"},
    ]
    for entry in card["checkpoints"]:
        meta = json.loads((out / entry["dir"] / "pnyx-checkpoint.json").read_text())
        assert meta["step"] == entry["step"]
        assert meta["world_size"] == 2
        assert meta["seed"] == 0
        assert meta["dataset"] == manifest["version"]
        assert meta["config_hash"] == card["config_hash"]
        assert (out / entry["dir"] / ".metadata").is_file()

    spec = OrderSpec(
        sizes=tuple(s["samples"] for s in manifest["shards"]), seed=0, world_size=2, batch_size=4
    )
    lines = (out / "data-order.jsonl").read_text().splitlines()
    assert check_record(spec, lines, steps=20) == 40

    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(20))
    assert all(m["tokens"] == 2 * 4 * 64 and m["tokens_per_s"] > 0 and m["mfu"] > 0 for m in metrics)
    losses = [m["loss"] for m in metrics]
    assert sum(losses[-3:]) / 3 < 0.75 * sum(losses[:3]) / 3, losses
    assert card["final"]["loss"] == losses[-1]

    weights = load_file(str(out / "model.safetensors"))
    expected = Decoder(config).state_dict()
    assert set(weights) == set(expected)
    assert all(weights[k].shape == expected[k].shape for k in expected)
    assert "step 20/20 loss" in done.stdout
    assert "mfu" in done.stdout


def test_an_output_directory_holding_a_run_is_refused_without_resume(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.jsonl").write_text("")
    done = torchrun("--data", dataset, "--out", out, "--steps", "2")
    assert done.returncode != 0
    assert "already holds a run (metrics.jsonl)" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl"]
