"""The decoder: causal, modality inputs only where their positions are, loss on text targets only."""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the torch idiom)

from pnyx.training.config import AUDIO, IGNORE, IMAGE, TrainConfig
from pnyx.training.network import Decoder, loss_sum

CONFIG = TrainConfig(d_model=16, layers=2, heads=2, d_ff=32, seq_len=12, patch=2, frame=4)


def inputs(tokens: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    t = torch.tensor([tokens])
    return (
        t,
        torch.rand(1, len(tokens), 4, generator=generator),
        torch.rand(1, len(tokens), 4, generator=generator),
    )


def model() -> Decoder:
    torch.manual_seed(0)
    return Decoder(CONFIG).eval()


def test_the_same_seed_gives_the_same_weights() -> None:
    one, two = model().state_dict(), model().state_dict()
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_attention_is_causal() -> None:
    net = model()
    tokens, image, audio = inputs([256, 104, 105, 33, 10, 20, 30, 40])
    changed = tokens.clone()
    changed[0, 5] = 99
    with torch.no_grad():
        before, after = net(tokens, image, audio), net(changed, image, audio)
    assert torch.equal(before[0, :5], after[0, :5])
    assert not torch.allclose(before[0, 5:], after[0, 5:])


def test_pixels_and_samples_count_only_at_their_positions() -> None:
    net = model()
    tokens, image, audio = inputs([256, 104, IMAGE, IMAGE, AUDIO, 105])
    with torch.no_grad():
        base = net(tokens, image, audio)
        other_text_pixels = image.clone()
        other_text_pixels[0, 1] += 1
        assert torch.equal(base, net(tokens, other_text_pixels, audio))
        other_patch = image.clone()
        other_patch[0, 2] += 1
        assert not torch.allclose(base[0, 2:], net(tokens, other_patch, audio)[0, 2:])
        other_frame = audio.clone()
        other_frame[0, 4] += 1
        changed = net(tokens, image, other_frame)
        assert torch.equal(base[0, :4], changed[0, :4])
        assert not torch.allclose(base[0, 4:], changed[0, 4:])


def test_loss_is_summed_over_counted_targets_only() -> None:
    logits = torch.randn(1, 4, CONFIG.vocab, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([[5, IGNORE, 7, IGNORE]])
    expected = F.cross_entropy(logits[0, [0, 2]], torch.tensor([5, 7]), reduction="sum")
    assert torch.allclose(loss_sum(logits, targets), expected)
    assert loss_sum(logits, torch.full((1, 4), IGNORE)) == 0
