"""The torchrun entry of the reference recipe.

    torchrun --nproc-per-node N -m pnyx.training.run --data DIR --out DIR [--steps N] [--resume]
        [--config FILE] [--name NAME] [--peak-flops F]

``--data``: a dataset version's directory (``manifest.json`` and its shards). ``--out``: where the run
writes (``pnyx-model.json``, ``model.safetensors``, ``data-order.jsonl``, ``metrics.jsonl``,
``checkpoints/``; see ``pnyx/registry/README.md``); it must not hold a run unless ``--resume`` is
given, which continues from its newest checkpoint. ``--config``: a JSON object overriding
``TrainConfig``'s defaults; ``--steps`` overrides its ``steps``. Paths come only from arguments.

Each step: the batch of this rank by the data order, forward, backward, AdamW; rank 0 writes every
rank's order line and a metrics line and shows loss, tokens/s and MFU. A checkpoint every
``checkpoint_every`` steps and after the last. Deterministic on CPU: the same arguments give the same
losses, records and weights, bit for bit, whether or not the run was interrupted and resumed.
A bad input ends every rank with a one-line ``error:`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist

from pnyx.core.errors import FacilityError, InvalidInput
from pnyx.registry.order import SampleRange, order_line
from pnyx.training import checkpoint as ckpt
from pnyx.training import parallel
from pnyx.training.config import TrainConfig, config_from_json, config_hash
from pnyx.training.data import DataReader
from pnyx.training.device import Peak, Placement, place, resolve_peak
from pnyx.training.mfu import flops_per_token, model_flops_utilization
from pnyx.training.network import Decoder, loss_sum, non_embedding_params
from pnyx.training.progress import Display, display_for
from pnyx.training.provenance import MODEL_CARD, WEIGHTS, model_card, summary, write_card, write_weights
from pnyx.training.records import (
    METRICS_FILE,
    ORDER_FILE,
    RecordWriter,
    StepMetrics,
    read_metrics,
    truncate_records,
)
from pnyx.training.shards import Manifest, read_manifest, verify_shard

RUN_FILES = (MODEL_CARD, WEIGHTS, ORDER_FILE, METRICS_FILE, ckpt.CHECKPOINTS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    data: Path
    out: Path
    config: TrainConfig
    resume: bool
    name: str
    peak_flops: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What every step needs, set up once."""

    options: Options
    placement: Placement
    manifest: Manifest
    model: Decoder
    optimizer: torch.optim.Optimizer
    reader: DataReader
    flops_per_token: int
    peak: Peak

    @property
    def config(self) -> TrainConfig:
        return self.options.config


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pnyx.training.run", description="Train the reference model.")
    p.add_argument("--data", type=Path, required=True, help="a dataset version's directory")
    p.add_argument("--out", type=Path, required=True, help="the run's output directory")
    p.add_argument("--steps", type=int, help="optimizer steps in all (overrides the config's)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--config", type=Path, help="JSON object of TrainConfig fields to override")
    p.add_argument("--name", default="pnyx-reference", help="the model's name in pnyx-model.json")
    p.add_argument(
        "--peak-flops", type=float, help="peak FLOP/s per device for MFU (default: table or measured)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return train(_options(args))
    except FacilityError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 2


def train(options: Options) -> int:
    placement = place(int(os.environ.get("LOCAL_RANK", "0")))
    parallel.init_group(placement)
    clean = False
    try:
        _train(options, placement)
        clean = True
    finally:
        parallel.shut_down(clean)
    return 0


def _train(options: Options, placement: Placement) -> None:
    manifest = read_manifest(options.data)
    start = _starting_checkpoint(options, manifest)
    _verify(options.data, manifest)
    if placement.device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    run = _set_up(options, placement, manifest)
    done = _restore(run, start) if start is not None else _fresh(options.out)
    display = display_for(dist.get_rank(), options.config.steps, done)
    display.note(_banner(run, done))
    writer = RecordWriter(options.out) if dist.get_rank() == 0 else None
    try:
        for step in range(done, options.config.steps):
            _step_and_record(run, step, writer, display)
    finally:
        display.close()
        if writer is not None:
            writer.close()
    _finish(run)


def _options(args: argparse.Namespace) -> Options:
    config = TrainConfig()
    if args.config is not None:
        config = config_from_json(_read_config(args.config))
    if args.steps is not None:
        config = replace(config, steps=args.steps)
    return Options(
        data=args.data,
        out=args.out,
        config=config,
        resume=args.resume,
        name=args.name,
        peak_flops=args.peak_flops,
    )


def _read_config(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read the config file {path}: {exc}", field="config") from exc


def _starting_checkpoint(options: Options, manifest: Manifest) -> Path | None:
    """With --resume, the newest checkpoint (checked to be of this run); else None, once --out is
    known to hold no run. Ends in a barrier: no rank writes before every rank has looked."""
    found = _resumable(options, manifest) if options.resume else None
    if found is None:
        _refuse_existing(options.out)
    dist.barrier()
    return found


def _resumable(options: Options, manifest: Manifest) -> Path:
    newest = ckpt.newest_checkpoint(options.out)
    if newest is None:
        raise InvalidInput(f"--resume: no checkpoint in {options.out}/{ckpt.CHECKPOINTS}", field="resume")
    meta = ckpt.read_meta(newest)
    ckpt.check_resumable(meta, _meta(options.config, manifest, meta.step), newest.name)
    if meta.step > options.config.steps:
        raise InvalidInput(
            f"--resume: {newest.name} is past the {options.config.steps} steps asked for", field="steps"
        )
    return newest


def _refuse_existing(out: Path) -> None:
    for name in RUN_FILES:
        if (out / name).exists():
            raise InvalidInput(
                f"{out} already holds a run ({name}): pass --resume to continue it, or give "
                "an empty directory",
                field="out",
            )


def _verify(directory: Path, manifest: Manifest) -> None:
    """Each rank checks its share of the shards against the manifest; all ranks see every problem."""
    rank, world = dist.get_rank(), dist.get_world_size()
    try:
        for shard in manifest.shards[rank::world]:
            verify_shard(directory, shard)
        problem = None
    except InvalidInput as exc:
        problem = exc.message
    problems = parallel.gather_problems(problem)
    if problems:
        raise InvalidInput(problems[0], field="shard")


def _set_up(options: Options, placement: Placement, manifest: Manifest) -> Run:
    config = options.config
    model = parallel.sharded_decoder(config, placement)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    per_token = flops_per_token(
        non_embedding_params=non_embedding_params(model),
        layers=config.layers,
        d_model=config.d_model,
        seq_len=config.seq_len,
    )
    reader = DataReader(options.data, manifest, config, dist.get_world_size())
    return Run(
        options=options,
        placement=placement,
        manifest=manifest,
        model=model,
        optimizer=optimizer,
        reader=reader,
        flops_per_token=per_token,
        peak=resolve_peak(placement, options.peak_flops),
    )


def _fresh(out: Path) -> int:
    if dist.get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    return 0


def _restore(run: Run, directory: Path) -> int:
    done = ckpt.load_checkpoint(directory, run.model, run.optimizer)
    if dist.get_rank() == 0:
        truncate_records(run.options.out, done, dist.get_world_size())
    dist.barrier()
    return done


def _step_and_record(run: Run, step: int, writer: RecordWriter | None, display: Display) -> None:
    ranges = run.reader.ranges(step, dist.get_rank())
    metrics = _step(run, step, ranges)
    lines = parallel.gather_lines(order_line(step, dist.get_rank(), ranges))
    if writer is not None:
        writer.write(lines, metrics)
    display.step(metrics, run.config.steps)
    if (step + 1) % run.config.checkpoint_every == 0 or step + 1 == run.config.steps:
        saved = ckpt.save_checkpoint(
            run.options.out, _meta(run.config, run.manifest, step + 1), run.model, run.optimizer
        )
        display.note(f"checkpoint {saved.name}")


def _step(run: Run, step: int, ranges: tuple[SampleRange, ...]) -> StepMetrics:
    started = time.perf_counter()
    batch = run.reader.batch(ranges).to(run.placement.device)
    counted = parallel.all_sum(torch.tensor([float(batch.loss_tokens)], device=run.placement.device)).clamp(
        min=1
    )
    summed = loss_sum(run.model(batch.tokens, batch.image, batch.audio), batch.targets)
    torch.autograd.backward(summed * dist.get_world_size() / counted[0])
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    loss = float((parallel.all_sum(summed.detach().reshape(1)) / counted)[0])
    seconds = time.perf_counter() - started
    tokens = dist.get_world_size() * run.config.batch_size * run.config.seq_len
    mfu = model_flops_utilization(
        tokens_per_s=tokens / seconds,
        flops_per_token=run.flops_per_token,
        peak_flops=run.peak.flops,
        devices=dist.get_world_size(),
    )
    return StepMetrics(
        step=step, loss=loss, tokens=tokens, tokens_per_s=tokens / seconds, mfu=mfu, seconds=seconds
    )


def _finish(run: Run) -> None:
    state = parallel.full_state(run.model)
    if dist.get_rank() != 0:
        return
    out, config = run.options.out, run.config
    write_weights(out, state)
    card = model_card(
        name=run.options.name,
        config=asdict(config),
        config_hash=config_hash(config),
        dataset=run.manifest.version,
        world_size=dist.get_world_size(),
        checkpoints=ckpt.listed_checkpoints(out),
        final=summary(read_metrics(out)),
    )
    write_card(out, card)
    print(
        f"done: {config.steps} steps, final loss {card['final']['loss']:.4f}; wrote {out / MODEL_CARD}",
        flush=True,
    )


def _meta(config: TrainConfig, manifest: Manifest, step: int) -> ckpt.CheckpointMeta:
    return ckpt.CheckpointMeta(
        step=step,
        config_hash=config_hash(config),
        dataset=manifest.version,
        seed=config.seed,
        world_size=dist.get_world_size(),
        config=asdict(config),
    )


def _banner(run: Run, done: int) -> str:
    where = f"{dist.get_world_size()} rank(s) on {run.placement.device.type} ({run.placement.backend})"
    return (
        f"pnyx.training: {where}; {run.flops_per_token:,} FLOPs/token; peak {run.peak.flops:.3g} FLOP/s per "
        f"device ({run.peak.source}); config {config_hash(run.config)[:12]}; "
        f"dataset {run.manifest.version[:12]}; steps {done}..{run.config.steps}"
    )


if __name__ == "__main__":
    sys.exit(main())
