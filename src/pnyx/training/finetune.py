"""LoRA fine-tuning of a registry model version on a directory of text (one process, no torchrun).

    python -m pnyx.training.finetune --base DIR --data DIR --out DIR [--rank R] [--alpha A]
        [--steps N] [--config FILE] [--base-sha256 HEX] [--base-version ID]

``--base``: a model version's directory as a job sees it (``/inputs/<version>``: ``pnyx-model.json``
and ``model.safetensors``). ``--data``: a directory of ``.txt`` files (``text_data``). ``--out``:
where ``adapter.safetensors`` and ``pnyx-adapter.json`` are written (``adapter_files``); it must not
hold an adapter already. ``--config``: a JSON object overriding ``FinetuneConfig``'s defaults;
``--rank``, ``--alpha`` and ``--steps`` override its fields. ``--base-sha256`` pins the base's
weights. The base is frozen and only the adapter trains (14,336 parameters at rank 8 on the default
model: one process holds it, no FSDP). Each step prints loss and tokens/s; on CPU the same inputs
give the same adapter bit for bit. A bad input ends with a one-line ``error:`` on stderr and exit
status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from pnyx.core.errors import FacilityError, InvalidInput
from pnyx.training import lora
from pnyx.training.adapter_files import ADAPTER_CARD, ADAPTER_WEIGHTS, HEX64, Base, read_base, write_adapter
from pnyx.training.config import config_hash
from pnyx.training.data import Batch
from pnyx.training.device import place
from pnyx.training.model_files import read_regular
from pnyx.training.network import loss_sum
from pnyx.training.provenance import code_digest
from pnyx.training.text_data import TextBatches, TextFile, read_texts

CONFIG_MAX_BYTES = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    base: Path
    data: Path
    out: Path
    config: lora.FinetuneConfig
    base_sha256: str | None
    base_version: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    step: int
    loss: float
    tokens: int  # positions processed
    seconds: float

    def line(self, steps: int) -> str:
        rate = self.tokens / self.seconds
        return (
            f"step {self.step + 1}/{steps} loss {self.loss:.4f} tokens/s {rate:,.0f} ({self.seconds:.3f} s)"
        )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pnyx.training.finetune", description="Fine-tune with LoRA.")
    p.add_argument("--base", type=Path, required=True, help="the base model version's directory")
    p.add_argument("--data", type=Path, required=True, help="a directory of .txt files")
    p.add_argument("--out", type=Path, required=True, help=f"where {ADAPTER_WEIGHTS} and {ADAPTER_CARD} go")
    p.add_argument("--rank", type=int, help="LoRA rank (overrides the config's)")
    p.add_argument("--alpha", type=int, help="LoRA alpha (overrides the config's)")
    p.add_argument("--steps", type=int, help="optimizer steps (overrides the config's)")
    p.add_argument("--config", type=Path, help="JSON object of FinetuneConfig fields to override")
    p.add_argument("--base-sha256", help="the pinned SHA-256 of the base's weights (refused if they differ)")
    p.add_argument("--base-version", help="the base's model version id (default: --base's name, if one)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        card = fine_tune(_options(args))
    except FacilityError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 2
    print(f"done: final loss {card['final']['loss']:.4f}; wrote {args.out / ADAPTER_CARD}", flush=True)
    return 0


def fine_tune(options: Options) -> dict[str, Any]:
    """Train an adapter on the base and the text; write it; returns ``pnyx-adapter.json``'s content."""
    base = read_base(options.base, options.base_sha256, options.base_version)
    texts = read_texts(options.data)
    _refuse_existing(options.out)
    config = options.config
    device = place(0).device
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)
    model = lora.wrap(base.model, config).to(device).train()
    batches = TextBatches(texts, base.config, config.batch_size, config.seed)
    print(_banner(model, base, texts, config, device), flush=True)
    steps = train_adapter(model, batches, config, device)
    return write_adapter(options.out, lora.adapter_state(model), _card(base, texts, config, steps))


def train_adapter(
    model: PeftModel, batches: TextBatches, config: lora.FinetuneConfig, device: torch.device
) -> list[Step]:
    """``config.steps`` AdamW steps on the parameters that require gradients (the adapter's alone);
    one progress line per step on stdout."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=0.0)
    done = []
    for number in range(config.steps):
        done.append(_step(model, optimizer, batches.batch(number).to(device), number))
        print(done[-1].line(config.steps), flush=True)
    return done


def _step(model: PeftModel, optimizer: torch.optim.Optimizer, batch: Batch, number: int) -> Step:
    started = time.perf_counter()
    counted = max(batch.loss_tokens, 1)
    loss = loss_sum(model(batch.tokens, batch.image, batch.audio), batch.targets) / counted
    torch.autograd.backward(loss)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    value = float(loss.detach())
    return Step(step=number, loss=value, tokens=batch.tokens.numel(), seconds=time.perf_counter() - started)


def _card(
    base: Base, texts: tuple[TextFile, ...], config: lora.FinetuneConfig, steps: list[Step]
) -> dict[str, Any]:
    seconds = sum(s.seconds for s in steps)
    return {
        "format": "pnyx.adapter/1",
        "kind": "lora",
        "base": {
            "version": base.version,
            "weights_sha256": base.weights_sha256,
            "config_hash": config_hash(base.config),
        },
        "config": lora.config_fields(config),
        "config_hash": lora.config_hash(config),
        "code_digest": code_digest(),
        "data": [{"path": t.name, "sha256": t.sha256, "bytes": len(t.data)} for t in texts],
        "steps": config.steps,
        "final": {"loss": steps[-1].loss, "tokens_per_s": sum(s.tokens for s in steps) / seconds},
    }


def _banner(
    model: PeftModel,
    base: Base,
    texts: tuple[TextFile, ...],
    config: lora.FinetuneConfig,
    device: torch.device,
) -> str:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    text_bytes = sum(len(t.data) for t in texts)
    return (
        f"pnyx.training.finetune: LoRA rank {config.rank} alpha {config.alpha} on "
        f"{','.join(config.targets)}; {trainable:,} of {total:,} parameters train; "
        f"base {base.weights_sha256[:12]}; {len(texts)} text file(s), {text_bytes:,} bytes; "
        f"{config.steps} steps on {device.type}"
    )


def _refuse_existing(out: Path) -> None:
    for name in (ADAPTER_CARD, ADAPTER_WEIGHTS):
        if (out / name).exists() or (out / name).is_symlink():
            raise InvalidInput(f"--out {out} already holds {name}; give an empty directory", field="out")


def _options(args: argparse.Namespace) -> Options:
    config = lora.FinetuneConfig() if args.config is None else _config_file(args.config)
    overrides = {k: getattr(args, k) for k in ("rank", "alpha", "steps") if getattr(args, k) is not None}
    return Options(
        base=args.base,
        data=args.data,
        out=args.out,
        config=replace(config, **overrides),
        base_sha256=_hex(args.base_sha256, "--base-sha256"),
        base_version=_hex(args.base_version, "--base-version"),
    )


def _hex(value: str | None, option: str) -> str | None:
    if value is not None and not HEX64.fullmatch(value):
        raise InvalidInput(f"{option} must be 64 lower-case hex digits", field=option.removeprefix("--"))
    return value


def _config_file(path: Path) -> lora.FinetuneConfig:
    raw = read_regular(path, CONFIG_MAX_BYTES, f"--config {path}", field="config")
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"--config {path} is not JSON: {exc}", field="config") from exc
    if not isinstance(found, dict):
        raise InvalidInput(f"--config {path} must be a JSON object of FinetuneConfig fields", field="config")
    return lora.config_from_mapping(found)


if __name__ == "__main__":
    sys.exit(main())
