"""The evaluation harness end to end: a tiny model trained by the recipe under a real torchrun, then
scored by ``python -m pnyx.training.evaluate`` on the training fixture and on a generated, held-out
evaluation set (``registry.samples`` with another seed, made a version by ``importer.write_version``)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from pnyx.registry.evaluation import compare, parse_result
from pnyx.registry.importer import write_version
from pnyx.registry.samples import write_samples
from pnyx.training.config import TrainConfig
from pnyx.training.launch import CPU_ENV
from pnyx.training.network import Decoder
from pnyx.training.provenance import code_digest
from tests.training.conftest import fixture_shards, torchrun, write_dataset

pytestmark = pytest.mark.slow


def evaluate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pnyx.training.evaluate", *map(str, args)]
    env = {**os.environ, **CPU_ENV}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model directory, dataset directory): 12 steps of the recipe on the fixture shards."""
    root = tmp_path_factory.mktemp("evaluate")
    write_dataset(root / "dataset", fixture_shards())
    done = torchrun("--data", root / "dataset", "--out", root / "model", "--steps", "12")
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "model", root / "dataset"


def test_two_evaluations_write_the_same_result_bit_for_bit(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = trained
    pin = sha256(model / "model.safetensors")
    for run in ("first", "second"):
        done = evaluate("--model", model, "--data", data, "--out", tmp_path / run, "--weights-sha256", pin)
        assert done.returncode == 0, done.stderr[-3000:]
    first = (tmp_path / "first" / "pnyx-eval.json").read_bytes()
    assert first == (tmp_path / "second" / "pnyx-eval.json").read_bytes()
    result = parse_result(first)
    assert compare(result, parse_result(first)) == []

    manifest = json.loads((data / "manifest.json").read_text())
    assert (result.model, result.weights_sha256) == (pin, pin)
    assert result.eval_set == manifest["version"]
    assert result.harness_digest == code_digest()
    assert dict(result.config)["batch_size"] == 8
    assert dict(result.tolerance) == {"loss": 1e-6, "bits_per_byte": 1e-6, "accuracy": 0.0}
    found = dict(result.metrics)
    assert found["samples"] == 13
    assert 0 < found["bytes"] < found["tokens"]  # EOS targets count for the loss, not per byte
    assert 0 < found["accuracy"] <= 1
    assert 0 < found["loss"] < math.log(TrainConfig().vocab)  # trained: better than uniform


def test_a_trained_model_scores_better_than_its_untrained_start(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    model, data = trained
    untrained = tmp_path / "untrained"
    shutil.copytree(model, untrained, ignore=shutil.ignore_patterns("checkpoints"))
    torch.manual_seed(0)
    save_file(Decoder(TrainConfig()).state_dict(), str(untrained / "model.safetensors"))
    scores = []
    for name, directory in (("trained", model), ("untrained", untrained)):
        done = evaluate("--model", directory, "--data", data, "--out", tmp_path / name)
        assert done.returncode == 0, done.stderr[-3000:]
        scores.append(dict(parse_result((tmp_path / name / "pnyx-eval.json").read_bytes()).metrics))
    assert scores[0]["bits_per_byte"] < 0.8 * scores[1]["bits_per_byte"]
    assert scores[0]["accuracy"] > scores[1]["accuracy"]


def test_a_generated_held_out_set_is_evaluated_whole(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = trained
    write_samples(tmp_path / "samples", per_source=4, seed=7)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    samples, registry = tmp_path / "samples", tmp_path / "registry"
    data = write_version(samples, registry, name="eval-set", now=now, shard_samples=5)
    manifest = json.loads((data / "manifest.json").read_text())
    version = "7" * 64
    done = evaluate("--model", model, "--data", data, "--out", tmp_path / "out", "--model-version", version)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "evaluated: accuracy" in done.stdout
    result = parse_result((tmp_path / "out" / "pnyx-eval.json").read_bytes())
    assert result.model == version
    assert result.eval_set == manifest["version"] == data.name
    assert result.metric("samples") == sum(s["samples"] for s in manifest["shards"]) > 5


def test_a_reproduction_under_another_config_names_it(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = trained
    (tmp_path / "config.json").write_text('{"batch_size": 3}')
    runs = {"published": (), "reproduced": ("--config", tmp_path / "config.json")}
    for name, extra in runs.items():
        done = evaluate("--model", model, "--data", data, "--out", tmp_path / name, *extra)
        assert done.returncode == 0, done.stderr[-3000:]
    published, reproduced = (parse_result((tmp_path / n / "pnyx-eval.json").read_bytes()) for n in runs)
    lines = compare(published, reproduced)
    assert lines[0].startswith("config_hash differs: published ")
    assert lines[1] == "config batch_size differs: published 8, reproduced 3"
    assert all(not line.startswith("metric samples") for line in lines)


def test_tampered_weights_are_refused_against_the_pin(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = trained
    pin = sha256(model / "model.safetensors")
    tampered = tmp_path / "model"
    shutil.copytree(model, tampered, ignore=shutil.ignore_patterns("checkpoints"))
    weights = bytearray((tampered / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01
    (tampered / "model.safetensors").write_bytes(bytes(weights))
    done = evaluate("--model", tampered, "--data", data, "--out", tmp_path / "out", "--weights-sha256", pin)
    assert done.returncode == 2
    assert "error: pinned digest does not match" in done.stderr
    assert not (tmp_path / "out").exists()


def test_weights_that_do_not_fit_the_card_are_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = trained
    other = tmp_path / "model"
    shutil.copytree(model, other, ignore=shutil.ignore_patterns("checkpoints"))
    card = json.loads((other / "pnyx-model.json").read_text())
    card["config"]["d_model"] = 128
    (other / "pnyx-model.json").write_text(json.dumps(card))
    done = evaluate("--model", other, "--data", data, "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "model.safetensors does not fit the card's config" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_tampered_evaluation_set_is_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = trained
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    shard = copy / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[:-1] + b"\x01")
    done = evaluate("--model", model, "--data", copy, "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "shard shard-000001.tar does not match the manifest" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--weights-sha256", "XYZ"), "--weights-sha256 must be 64 lower-case hex digits"),
        (("--config", "CONFIG"), "unknown evaluation config field 'shuffle'"),
    ],
)
def test_bad_options_are_refused_by_name(
    trained: tuple[Path, Path], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    model, data = trained
    (tmp_path / "config.json").write_text('{"shuffle": true}')
    argv = [str(tmp_path / "config.json") if a == "CONFIG" else a for a in args]
    done = evaluate("--model", model, "--data", data, "--out", tmp_path / "out", *argv)
    assert done.returncode == 2
    assert message in done.stderr


def test_an_existing_result_is_not_overwritten(trained: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = trained
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pnyx-eval.json").write_text("{}")
    done = evaluate("--model", model, "--data", data, "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "already holds pnyx-eval.json" in done.stderr
    assert (tmp_path / "out" / "pnyx-eval.json").read_text() == "{}"
