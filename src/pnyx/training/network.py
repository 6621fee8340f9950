"""The reference model: a small decoder-only transformer over bytes, image patches and audio frames.

Pre-norm blocks (RMSNorm), causal self-attention through ``scaled_dot_product_attention``, a SwiGLU
MLP, learned positions and an untied output head. Each position's input is its token's embedding;
at ``IMAGE`` positions a linear projection of the patch's pixels is added, at ``AUDIO`` positions
one of the frame's samples. The loss is next-token cross-entropy on text and code tokens only
(targets elsewhere are ``IGNORE``, see ``data``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the torch idiom)
from torch import nn

from pnyx.training.config import AUDIO, IGNORE, IMAGE, TrainConfig


class Attention(nn.Module):
    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.out = nn.Linear(config.d_model, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(b, t, d))  # type: ignore[no-any-return]


class SwiGLU(nn.Module):
    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.gate_up = nn.Linear(config.d_model, 2 * config.d_ff, bias=False)
        self.down = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)  # type: ignore[no-any-return]


class Block(nn.Module):
    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(config.d_model)
        self.attn = Attention(config)
        self.mlp_norm = nn.RMSNorm(config.d_model)
        self.mlp = SwiGLU(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x))
        return x + self.mlp(self.mlp_norm(x))  # type: ignore[no-any-return]


class Decoder(nn.Module):
    """``forward(tokens [B,T], image [B,T,patch*patch], audio [B,T,frame]) -> logits [B,T,vocab]``."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.tokens = nn.Embedding(config.vocab, config.d_model)
        self.positions = nn.Embedding(config.seq_len, config.d_model)
        self.image = nn.Linear(config.patch * config.patch, config.d_model)
        self.audio = nn.Linear(config.frame, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = nn.RMSNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab, bias=False)

    def forward(self, tokens: torch.Tensor, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        where = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.tokens(tokens) + self.positions(where)
        x = x + (tokens == IMAGE).unsqueeze(-1) * self.image(image)
        x = x + (tokens == AUDIO).unsqueeze(-1) * self.audio(audio)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))  # type: ignore[no-any-return]


def loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed next-token cross-entropy (in float32) over the targets that are not ``IGNORE``."""
    flat = logits.float().reshape(-1, logits.shape[-1])
    return F.cross_entropy(flat, targets.reshape(-1), ignore_index=IGNORE, reduction="sum")


EMBEDDING_TABLES = ("tokens.weight", "positions.weight")  # lookups: no multiply-adds per token


def non_embedding_params(model: nn.Module) -> int:
    """Parameters that take part in a matmul per token (all but the embedding tables), for ``mfu``."""
    return sum(p.numel() for name, p in model.named_parameters() if name not in EMBEDDING_TABLES)
