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
The dataset is synthetic text and code written in the registry's directory format.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from pnyx.registry.model import Modality
from pnyx.training.config import TrainConfig
from pnyx.training.data import DataReader
from pnyx.training.network import Decoder, loss_sum
from pnyx.training.shards import read_manifest
from tests.training.conftest import CODE, TEXTS, free_port, write_dataset


def synthetic_dataset(directory: Path, samples: int, shards: int) -> None:
    """Text and code samples of about 1-3 KB, in ``shards`` shards."""
    pieces = [(Modality.TEXT, t) for t in TEXTS] + [(Modality.CODE, c) for c in CODE]
    made = []
    for i in range(samples):
        modality, base = pieces[i % len(pieces)]
        made.append((modality, f"# sample {i}\n".encode() + base * (1 + i % 20)))
    write_dataset(directory, [made[s::shards] for s in range(shards)], name="bench")


def steady(metrics: list[dict[str, float]], warmup: int) -> float:
    kept = metrics[warmup:]
    return sum(m["tokens"] for m in kept) / sum(m["seconds"] for m in kept)


def fsdp_run(
    data: Path, out: Path, config: Path, ranks: int, steps: int
) -> tuple[list[dict[str, float]], float]:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        str(ranks),
        "--master-port",
        str(free_port()),
        "-m",
        "pnyx.training.run",
        "--data",
        str(data),
        "--out",
        str(out),
        "--config",
        str(config),
        "--steps",
        str(steps),
    ]
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
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
    parser.add_argument("--samples", type=int, default=256)
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
        synthetic_dataset(root / "data", args.samples, shards=4)
        (root / "config.json").write_text(json.dumps(asdict(config)))
        fsdp, fsdp_wall = fsdp_run(root / "data", root / "out", root / "config.json", args.ranks, args.steps)
        plain, plain_wall = plain_run(root / "data", config, args.ranks, args.threads or args.ranks)
    rows = [
        (f"recipe: FSDP2, {args.ranks} ranks x 1 thread (torchrun)", fsdp, fsdp_wall),
        (f"peer: plain torch, 1 process x {args.threads or args.ranks} threads", plain, plain_wall),
    ]
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
