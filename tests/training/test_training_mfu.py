"""MFU accounting (pure)."""

from __future__ import annotations

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.training.config import TrainConfig
from pnyx.training.mfu import flops_per_token, matmul_flops, model_flops_utilization, peak_for_device
from pnyx.training.network import Decoder, non_embedding_params


def test_flops_per_token_is_six_n_plus_attention() -> None:
    assert (
        flops_per_token(non_embedding_params=1_000, layers=2, d_model=64, seq_len=128)
        == 6_000 + 12 * 2 * 64 * 128
    )


def test_flops_per_token_of_a_known_size() -> None:
    """A GPT-3 175B-like shape: 6N dominates, attention adds 12 L d T (PaLM, appendix B)."""
    n, layers, d, t = 174_600_000_000, 96, 12_288, 2_048
    found = flops_per_token(non_embedding_params=n, layers=layers, d_model=d, seq_len=t)
    assert found == 6 * n + 12 * layers * d * t
    assert 1.0 < found / (6 * n) < 1.04


def test_non_embedding_params_leave_out_the_lookup_tables_only() -> None:
    config = TrainConfig(d_model=8, layers=1, heads=2, d_ff=16, seq_len=4, patch=2, frame=3)
    model = Decoder(config)
    every = sum(p.numel() for p in model.parameters())
    assert non_embedding_params(model) == every - config.vocab * 8 - config.seq_len * 8
    block = 3 * 8 * 8 + 8 * 8 + 2 * 8 * 16 + 16 * 8 + 2 * 8  # qkv, out, gate_up, down, two norms
    projections = (4 * 8 + 8) + (3 * 8 + 8)  # image and audio, with biases
    assert non_embedding_params(model) == block + projections + 8 + 8 * config.vocab  # final norm, head


def test_mfu_is_achieved_over_peak_times_devices() -> None:
    assert (
        model_flops_utilization(tokens_per_s=1_000, flops_per_token=10**9, peak_flops=1e12, devices=2) == 0.5
    )
    assert model_flops_utilization(tokens_per_s=0, flops_per_token=10**9, peak_flops=1e12, devices=8) == 0


@pytest.mark.parametrize(("peak", "devices"), [(0.0, 1), (-1.0, 1), (1e12, 0)])
def test_mfu_refuses_a_missing_peak(peak: float, devices: int) -> None:
    with pytest.raises(InvalidInput, match="peak") as caught:
        model_flops_utilization(tokens_per_s=1, flops_per_token=1, peak_flops=peak, devices=devices)
    assert caught.value.field == "peak_flops"


def test_peaks_by_device_name() -> None:
    assert peak_for_device("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_for_device("NVIDIA H200") == 989e12
    assert peak_for_device("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_for_device("Tesla T4") is None


def test_matmul_flops() -> None:
    assert matmul_flops(2) == 16
