"""LoRA fine-tuning (``python -m pnyx.training.finetune``) of a base model version laid out as the
registry serves it to a job (``/inputs/<version>``: ``pnyx-model.json`` and ``model.safetensors``),
on a directory of ``.txt`` files; the adapter loaded back onto the base (``load_adapter``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pnyx.core.errors import InvalidInput
from pnyx.training import finetune, lora
from pnyx.training.adapter_files import load_adapter, read_base
from pnyx.training.config import TrainConfig, config_hash
from pnyx.training.launch import CPU_ENV
from pnyx.training.network import Decoder, loss_sum
from pnyx.training.provenance import model_card, write_card, write_weights
from pnyx.training.text_data import TextBatches, read_texts
from tests.training.conftest import fixture_shards, torchrun, write_dataset

VERSION = "ab" * 32  # the base's directory is named by its model version id, as in a job
TEXT = b"The SME keeps its weights and its data to itself; the facility keeps the log. "
STEPS = 30


def write_base(directory: Path, config: TrainConfig | None = None, seed: int = 0) -> Path:
    """A model version's files as the recipe writes them, of a freshly initialised network."""
    config = config or TrainConfig()
    directory.mkdir(parents=True)
    torch.manual_seed(seed)
    write_weights(directory, Decoder(config).state_dict())
    final = {"loss": 5.0, "tokens_per_s": 1.0, "mfu": 0.0}
    card = model_card(name="base", config=asdict(config), config_hash=config_hash(config), dataset="0" * 64,
                      world_size=1, checkpoints=[], final=final)  # fmt: skip
    write_card(directory, card)
    return directory


def write_texts(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "notes.txt").write_bytes(TEXT * 12)
    (directory / "more.txt").write_bytes(b"lora adapters on a public base model. " * 8)
    (directory / "settings.json").write_text("{}")  # not text to learn from: left alone
    return directory


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args: str | Path | int) -> int:
    """``finetune.main`` in this process, on the CPU even where CUDA is (the tests compare bits)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "is_available", lambda: False)
        return finetune.main([str(a) for a in args])


def text_loss(model: Decoder, data: Path, config: TrainConfig) -> float:
    """Mean loss over every chunk of the texts once."""
    batches = TextBatches(read_texts(data), config, 1, seed=0)
    everything = TextBatches(read_texts(data), config, len(batches.chunks), seed=0).batch(0)
    with torch.no_grad():
        logits = model(everything.tokens, everything.image, everything.audio)
        return float(loss_sum(logits, everything.targets)) / everything.loss_tokens


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(base, data, out): an adapter of ``STEPS`` steps at rank 4."""
    root = tmp_path_factory.mktemp("finetune")
    base, data = write_base(root / VERSION), write_texts(root / "data")
    assert run("--base", base, "--data", data, "--out", root / "out", "--steps", STEPS, "--rank", 4) == 0
    return base, data, root / "out"


def test_the_adapter_file_holds_the_lora_tensors_alone(tuned: tuple[Path, Path, Path]) -> None:
    _, _, out = tuned
    state = load_file(str(out / "adapter.safetensors"))
    assert len(state) == 2 * TrainConfig().layers * len(lora.TARGETS)  # an A and a B per target layer
    assert all("lora_" in name for name in state)
    assert {t.shape[0] for n, t in state.items() if "lora_A" in n} == {4}  # the rank
    assert any(bool(t.abs().sum() > 0) for n, t in state.items() if "lora_B" in n)  # B starts at 0: trained


def test_the_card_pins_the_base_the_data_and_the_adapter(tuned: tuple[Path, Path, Path]) -> None:
    base, data, out = tuned
    card = json.loads((out / "pnyx-adapter.json").read_text())
    assert card["format"] == "pnyx.adapter/1"
    assert card["base"] == {
        "version": VERSION,
        "weights_sha256": sha256(base / "model.safetensors"),
        "config_hash": config_hash(TrainConfig()),
    }
    assert card["adapter_sha256"] == sha256(out / "adapter.safetensors")
    assert card["data"] == [
        {"path": name, "sha256": sha256(data / name), "bytes": (data / name).stat().st_size}
        for name in ("more.txt", "notes.txt")
    ]
    assert (card["config"]["rank"], card["config"]["alpha"], card["steps"]) == (4, 16, STEPS)
    assert card["config"]["targets"] == list(lora.TARGETS)
    assert card["config_hash"] == lora.config_hash(lora.FinetuneConfig(rank=4, steps=STEPS))
    assert card["final"]["loss"] > 0
    assert card["final"]["tokens_per_s"] > 0


def test_the_adapter_on_its_base_fits_the_text_better_than_the_base(tuned: tuple[Path, Path, Path]) -> None:
    base, data, out = tuned
    before = text_loss(read_base(base).model, data, TrainConfig())
    after = text_loss(load_adapter(base, out), data, TrainConfig())
    assert after < before - 0.5, (before, after)


def test_training_moves_the_adapter_and_leaves_the_base_as_it_was(tmp_path: Path) -> None:
    base = read_base(write_base(tmp_path / "base"))
    frozen = {name: t.clone() for name, t in base.model.state_dict().items()}
    config = lora.FinetuneConfig(rank=2, steps=3)
    model = lora.wrap(base.model, config)
    start = lora.adapter_state(model)
    batches = TextBatches(read_texts(write_texts(tmp_path / "data")), base.config, 4, seed=0)
    steps = finetune.train_adapter(model, batches, config, torch.device("cpu"))
    assert [s.step for s in steps] == [0, 1, 2]
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n in dict(model.named_parameters()) if "lora_" in n
    }
    for name, tensor in model.get_base_model().state_dict().items():
        if "lora_" not in name:
            assert torch.equal(tensor, frozen[name.replace(".base_layer", "")]), name
    assert any(not torch.equal(t, start[n]) for n, t in lora.adapter_state(model).items())


def test_a_run_prints_its_progress_and_is_repeatable_bit_for_bit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, data = write_base(tmp_path / "base"), write_texts(tmp_path / "data")
    for out in ("one", "two"):
        assert run("--base", base, "--data", data, "--out", tmp_path / out, "--steps", 3) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("pnyx.training.finetune: LoRA rank 8 alpha 16 on qkv,out,gate_up,down;")
    assert [line.split(" loss ")[0] for line in lines[1:4]] == ["step 1/3", "step 2/3", "step 3/3"]
    assert all(" tokens/s " in line for line in lines[1:4])
    assert lines[4].startswith("done: final loss ")
    for name in ("adapter.safetensors", "pnyx-adapter.json"):
        first, second = (tmp_path / "one" / name).read_bytes(), (tmp_path / "two" / name).read_bytes()
        assert first == second or (name == "pnyx-adapter.json" and _same_but_speed(first, second))


def _same_but_speed(first: bytes, second: bytes) -> bool:
    a, b = json.loads(first), json.loads(second)
    for card in (a, b):
        card["final"].pop("tokens_per_s")
    return bool(a == b)


def test_a_config_file_sets_the_adapter_and_the_options_override_it(tmp_path: Path) -> None:
    base, data = write_base(tmp_path / "base"), write_texts(tmp_path / "data")
    (tmp_path / "c.json").write_text(json.dumps({"rank": 2, "targets": ["qkv", "head"], "lr": 0.01}))
    args = ("--base", base, "--data", data, "--out", tmp_path / "out", "--config", tmp_path / "c.json")
    assert run(*args, "--steps", 2, "--alpha", 4) == 0
    card = json.loads((tmp_path / "out" / "pnyx-adapter.json").read_text())
    assert card["config"] == {"rank": 2, "alpha": 4, "targets": ["qkv", "head"], "lr": 0.01,
                              "batch_size": 4, "steps": 2, "seed": 0}  # fmt: skip
    names = load_file(str(tmp_path / "out" / "adapter.safetensors"))
    assert {n.split(".lora_")[0].rsplit(".", 1)[-1] for n in names} == {"qkv", "head"}


def _no_weights(base: Path) -> None:
    (base / "model.safetensors").unlink()


def _weights_of_another_config(base: Path) -> None:
    (base / "model.safetensors").unlink()
    write_weights(base, Decoder(replace(TrainConfig(), d_model=32)).state_dict())


@pytest.mark.parametrize(
    ("spoil", "extra", "says"),
    [
        (_no_weights, [], "--base "),
        (_weights_of_another_config, [], "--base "),
        (None, ["--base-sha256", "0" * 64], "--base-sha256: pinned digest does not match"),
        (None, ["--base-sha256", "zz"], "--base-sha256 must be 64 lower-case hex digits"),
        (None, ["--rank", "0"], "rank must be 1..1024, got 0"),
        (None, ["--steps", "0"], "steps must be positive, got 0"),
    ],
)
def test_a_bad_base_or_option_is_refused_in_one_line_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spoil: object, extra: list[str], says: str
) -> None:
    base, data = write_base(tmp_path / "base"), write_texts(tmp_path / "data")
    if callable(spoil):
        spoil(base)
    assert run("--base", base, "--data", data, "--out", tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert says in err, err
    assert not (tmp_path / "out").exists()


def test_a_base_without_weights_and_one_that_does_not_fit_its_card_say_so(tmp_path: Path) -> None:
    base = write_base(tmp_path / "base")
    _weights_of_another_config(base)
    with pytest.raises(InvalidInput, match="does not fit the card's config") as caught:
        read_base(base)
    assert caught.value.field == "base"
    _no_weights(base)
    with pytest.raises(InvalidInput, match=r"cannot open model\.safetensors"):
        read_base(base)


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({}, "holds no .txt files"),
        ({"a.json": b"{}"}, "holds no .txt files"),
        ({"a.txt": b"", "b.txt": b""}, "every .txt file is empty"),
    ],
)
def test_data_without_text_is_refused_naming_the_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, bytes], says: str
) -> None:
    base, data = write_base(tmp_path / "base"), tmp_path / "data"
    data.mkdir()
    for name, content in files.items():
        (data / name).write_bytes(content)
    assert run("--base", base, "--data", data, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err == f"error: --data {data} {says}\n" or err == f"error: --data {data}: {says}\n", err
    assert not (tmp_path / "out").exists()


def test_a_symlinked_text_and_a_used_out_directory_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, data = write_base(tmp_path / "base"), write_texts(tmp_path / "data")
    (data / "link.txt").symlink_to(data / "notes.txt")
    assert run("--base", base, "--data", data, "--out", tmp_path / "out") == 2
    assert "--data file link.txt" in capsys.readouterr().err
    (data / "link.txt").unlink()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pnyx-adapter.json").write_text("{}")
    assert run("--base", base, "--data", data, "--out", tmp_path / "out") == 2
    assert "--out" in capsys.readouterr().err


def test_an_adapter_loads_only_onto_the_base_it_pins_and_only_as_written(
    tuned: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, _, out = tuned
    other = write_base(tmp_path / "other", seed=1)
    with pytest.raises(InvalidInput, match="the adapter was trained on") as caught:
        load_adapter(other, out)
    assert caught.value.field == "base"
    tampered = tmp_path / "tampered"
    shutil.copytree(out, tampered)
    raw = bytearray((tampered / "adapter.safetensors").read_bytes())
    raw[-1] ^= 1
    (tampered / "adapter.safetensors").write_bytes(bytes(raw))
    with pytest.raises(InvalidInput, match=r"is not the file pnyx-adapter\.json pins"):
        load_adapter(tuned[0], tampered)


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"rank": 0}, "rank must be 1..1024"),
        ({"alpha": 0}, "alpha must be positive"),
        ({"targets": ["tokens"]}, "unknown layer 'tokens'"),
        ({"targets": []}, "one or more layers"),
        ({"targets": "qkv"}, "must be a list of layer names"),
        ({"rank": 2.5}, "must be an integer"),
        ({"lora_dropout": 0.1}, "unknown config field 'lora_dropout'"),
    ],
)
def test_a_fine_tuning_config_is_refused_by_field(fields: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        lora.config_from_mapping(fields)
    assert caught.value.field == next(iter(fields))


@pytest.mark.slow
def test_an_adapter_on_a_base_the_recipe_trained_through_the_command_line(tmp_path: Path) -> None:
    """The base is a run of the recipe under a real torchrun; fine-tuning is ``python -m``."""
    write_dataset(tmp_path / "dataset", fixture_shards())
    base = tmp_path / VERSION
    trained = torchrun("--data", tmp_path / "dataset", "--out", base, "--steps", "6")
    assert trained.returncode == 0, trained.stderr[-3000:]
    data = write_texts(tmp_path / "data")
    done = command("--base", base, "--data", data, "--out", tmp_path / "out", "--steps", STEPS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"step {STEPS}/{STEPS} loss " in done.stdout
    card = json.loads((tmp_path / "out" / "pnyx-adapter.json").read_text())
    assert card["base"]["weights_sha256"] == sha256(base / "model.safetensors")
    assert card["base"]["config_hash"] == json.loads((base / "pnyx-model.json").read_text())["config_hash"]
    before = text_loss(read_base(base).model, data, TrainConfig())
    assert text_loss(load_adapter(base, tmp_path / "out"), data, TrainConfig()) < before
    refused = command("--base", base, "--data", data, "--out", tmp_path / "again", "--rank", "0")
    assert (refused.returncode, refused.stderr) == (2, "error: rank must be 1..1024, got 0\n")


def command(*args: str | Path | int) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pnyx.training.finetune", *map(str, args)]
    env = {**os.environ, **CPU_ENV}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)
