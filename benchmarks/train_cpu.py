"""Tokens/s of the reference training recipe on CPU: FSDP2 ranks under torchrun against plain torch.

    python -m benchmarks.train_cpu                          # 2 ranks, d_model 256, 4 layers, seq 256
    python -m benchmarks.train_cpu --steps 40 --d-model 128 --layers 2 --seq-len 128

The recipe: ``torchrun --nproc-per-node R -m pnyx.training.run`` exactly as a user runs it (FSDP2 over
gloo, one thread per rank, Distributed Checkpoint at the end, every output written). The peer, in the
same run: the same model (same seed) on the same data in the same global order, trained by one
process with plain torch (no FSDP, no process group, ``--threads`` threads, R x the per-rank batch per
step, so both see the same global samples per step). Tokens/s counts every position processed; it
is taken over the steps after ``--warmup`` from each one's own per-step timing (batch reading,
forward, backward, optimizer step), so start-up is left out of both; wall-clock times are shown too.
The dataset is the registry's demo samples (``pnyx.registry.samples``: text, code, PGM images, WAV
audio; one source opts out), made into a version's directory by the registry's own importer
(``pnyx.registry.importer.write_version``: opt-outs left out, deduplicated, sharded) in a temporary
directory: the bytes an import of the same samples would register, with no database.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from pnyx.registry.importer import write_version
from pnyx.registry.samples import SOURCES, write_samples
from pnyx.training.config import TrainConfig
from pnyx.training.data import DataReader
from pnyx.training.launch import run_on_cpu
from pnyx.training.network import Decoder, loss_sum
from pnyx.training.shards import read_manifest

CONTRIBUTING = len(SOURCES) - 1  # the news source opts out: its samples are left out


def registry_dataset(root: Path, samples: int, shards: int) -> Path:
    """About ``samples`` of the registry's demo samples in ``shards`` shards, imported by the
    registry's importer under ``root``; the version's directory."""
    per_source = min(1000, max(1, -(-samples // CONTRIBUTING)))
    write_samples(root / "import", per_source=per_source)
    per_shard = max(1, -(-per_source * CONTRIBUTING // shards))
    now = datetime.now(UTC)
    return write_version(root / "import", root / "registry", name="bench", now=now, shard_samples=per_shard)


def steady(metrics: list[dict[str, float]], warmup: int) -> float:
    kept = metrics[warmup:]
    return sum(m["tokens"] for m in kept) / sum(m["seconds"] for m in kept)


def fsdp_run(
    data: Path, out: Path, config: Path, ranks: int, steps: int
) -> tuple[list[dict[str, float]], float]:
    args = ("--data", data, "--out", out, "--config", config, "--steps", str(steps))
    started = time.perf_counter()
    done = run_on_cpu(*args, ranks=ranks)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"torchrun failed:\n{done.stderr[-3000:]}")
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines], wall


def plain_run(
    data: Path, config: TrainConfig, ranks: int, threads: int
) -> tuple[list[dict[str, float]], float]:
    """The same global batches, one process, no FSDP and no process group."""
    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)
    model = Decoder(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    reader = DataReader(data, read_manifest(data), replace(config, batch_size=ranks * config.batch_size), 1)
    metrics = [_plain_step(model, optimizer, reader, step) for step in range(config.steps)]
    return metrics, time.perf_counter() - started


def _plain_step(
    model: Decoder, optimizer: torch.optim.Optimizer, reader: DataReader, step: int
) -> dict[str, float]:
    started = time.perf_counter()
    batch = reader.batch(reader.ranges(step, 0))
    summed = loss_sum(model(batch.tokens, batch.image, batch.audio), batch.targets)
    torch.autograd.backward(summed / max(batch.loss_tokens, 1))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - started
    loss = float(summed.detach()) / max(batch.loss_tokens, 1)
    return {"tokens": batch.tokens.numel(), "seconds": seconds, "loss": loss}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--threads", type=int, help="threads of the plain process (default: --ranks)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5, help="first steps left out of tokens/s")
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4, help="samples per rank per step")
    parser.add_argument("--samples", type=int, default=256, help="about this many (at most 4000)")
    args = parser.parse_args()
    config = TrainConfig(
        d_model=args.d_model,
        layers=args.layers,
        heads=args.heads,
        d_ff=2 * args.d_model,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        steps=args.steps,
        checkpoint_every=args.steps,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = registry_dataset(root, args.samples, shards=4)
        sizes = read_manifest(data).sizes
        (root / "config.json").write_text(json.dumps(asdict(config)))
        fsdp, fsdp_wall = fsdp_run(data, root / "out", root / "config.json", args.ranks, args.steps)
        plain, plain_wall = plain_run(data, config, args.ranks, args.threads or args.ranks)
    rows = [
        (f"recipe: FSDP2, {args.ranks} ranks x 1 thread (torchrun)", fsdp, fsdp_wall),
        (f"peer: plain torch, 1 process x {args.threads or args.ranks} threads", plain, plain_wall),
    ]
    print(
        f"dataset: {sum(sizes)} of the registry's demo samples (text, code, images, audio) in "
        f"{len(sizes)} shards"
    )
    print(
        f"model: d_model {config.d_model}, {config.layers} layers, seq {config.seq_len}; "
        f"{args.ranks * config.batch_size} samples per step, {args.steps} steps ({args.warmup} warm-up)"
    )
    print(f"{'run':<48} {'tokens/s':>10} {'wall s':>8} {'final loss':>11}")
    for name, metrics, wall in rows:
        print(f"{name:<48} {steady(metrics, args.warmup):>10,.0f} {wall:>8.1f} {metrics[-1]['loss']:>11.4f}")
    print(f"ratio recipe / plain (tokens/s): {steady(fsdp, args.warmup) / steady(plain, args.warmup):.2f}x")


if __name__ == "__main__":
    main()
