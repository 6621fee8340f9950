"""Where a rank computes and what its peak is: CUDA (nccl, bf16) when available, else CPU (gloo).

The CUDA path is written to the same recipe but has not been run in this project's CI (no GPU):
``fully_shard`` gets ``MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32)``, the loss
is taken in float32, and determinism is not enforced there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from pnyx.training.mfu import matmul_flops, peak_for_device

_MATMUL_N = 512
_MATMUL_REPEATS = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    device: torch.device
    backend: str  # the process group's: "nccl" or "gloo"


@dataclass(frozen=True, slots=True, kw_only=True)
class Peak:
    flops: float  # per device
    source: str  # how it was found, for the job log


def place(local_rank: int) -> Placement:
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return Placement(device=torch.device("cuda", local_rank), backend="nccl")
    return Placement(device=torch.device("cpu"), backend="gloo")


def resolve_peak(placement: Placement, given: float | None) -> Peak:
    """``--peak-flops`` when given; on CUDA the data-sheet table; on CPU a measured matmul."""
    if given is not None:
        return Peak(flops=given, source="--peak-flops")
    if placement.device.type == "cuda":
        name = torch.cuda.get_device_name(placement.device)
        table = peak_for_device(name)
        if table is not None:
            return Peak(flops=table, source=f"dense bf16 data-sheet peak of {name}")
    return Peak(
        flops=measure_matmul(placement.device),
        source=f"measured {_MATMUL_N}^3 float32 matmul "
        "(a nominal peak: MFU here is relative to this machine's own matmul rate)",
    )


def measure_matmul(device: torch.device) -> float:
    """FLOP/s of a float32 ``n x n`` matmul on ``device`` (best of a few; no RNG is consumed)."""
    a = torch.ones(_MATMUL_N, _MATMUL_N, device=device)
    best = float("inf")
    for _ in range(_MATMUL_REPEATS):
        start = time.perf_counter()
        (a @ a).sum().item()
        best = min(best, time.perf_counter() - start)
    return matmul_flops(_MATMUL_N) / best
