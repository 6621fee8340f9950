"""The process group and FSDP2: every rank holds a shard of each block's parameters.

``fully_shard`` is applied to each transformer block, then to the root (embeddings, projections,
head). On CUDA the blocks compute in bf16 with float32 gradient reduction; on CPU in float32. Under
``torchrun`` the group comes from its environment; run by hand (no ``RANK``), a group of one.
"""

from __future__ import annotations

import gc
import os
from typing import cast

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from pnyx.training.config import TrainConfig
from pnyx.training.device import Placement
from pnyx.training.network import Decoder


def init_group(placement: Placement) -> None:
    if "RANK" in os.environ:
        dist.init_process_group(placement.backend)
    else:
        alone = dist.HashStore()  # type: ignore[attr-defined]  # exported by torch.distributed, not re-declared
        dist.init_process_group(placement.backend, store=alone, rank=0, world_size=1)


def shut_down(clean: bool) -> None:
    """Leave the group. After a clean run, wait for every rank first; collect garbage before, so no
    pending gloo work still holds tensors when the group goes (it aborted the process otherwise)."""
    gc.collect()
    if clean:
        dist.barrier()
    dist.destroy_process_group()


def sharded_decoder(config: TrainConfig, placement: Placement) -> Decoder:
    """The model, initialised from the seed (the same on every rank), then sharded."""
    torch.manual_seed(config.seed)
    model = Decoder(config)
    mesh = init_device_mesh(placement.device.type, (dist.get_world_size(),))
    policy = _precision(placement)
    for block in model.blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def full_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The whole state dict on rank 0, in CPU memory (every rank must call this; others get {})."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    return cast(dict[str, torch.Tensor], get_model_state_dict(model, options=options))


def all_sum(value: torch.Tensor) -> torch.Tensor:
    total = value.clone()
    dist.all_reduce(total)
    return total


def gather_lines(line: str) -> list[str]:
    """Every rank's line, in rank order, on rank 0 (an empty list elsewhere)."""
    found: list[str] | None = [""] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(line, found, dst=0)
    return found or []


def gather_problems(problem: str | None) -> list[str]:
    """Every rank's problem (None when it has none), on every rank, in rank order."""
    found: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(found, problem)
    return [p for p in found if p is not None]


def _precision(placement: Placement) -> MixedPrecisionPolicy:
    if placement.device.type == "cuda":  # untested here: no GPU in CI
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return MixedPrecisionPolicy()
