"""Batches from a dataset version by the registry's pure data order.

Rank ``r`` at step ``s`` reads ``pnyx.registry.order.rank_ranges(OrderSpec(sizes, seed, world_size,
batch_size), s, r)``: contiguous sample ranges of the manifest's shards, in read order. Each sample
becomes one row (``samples.encode``); inputs are positions ``0..seq_len-1`` and targets the next
token, kept only where that token is a byte or ``EOS`` (text and code), ``IGNORE`` elsewhere. The
same (manifest, config, world size, step, rank) always gives the same tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pnyx.registry.order import OrderSpec, SampleRange, rank_ranges
from pnyx.training.config import BYTES, EOS, IGNORE, TrainConfig
from pnyx.training.samples import Row, encode
from pnyx.training.shards import Manifest, SampleRef, index_shard, read_payload


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    tokens: torch.Tensor  # [B, seq_len] int64
    image: torch.Tensor  # [B, seq_len, patch * patch] float32
    audio: torch.Tensor  # [B, seq_len, frame] float32
    targets: torch.Tensor  # [B, seq_len] int64, IGNORE where no loss is taken

    @property
    def loss_tokens(self) -> int:
        return int((self.targets != IGNORE).sum())

    def to(self, device: torch.device) -> Batch:
        return Batch(
            tokens=self.tokens.to(device),
            image=self.image.to(device),
            audio=self.audio.to(device),
            targets=self.targets.to(device),
        )


class DataReader:
    """Reads one dataset version's directory; shard indexes are built on first use and kept."""

    def __init__(self, directory: Path, manifest: Manifest, config: TrainConfig, world_size: int) -> None:
        self.directory = directory
        self.manifest = manifest
        self.config = config
        self.spec = OrderSpec(
            sizes=manifest.sizes, seed=config.seed, world_size=world_size, batch_size=config.batch_size
        )
        self._indexes: dict[int, tuple[SampleRef, ...]] = {}

    def ranges(self, step: int, rank: int) -> tuple[SampleRange, ...]:
        return rank_ranges(self.spec, step, rank)

    def batch(self, ranges: tuple[SampleRange, ...]) -> Batch:
        rows = [self.row(r.shard, i) for r in ranges for i in range(r.start, r.stop)]
        return collate(rows)

    def row(self, shard: int, sample: int) -> Row:
        entry = self.manifest.shards[shard]
        ref = self._index(shard)[sample]
        payload = read_payload(self.directory, entry, ref)
        return encode(ref.modality, payload, self.config, f"{ref.key} ({entry.name} #{sample})")

    def _index(self, shard: int) -> tuple[SampleRef, ...]:
        if shard not in self._indexes:
            self._indexes[shard] = index_shard(self.directory, self.manifest.shards[shard])
        return self._indexes[shard]


def collate(rows: list[Row]) -> Batch:
    tokens = torch.from_numpy(np.stack([row.tokens for row in rows]))
    image = torch.from_numpy(np.stack([row.image for row in rows]))
    audio = torch.from_numpy(np.stack([row.audio for row in rows]))
    return Batch(tokens=tokens[:, :-1], image=image[:, :-1], audio=audio[:, :-1], targets=targets(tokens))


def targets(tokens: torch.Tensor) -> torch.Tensor:
    """The next token where it is text or code (a byte or ``EOS``), ``IGNORE`` elsewhere."""
    following = tokens[:, 1:]
    counted = (following < BYTES) | (following == EOS)
    return torch.where(counted, following, torch.full_like(following, IGNORE))
