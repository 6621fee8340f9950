"""Standard task formats (``python -m pnyx.training.lm_eval_tasks``): the generated multiple-choice
task run through lm-eval-harness offline against a tiny base, written as ``pnyx-eval.json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch

from pnyx.core.errors import InvalidInput
from pnyx.registry.evaluation import EVAL_FILE, EvalResult, parse_result
from pnyx.training import lm_eval_tasks
from pnyx.training.config import TrainConfig
from pnyx.training.evaluate import load_model
from pnyx.training.model_files import read_model_files
from pnyx.training.network import Decoder
from tests.training.test_finetune import VERSION, write_base

needs_lm_eval = pytest.mark.skipif(find_spec("lm_eval") is None, reason="lm_eval not installed (pnyx[eval])")
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The entry point in a fresh process, with the Hugging Face libraries told to stay offline."""
    env = {**os.environ, **OFFLINE, "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, "-m", "pnyx.training.lm_eval_tasks", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(base, task, out): the generated task scored once by the CLI."""
    if find_spec("lm_eval") is None:
        pytest.skip("lm_eval not installed (pnyx[eval])")
    root = tmp_path_factory.mktemp("lm_eval")
    base, task, out = write_base(root / VERSION), root / "task", root / "out"
    assert cli("make-task", task).returncode == 0
    done = cli("run", "--model", base, "--task", task, "--out", out, "--model-version", VERSION)
    assert done.returncode == 0, done.stderr
    return base, task, out


def result(out: Path) -> EvalResult:
    return parse_result((out / EVAL_FILE).read_bytes())


@needs_lm_eval
def test_the_task_is_scored_offline_into_an_eval_result(ran: tuple[Path, Path, Path]) -> None:
    _, task, out = ran
    found = result(out)
    assert found.model == VERSION
    assert found.eval_set == lm_eval_tasks.task_digest(task)
    assert dict(found.config)["harness"] == "lm_eval"
    assert found.metric("items") == 20
    for name in ("acc", "acc_norm"):
        value = found.metric(name)
        assert value is not None
        assert 0.0 <= value <= 1.0


@needs_lm_eval
def test_the_same_inputs_give_the_same_file(
    ran: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, task, out = ran
    for name, value in OFFLINE.items():
        monkeypatch.setenv(name, value)
    options = lm_eval_tasks.Options(
        model=base, task=task, out=tmp_path, weights_sha256=None, model_version=VERSION
    )
    lm_eval_tasks.run_task(options)
    assert (tmp_path / EVAL_FILE).read_bytes() == (out / EVAL_FILE).read_bytes()


def test_the_generated_task_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    lm_eval_tasks.write_task(tmp_path / "a")
    lm_eval_tasks.write_task(tmp_path / "b")
    assert lm_eval_tasks.task_digest(tmp_path / "a") == lm_eval_tasks.task_digest(tmp_path / "b")
    items = [json.loads(line) for line in (tmp_path / "a" / lm_eval_tasks.DATA_FILE).read_text().splitlines()]
    assert len(items) == 20
    assert len({item["context"] for item in items}) == 20
    assert all(len(set(item["choices"])) == 4 and 0 <= item["gold"] < 4 for item in items)
    lm_eval_tasks.write_task(tmp_path / "c", seed=1)
    assert lm_eval_tasks.task_digest(tmp_path / "c") != lm_eval_tasks.task_digest(tmp_path / "a")


def test_a_missing_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # what an environment without the extra imports
    with pytest.raises(InvalidInput, match=r"install pnyx\[eval\] to run lm-eval tasks"):
        lm_eval_tasks.lm_eval()
    assert lm_eval_tasks.main(["make-task", str(tmp_path / "task")]) == 2
    assert capsys.readouterr().err == "error: install pnyx[eval] to run lm-eval tasks\n"
    assert not (tmp_path / "task").exists()


@needs_lm_eval
def test_a_task_naming_a_hub_dataset_is_refused(ran: tuple[Path, Path, Path], tmp_path: Path) -> None:
    base, task, _ = ran
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / lm_eval_tasks.DATA_FILE).write_bytes((task / lm_eval_tasks.DATA_FILE).read_bytes())
    (hub / lm_eval_tasks.TASK_FILE).write_text(
        (task / lm_eval_tasks.TASK_FILE).read_text().replace("dataset_path: json", "dataset_path: cais/mmlu")
    )
    done = cli("run", "--model", base, "--task", hub, "--out", tmp_path / "out")
    assert done.returncode == 2
    assert "dataset_path json" in done.stderr
    assert not (tmp_path / "out" / EVAL_FILE).exists()


@needs_lm_eval
def test_weights_that_differ_from_the_pin_are_refused(ran: tuple[Path, Path, Path], tmp_path: Path) -> None:
    base, task, _ = ran
    options = lm_eval_tasks.Options(
        model=base, task=task, out=tmp_path, weights_sha256="0" * 64, model_version=None
    )
    with pytest.raises(InvalidInput, match="pinned digest does not match"):
        lm_eval_tasks.run_task(options)
    assert not (tmp_path / EVAL_FILE).exists()


def test_rolling_scores_each_byte_once_in_windows(tmp_path: Path) -> None:
    config = TrainConfig(seq_len=16)
    model = load_model(*read_model_files(write_base(tmp_path / "base", config), "model"))
    short = b"open science"
    assert lm_eval_tasks.rolling_logprob(model, config, short) == pytest.approx(
        lm_eval_tasks.continuation_logprob(model, config, b"", short)[0]
    )
    body = b"the council meets at the harbour library " * 3  # 126 bytes: eight windows
    windows = [_direct(model, [256, *body][max(0, e - 17) : e], e - s) for s, e in _spans(len(body), 16)]
    assert lm_eval_tasks.rolling_logprob(model, config, body) == pytest.approx(sum(windows))


def _spans(length: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, length + 1)) for s in range(1, length + 1, size)]


def _direct(model: Decoder, tokens: list[int], scored: int) -> float:
    inputs = torch.tensor([tokens[:-1]])
    zeros = (torch.zeros(1, inputs.shape[1], 16), torch.zeros(1, inputs.shape[1], 64))
    with torch.no_grad():
        logp = torch.log_softmax(model(inputs, *zeros)[0].double(), dim=-1)
    return sum(float(logp[i, t]) for i, t in enumerate(tokens[1:]) if i >= len(tokens) - 1 - scored)


@needs_lm_eval
def test_generation_is_declined_clearly(tmp_path: Path) -> None:
    config = TrainConfig()
    adapter = lm_eval_tasks._adapter(lm_eval_tasks.lm_eval())(Decoder(config), config)
    with pytest.raises(NotImplementedError, match="do not generate"):
        adapter.generate_until([])
