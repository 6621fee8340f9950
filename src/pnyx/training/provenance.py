"""What a finished run hands to the registry: ``model.safetensors`` and ``pnyx-model.json``.

``code_digest``: SHA-256 over the lines ``"<sha256 of file>  <path>\\n"`` (the ``sha256sum`` format)
of the recipe's source files, sorted by path: ``pnyx/training/**/*.py`` and
``pnyx/registry/order.py``, paths relative to the directory holding the ``pnyx`` package. Anyone with
the same source tree recomputes it with ``sha256sum`` and ``sort``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

import pnyx
from pnyx.training.records import METRICS_FILE, ORDER_FILE

MODEL_FORMAT = "pnyx.model/1"
MODEL_CARD = "pnyx-model.json"
WEIGHTS = "model.safetensors"


def code_files() -> list[tuple[str, Path]]:
    """(path as hashed, file) of every source file the digest covers, sorted by path."""
    package = Path(pnyx.__file__).parent
    files = [*package.glob("training/**/*.py"), package / "registry" / "order.py"]
    return sorted((f.relative_to(package.parent).as_posix(), f) for f in files)


def code_digest() -> str:
    lines = "".join(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {name}\n" for name, f in code_files())
    return hashlib.sha256(lines.encode()).hexdigest()


def summary(metrics: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The card's ``final``: the last step's loss; tokens/s and MFU over all steps' time."""
    seconds = sum(float(m["seconds"]) for m in metrics)
    tokens = sum(int(m["tokens"]) for m in metrics)
    mfu = sum(float(m["mfu"]) * float(m["seconds"]) for m in metrics)
    return {"loss": float(metrics[-1]["loss"]), "tokens_per_s": tokens / seconds, "mfu": mfu / seconds}


def model_card(
    *,
    name: str,
    config: Mapping[str, Any],
    config_hash: str,
    dataset: str,
    world_size: int,
    checkpoints: list[dict[str, Any]],
    final: dict[str, float],
) -> dict[str, Any]:
    return {
        "format": MODEL_FORMAT,
        "name": name,
        "config": dict(config),
        "config_hash": config_hash,
        "code_digest": code_digest(),
        "datasets": [dataset],
        "seed": config["seed"],
        "world_size": world_size,
        "batch_size": config["batch_size"],
        "steps": config["steps"],
        "weights": WEIGHTS,
        "data_order": ORDER_FILE,
        "metrics": METRICS_FILE,
        "checkpoints": checkpoints,
        "final": final,
    }


def write_card(out: Path, card: Mapping[str, Any]) -> None:
    partial = out / (MODEL_CARD + ".partial")
    partial.write_text(json.dumps(card, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, out / MODEL_CARD)


def write_weights(out: Path, state: Mapping[str, torch.Tensor]) -> None:
    partial = out / (WEIGHTS + ".partial")
    save_file({k: v.contiguous() for k, v in state.items()}, str(partial), metadata={"format": "pt"})
    os.replace(partial, out / WEIGHTS)
