"""Resume is bit for bit: 4 steps, a checkpoint, a new torchrun with --resume to 8, equals 8 steps in
one go (losses as float reprs, the data-order record byte for byte, every weight)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.training.conftest import read_jsonl, torchrun

pytestmark = pytest.mark.slow


def test_an_interrupted_and_resumed_run_equals_an_uninterrupted_one(dataset: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"checkpoint_every": 4}))
    whole, split = tmp_path / "whole", tmp_path / "split"

    a = torchrun("--data", dataset, "--out", whole, "--config", config, "--steps", "8")
    b1 = torchrun("--data", dataset, "--out", split, "--config", config, "--steps", "4")
    assert a.returncode == 0, a.stderr[-2000:]
    assert b1.returncode == 0, b1.stderr[-2000:]
    assert len(read_jsonl(split / "metrics.jsonl")) == 4
    b2 = torchrun("--data", dataset, "--out", split, "--config", config, "--steps", "8", "--resume")
    assert b2.returncode == 0, b2.stderr[-3000:]
    assert "steps 4..8" in b2.stdout

    losses = [[repr(m["loss"]) for m in read_jsonl(run / "metrics.jsonl")] for run in (whole, split)]
    assert losses[0] == losses[1]
    assert len(losses[0]) == 8
    assert [m["step"] for m in read_jsonl(split / "metrics.jsonl")] == list(range(8))
    assert (whole / "data-order.jsonl").read_bytes() == (split / "data-order.jsonl").read_bytes()
    weights = [load_file(str(run / "model.safetensors")) for run in (whole, split)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    cards = [json.loads((run / "pnyx-model.json").read_text()) for run in (whole, split)]
    assert (
        cards[0]["checkpoints"]
        == cards[1]["checkpoints"]
        == [{"step": 4, "dir": "checkpoints/step-000004"}, {"step": 8, "dir": "checkpoints/step-000008"}]
    )
    assert cards[0]["config_hash"] == cards[1]["config_hash"]


def test_resume_cuts_records_back_to_the_checkpoint(dataset: Path, tmp_path: Path) -> None:
    """A run that wrote steps past its last checkpoint (it died there) resumes from the checkpoint:
    the lines after it are dropped and rewritten, and the result equals an uninterrupted run."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"checkpoint_every": 3}))
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert torchrun("--data", dataset, "--out", whole, "--config", config, "--steps", "6").returncode == 0
    assert torchrun("--data", dataset, "--out", split, "--config", config, "--steps", "5").returncode == 0
    # step 5's checkpoint stands in for one that never completed: only step-000003 remains
    for leftover in (split / "checkpoints" / "step-000005").iterdir():
        leftover.unlink()
    (split / "checkpoints" / "step-000005").rmdir()
    assert len(read_jsonl(split / "metrics.jsonl")) == 5

    resumed = torchrun("--data", dataset, "--out", split, "--config", config, "--steps", "6", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "steps 3..6" in resumed.stdout
    assert (whole / "data-order.jsonl").read_bytes() == (split / "data-order.jsonl").read_bytes()
    losses = [[repr(m["loss"]) for m in read_jsonl(run / "metrics.jsonl")] for run in (whole, split)]
    assert losses[0] == losses[1]
