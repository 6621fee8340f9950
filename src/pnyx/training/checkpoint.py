"""Checkpoints: torch Distributed Checkpoint of model, optimizer, step and every rank's RNG state.

``out/checkpoints/step-NNNNNN/`` (NNNNNN = optimizer steps done) holds DCP's files and
``pnyx-checkpoint.json`` ``{"step", "config_hash", "dataset", "seed", "world_size", "config"}``. It is
written under ``step-NNNNNN.partial``, the JSON last (through a temporary name), and renamed once every
rank's shards and the JSON are in place, so a directory with the final name is complete: the platform
registers it as soon as it appears there (``registry.lineage_running``). A directory written again
under the same name is moved aside before the new one takes the name, never deleted in place. A
resume is refused when the checkpoint's dataset version, world size, seed or any trajectory field of
the configuration differs (named in the error).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
from torch.distributed.checkpoint.state_dict_loader import load
from torch.distributed.checkpoint.state_dict_saver import save

from pnyx.core.errors import InvalidInput
from pnyx.training.config import RUN_LENGTH_FIELDS

CHECKPOINTS = "checkpoints"
META_FILE = "pnyx-checkpoint.json"
META_MAX_BYTES = 1 << 20
_NAME = re.compile(r"step-(\d{6})")


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointMeta:
    step: int
    config_hash: str
    dataset: str  # the dataset version
    seed: int
    world_size: int
    config: Mapping[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {**{k: getattr(self, k) for k in _META_FIELDS}, "config": dict(self.config)},
            sort_keys=True,
            indent=1,
        )


_META_FIELDS = ("step", "config_hash", "dataset", "seed", "world_size")


def checkpoint_dir(out: Path, step: int) -> Path:
    return out / CHECKPOINTS / f"step-{step:06d}"


def save_checkpoint(
    out: Path, meta: CheckpointMeta, model: nn.Module, optimizer: torch.optim.Optimizer
) -> Path:
    """Every rank calls this; rank 0 prepares the directory, writes the JSON and renames."""
    final = checkpoint_dir(out, meta.step)
    partial = final.with_name(final.name + ".partial")
    if dist.get_rank() == 0:
        _remove(partial)
        partial.mkdir(parents=True)
    dist.barrier()
    save(_state(model, optimizer, meta.step), checkpoint_id=partial)
    dist.barrier()
    if dist.get_rank() == 0:
        _write_last(partial / META_FILE, meta.to_json())
        _swap(partial, final)
    dist.barrier()
    return final


def _write_last(path: Path, text: str) -> None:
    """Write ``path`` whole under a temporary name, then give it its name."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _swap(partial: Path, final: Path) -> None:
    """Give ``partial`` the name ``final``; a directory there already is moved aside, then removed
    (a reader never sees it half deleted under the final name)."""
    old = final.with_name(final.name + ".old")
    _remove(old)
    if final.is_dir() and not final.is_symlink():
        os.replace(final, old)
    os.replace(partial, final)
    _remove(old)


def load_checkpoint(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore model, optimizer and this rank's RNG state; returns the steps done."""
    state = _state(model, optimizer, 0)
    load(state, checkpoint_id=directory)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    _set_rng(state["train"])
    return int(state["train"]["step"])


def newest_checkpoint(out: Path) -> Path | None:
    """The complete checkpoint with the most steps in ``out``, if any."""
    complete = _complete(out)
    return complete[-1] if complete else None


def listed_checkpoints(out: Path) -> list[dict[str, Any]]:
    """``[{"step", "dir"}]`` of the complete checkpoints in ``out``, oldest first (for pnyx-model.json)."""
    return [
        {"step": int(p.name.removeprefix("step-")), "dir": f"{CHECKPOINTS}/{p.name}"} for p in _complete(out)
    ]


def _complete(out: Path) -> list[Path]:
    """``step-NNNNNN`` directories holding their ``pnyx-checkpoint.json``, by step."""
    root = out / CHECKPOINTS
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _NAME.fullmatch(p.name) and (p / META_FILE).is_file())


def read_meta(directory: Path) -> CheckpointMeta:
    path = directory / META_FILE
    if path.is_symlink() or path.stat().st_size > META_MAX_BYTES:
        raise InvalidInput(f"{directory.name}/{META_FILE} is not a checkpoint record", field="resume")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        return CheckpointMeta(**{k: found[k] for k in _META_FIELDS}, config=dict(found["config"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(
            f"{directory.name}/{META_FILE} is not a checkpoint record: {exc}", field="resume"
        ) from exc


def check_resumable(found: CheckpointMeta, wanted: CheckpointMeta, where: str) -> None:
    """Refuse a checkpoint of another run, naming the first field that differs."""
    for name in ("dataset", "world_size", "seed"):
        _same(name, getattr(found, name), getattr(wanted, name), where)
    for name in sorted((set(found.config) | set(wanted.config)) - RUN_LENGTH_FIELDS):
        _same(name, found.config.get(name), wanted.config.get(name), where)
    _same("config_hash", found.config_hash, wanted.config_hash, where)


def _same(name: str, found: object, wanted: object, where: str) -> None:
    if found != wanted:
        raise InvalidInput(
            f"cannot resume from {where}: it was made with {name} = {found!r}, "
            f"this run has {name} = {wanted!r}",
            field=name,
        )


def _state(model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> dict[str, Any]:
    model_state, optim_state = get_state_dict(model, optimizer)
    return {"model": model_state, "optim": optim_state, "train": {"step": torch.tensor(step), **_rng()}}


def _rng() -> dict[str, torch.Tensor]:
    """This rank's RNG states, under keys of its own (each rank saves and loads only its own)."""
    rank = dist.get_rank()
    states = {f"rng_rank{rank}": torch.get_rng_state()}
    if torch.cuda.is_available():
        states[f"cuda_rng_rank{rank}"] = torch.cuda.get_rng_state()
    return states


def _set_rng(train: dict[str, torch.Tensor]) -> None:
    rank = dist.get_rank()
    torch.set_rng_state(train[f"rng_rank{rank}"])
    if torch.cuda.is_available():
        torch.cuda.set_rng_state(train[f"cuda_rng_rank{rank}"])


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
