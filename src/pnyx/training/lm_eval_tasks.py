"""Standard task formats: a model version scored on an lm-eval-harness task, offline, on CPU.

    python -m pnyx.training.lm_eval_tasks make-task DIR [--items N] [--seed S]
    python -m pnyx.training.lm_eval_tasks run --model DIR --task DIR --out DIR
        [--weights-sha256 HEX] [--model-version ID]

Needs the optional extra (``pip install pnyx[eval]``: ``lm-eval``); without it both commands end
with ``error: install pnyx[eval] to run lm-eval tasks``. ``make-task`` writes a small multiple-choice
task made here from the project's generated notes (``registry.samples.text``: which word comes next),
nothing downloaded: ``task.yaml`` (an lm-eval task config) and ``test.jsonl`` (its documents). ``run``
reads a task directory of that shape (only ``dataset_path: json`` with the directory's own files: a
task that names a hub dataset is refused), wraps the recipe's network as an ``lm_eval`` ``LM``
(byte-level: ``BOS`` then one position per byte, as training reads text) and writes the task's
``acc`` and ``acc_norm`` into ``pnyx-eval.json`` like the harness (``training.evaluate``); the
evaluation set pinned is the task directory's digest (``task_digest``). Generation is not offered.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 (the torch idiom)

from pnyx.core.errors import FacilityError, InvalidInput
from pnyx.registry.evaluation import EVAL_FILE, EvalResult, config_digest
from pnyx.registry.samples import WORDS, text
from pnyx.training.config import BOS, TrainConfig, config_hash
from pnyx.training.evaluate import load_model, write_result
from pnyx.training.model_files import CARD_MAX_BYTES, read_model_files, read_regular
from pnyx.training.network import Decoder
from pnyx.training.provenance import WEIGHTS, code_digest

EXTRA = "install pnyx[eval] to run lm-eval tasks"
TASK_FILE, DATA_FILE = "task.yaml", "test.jsonl"
TASK_NAME = "pnyx_next_word"
DATA_MAX_BYTES = 16 << 20
METRICS = ("acc", "acc_norm")
TOLERANCE = {"acc": 0.0, "acc_norm": 0.0}
TASK_YAML = f"""task: {TASK_NAME}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {DATA_FILE}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: gold
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    model: Path
    task: Path
    out: Path
    weights_sha256: str | None
    model_version: str | None


def lm_eval() -> ModuleType:
    """The ``lm_eval`` package, or ``InvalidInput`` naming the extra that brings it."""
    try:
        import lm_eval as found
        import lm_eval.api.model
    except ImportError as exc:
        raise InvalidInput(EXTRA, field="harness") from exc
    return found  # type: ignore[no-any-return]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pnyx.training.lm_eval_tasks", description=__doc__)
    commands = p.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make-task", help="write the generated multiple-choice task")
    make.add_argument("directory", type=Path)
    make.add_argument("--items", type=int, default=20)
    make.add_argument("--seed", type=int, default=0)
    run = commands.add_parser("run", help="score a model version on a task directory")
    run.add_argument("--model", type=Path, required=True, help="a model version's directory")
    run.add_argument("--task", type=Path, required=True, help=f"a task directory ({TASK_FILE}, {DATA_FILE})")
    run.add_argument("--out", type=Path, required=True, help=f"where {EVAL_FILE} is written")
    run.add_argument("--weights-sha256", help="the pinned SHA-256 of the weights (refused if they differ)")
    run.add_argument("--model-version", help="the model version id to record (default: the weights' SHA-256)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        lm_eval()
        if args.command == "make-task":
            write_task(args.directory, items=args.items, seed=args.seed)
            print(f"wrote {args.directory / TASK_FILE}; digest {task_digest(args.directory)}", flush=True)
            return 0
        result = run_task(
            Options(
                model=args.model,
                task=args.task,
                out=args.out,
                weights_sha256=args.weights_sha256,
                model_version=args.model_version,
            )
        )
    except FacilityError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 2
    print(f"evaluated: {dict(result.metrics)}; wrote {args.out / EVAL_FILE}", flush=True)
    return 0


def write_task(directory: Path, *, items: int = 20, seed: int = 0) -> None:
    """The task's config and ``items`` documents (the same arguments give the same bytes)."""
    if not 1 <= items <= 1000:
        raise InvalidInput(f"items must be 1..1000, got {items}", field="items")
    if directory.exists() and any(directory.iterdir()):
        raise InvalidInput(f"{directory} is not empty; a task goes into a new directory", field="directory")
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lines = (json.dumps(next_word_item(rng, index), sort_keys=True) for index in range(items))
    (directory / DATA_FILE).write_text("".join(line + "\n" for line in lines))
    (directory / TASK_FILE).write_text(TASK_YAML)


def next_word_item(rng: random.Random, index: int) -> dict[str, Any]:
    """A generated note's first sentence cut before a word; that word and three others to choose from."""
    words = text(rng, index).decode().split("\n\n")[1].split(".")[0].split()
    cut = rng.randint(2, len(words) - 1)
    answer = words[cut]
    choices = [answer, *rng.sample([w for w in WORDS if w != answer], 3)]
    rng.shuffle(choices)
    return {
        "context": " ".join(words[:cut]),
        "choices": [f" {c}" for c in choices],
        "gold": choices.index(answer),
    }


def task_digest(directory: Path) -> str:
    """SHA-256 over ``<sha256>  <name>`` lines of the task's two files (the evaluation set's pin)."""
    lines = "".join(
        f"{hashlib.sha256(_task_bytes(directory, name)).hexdigest()}  {name}\n"
        for name in sorted((DATA_FILE, TASK_FILE))
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def run_task(options: Options) -> EvalResult:
    """Score the model on the task and write ``pnyx-eval.json``; returns what was written."""
    if (options.out / EVAL_FILE).exists() or (options.out / EVAL_FILE).is_symlink():
        raise InvalidInput(f"{options.out} already holds {EVAL_FILE}; give an empty directory", field="out")
    config, raw = read_model_files(options.model, "model")
    weights = hashlib.sha256(raw).hexdigest()
    if options.weights_sha256 is not None and options.weights_sha256 != weights:
        raise InvalidInput(
            f"pinned digest does not match: {WEIGHTS} has SHA-256 {weights}, the pin is "
            f"{options.weights_sha256}",
            field="weights_sha256",
        )
    digest = task_digest(options.task)
    found = _evaluate(load_model(config, raw), config, options.task)
    result = _result(options, config, weights, digest, found)
    write_result(options.out, result)
    return result


def continuation_logprob(
    model: Decoder, config: TrainConfig, context: bytes, continuation: bytes
) -> tuple[float, bool]:
    """log P(continuation | BOS context) in nats, and whether each byte was the model's top choice."""
    if not 0 < len(continuation) <= config.seq_len:
        raise InvalidInput(f"a continuation must be 1..{config.seq_len} bytes", field="task")
    return _score(model, [BOS, *context, *continuation][-(config.seq_len + 1) :], len(continuation))


def rolling_logprob(model: Decoder, config: TrainConfig, body: bytes) -> float:
    """log P(body | BOS) in nats, in windows of ``seq_len`` positions (each byte scored once)."""
    full, total = [BOS, *body], 0.0
    for start in range(1, len(full), config.seq_len):
        end = min(start + config.seq_len, len(full))
        total += _score(model, full[max(0, end - config.seq_len - 1) : end], end - start)[0]
    return total


def _score(model: Decoder, tokens: list[int], scored: int) -> tuple[float, bool]:
    inputs, targets = torch.tensor([tokens[:-1]]), torch.tensor(tokens[-scored:])
    image = torch.zeros(1, inputs.shape[1], model.image.in_features)
    audio = torch.zeros(1, inputs.shape[1], model.audio.in_features)
    with torch.no_grad():
        logits = model(inputs, image, audio)[0, -scored:].double()
    logp = F.log_softmax(logits, dim=-1).gather(1, targets.unsqueeze(1))
    return float(logp.sum()), bool((logits.argmax(dim=-1) == targets).all())


def _evaluate(model: Decoder, config: TrainConfig, task: Path) -> dict[str, float]:
    lm = lm_eval()
    torch.use_deterministic_algorithms(True)
    with tempfile.TemporaryDirectory(prefix="pnyx-lm-eval-") as cache:
        found = lm.simple_evaluate(
            model=_adapter(lm)(model, config),
            tasks=[_task_config(task, cache)],
            num_fewshot=0,
            batch_size=1,
            bootstrap_iters=0,
            log_samples=False,
            write_out=False,
            task_manager=lm.tasks.TaskManager(include_defaults=False),
        )
    scores = found["results"][TASK_NAME]
    return {name: float(scores[f"{name},none"]) for name in METRICS} | {
        "items": found["n-samples"][TASK_NAME]["effective"]
    }


def _task_config(task: Path, cache: str) -> dict[str, Any]:
    """The task's config with its data files made absolute and a private cache; a hub dataset refused."""
    import yaml

    try:
        config = yaml.safe_load(_task_bytes(task, TASK_FILE))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{TASK_FILE} is not plain YAML: {exc}", field="task") from exc
    if (
        not isinstance(config, dict)
        or config.get("task") != TASK_NAME
        or config.get("dataset_path") != "json"
    ):
        raise InvalidInput(f"{TASK_FILE} must be task {TASK_NAME} over dataset_path json", field="task")
    files = {"test": str(task.resolve() / DATA_FILE)}
    return config | {"dataset_kwargs": {"data_files": files, "cache_dir": cache}}


def _task_bytes(directory: Path, name: str) -> bytes:
    return read_regular(
        directory / name,
        DATA_MAX_BYTES if name == DATA_FILE else CARD_MAX_BYTES,
        f"the task's {name}",
        field="task",
    )


def _adapter(lm: ModuleType) -> Any:
    """The ``lm_eval.api.model.LM`` over the recipe's network (a class made once ``lm_eval`` loads)."""

    class DecoderLM(lm.api.model.LM):  # type: ignore[misc,name-defined]
        def __init__(self, model: Decoder, config: TrainConfig) -> None:
            super().__init__()
            self.network, self.config = model, config

        def loglikelihood(self, requests: list[Any]) -> list[tuple[float, bool]]:
            return [
                continuation_logprob(self.network, self.config, c.encode(), x.encode())
                for c, x in (r.args for r in requests)
            ]

        def loglikelihood_rolling(self, requests: list[Any]) -> list[float]:
            return [rolling_logprob(self.network, self.config, r.args[0].encode()) for r in requests]

        def generate_until(self, requests: list[Any]) -> list[str]:
            raise NotImplementedError("pnyx's byte-level models score tasks; they do not generate")

    return DecoderLM


def _result(
    options: Options, config: TrainConfig, weights: str, digest: str, found: dict[str, float]
) -> EvalResult:
    pinned: dict[str, Any] = {
        "harness": "lm_eval",
        "lm_eval_version": lm_eval().__version__,
        "task": TASK_NAME,
        "num_fewshot": 0,
        "model_config_hash": config_hash(config),
    }
    return EvalResult(
        model=options.model_version or weights,
        weights_sha256=weights,
        eval_set=digest,
        harness_digest=code_digest(),
        config=tuple(sorted(pinned.items())),
        config_hash=config_digest(pinned),
        metrics=tuple(sorted(found.items())),
        tolerance=tuple(sorted(TOLERANCE.items())),
    )


if __name__ == "__main__":
    sys.exit(main())
