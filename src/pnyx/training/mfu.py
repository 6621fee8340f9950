"""Model FLOPs utilisation (pure).

FLOPs per token, training (forward and backward), by the PaLM / Chinchilla accounting:

    6 * N + 12 * layers * d_model * seq_len

``N`` is the number of non-embedding parameters (every parameter that takes part in a matmul per
token: attention, MLP, the image and audio projections, the output head; not the token and position
tables, which are lookups). ``6 N``: 2 FLOPs per parameter per token forward (a multiply and an add),
twice that backward. ``12 * layers * d_model * seq_len``: the attention scores and their weighted sum
(``QK^T`` and ``AV``, 2 matmuls of ``2 * seq_len * d_model`` FLOPs per token and layer forward, x3
for the backward). Recomputation is not counted: this is *model* FLOPs, not hardware FLOPs.

MFU = achieved model FLOP/s / (peak FLOP/s per device x devices), achieved = tokens/s x FLOPs per
token. Peaks are dense bf16 (no sparsity) from the vendors' data sheets; on CPU there is no data
sheet figure, so the recipe measures a float32 matmul at start and calls that the "peak" (see
docs/training.md).
"""

from __future__ import annotations

from pnyx.core.errors import InvalidInput

# Dense bf16 tensor-core peak per device, by a substring of torch.cuda.get_device_name(); first match.
PEAK_BF16_DENSE: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100", 989e12),
    ("A100", 312e12),
)


def flops_per_token(*, non_embedding_params: int, layers: int, d_model: int, seq_len: int) -> int:
    """Training FLOPs per token: ``6 N + 12 L d T`` (see the module docstring)."""
    return 6 * non_embedding_params + 12 * layers * d_model * seq_len


def peak_for_device(name: str) -> float | None:
    """The table's dense bf16 peak for a CUDA device name, or None when the device is not listed."""
    return next((peak for part, peak in PEAK_BF16_DENSE if part in name.upper()), None)


def model_flops_utilization(
    *, tokens_per_s: float, flops_per_token: int, peak_flops: float, devices: int
) -> float:
    """Achieved model FLOP/s as a fraction of ``devices`` x ``peak_flops``."""
    if peak_flops <= 0 or devices <= 0:
        raise InvalidInput(
            f"peak FLOP/s and devices must be positive, got {peak_flops} x {devices}", field="peak_flops"
        )
    return tokens_per_s * flops_per_token / (peak_flops * devices)


def matmul_flops(n: int) -> int:
    """FLOPs of one ``n x n`` by ``n x n`` matmul: ``n^2`` dot products of ``n`` multiply-adds."""
    return 2 * n**3
