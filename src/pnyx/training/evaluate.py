"""The evaluation harness: one model version scored on one evaluation set, deterministically, on CPU.

    python -m pnyx.training.evaluate --model DIR --data DIR --out DIR [--config FILE | --config-json TEXT]
        [--weights-sha256 HEX] [--model-version ID]

``--model``: a model version's files as the recipe writes them (``pnyx-model.json`` and
``model.safetensors``). ``--data``: a dataset version's directory (the training data's format; its
shards are checked against the manifest and the manifest's version id against the shards' Merkle
root). ``--out``: where ``pnyx-eval.json`` is written (``pnyx.registry.evaluation``). ``--config``: a
JSON object overriding ``EvalConfig``'s defaults (``--config-json``: the object itself, as a
reproduction job gives its pinned config). ``--weights-sha256``: the pinned digest of the
weights; a file that does not match is refused. ``--model-version``: the registry's id of the version
(recorded as ``model``; without it, the weights' SHA-256 is).

The network is rebuilt from the card's config and takes the weights' tensors as they are (it is built
on the meta device, so a hostile config allocates nothing the weights file does not hold). Every
sample of the set is read in manifest order (shards in order, samples in stored order) in batches of
``batch_size``, with no randomness; each sample is one row as in training (``samples.encode``).
Scored are the targets training scores (text and code bytes and ``EOS``): ``loss`` is their mean
cross-entropy in nats; ``bits_per_byte`` and ``accuracy`` (next-byte top-1) are over the byte targets
alone. Sums are taken in float64 in a fixed order, so the same inputs give the same file, bit for
bit. A bad input ends with a one-line ``error:`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 (the torch idiom)
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors

from pnyx.core.errors import FacilityError, InvalidInput
from pnyx.registry import rules
from pnyx.registry.evaluation import EVAL_FILE, EvalResult, config_digest, parse_result, result_json
from pnyx.training.config import BYTES, IGNORE, TrainConfig, config_hash
from pnyx.training.data import collate
from pnyx.training.model_files import CARD_MAX_BYTES, read_model_files, read_regular
from pnyx.training.network import Decoder
from pnyx.training.provenance import WEIGHTS, code_digest
from pnyx.training.samples import Row, encode
from pnyx.training.shards import Manifest, index_shard, read_manifest, read_payload, verify_shard

BATCH_MAX = 4096
_HEX64 = re.compile(r"[0-9a-f]{64}")
TOLERANCE = {"loss": 1e-6, "bits_per_byte": 1e-6, "accuracy": 0.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalConfig:
    batch_size: int = 8  # samples per forward pass (part of the pinned configuration)

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise InvalidInput("batch_size must be an integer", field="batch_size")
        if not 0 < self.batch_size <= BATCH_MAX:
            raise InvalidInput(
                f"batch_size must be 1..{BATCH_MAX}, got {self.batch_size}", field="batch_size"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    model: Path
    data: Path
    out: Path
    config: EvalConfig
    weights_sha256: str | None
    model_version: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Totals:
    """Sums over the scored targets, in float64 (nats)."""

    samples: int = 0
    tokens: int = 0
    nats: float = 0.0
    bytes: int = 0
    byte_nats: float = 0.0
    correct: int = 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pnyx.training.evaluate", description="Evaluate a model.")
    p.add_argument("--model", type=Path, required=True, help="a model version's directory")
    p.add_argument("--data", type=Path, required=True, help="the evaluation set's dataset version directory")
    p.add_argument("--out", type=Path, required=True, help=f"where {EVAL_FILE} is written")
    p.add_argument("--config", type=Path, help="JSON object of EvalConfig fields to override")
    p.add_argument("--config-json", help="the same object given inline (a reproduction's pinned config)")
    p.add_argument("--weights-sha256", help="the pinned SHA-256 of the weights (refused if they differ)")
    p.add_argument("--model-version", help="the model version id to record (default: the weights' SHA-256)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = evaluate(_options(args))
    except FacilityError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 2
    metrics = ", ".join(f"{name} {value}" for name, value in result.metrics)
    print(f"evaluated: {metrics}; wrote {args.out / EVAL_FILE}", flush=True)
    return 0


def evaluate(options: Options) -> EvalResult:
    """Score the model on the set and write ``pnyx-eval.json``; returns what was written."""
    _refuse_existing(options.out)
    config, raw = read_model_files(options.model, "model")
    weights = hashlib.sha256(raw).hexdigest()
    _check_pin(options.weights_sha256, weights)
    model = load_model(config, raw)
    manifest = _verified_set(options.data)
    totals = score(model, options.data, manifest, config, options.config.batch_size)
    result = _result(options, config, weights, manifest.version, totals)
    write_result(options.out, result)
    return result


def load_model(config: TrainConfig, raw: bytes) -> Decoder:
    """The network of ``config`` holding the tensors of a safetensors file's bytes (float32 only)."""
    try:
        state = load_tensors(raw)
    except (SafetensorError, ValueError) as exc:
        raise InvalidInput(f"{WEIGHTS} is not a safetensors file: {exc}", field="weights") from exc
    odd = sorted(name for name, t in state.items() if t.dtype != torch.float32)
    if odd:
        raise InvalidInput(f"{WEIGHTS}: tensor {odd[0]} is not float32", field="weights")
    with torch.device("meta"):
        model = Decoder(config)
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise InvalidInput(f"{WEIGHTS} does not fit the card's config: {exc}", field="weights") from exc
    return model.eval()


def score(model: Decoder, data: Path, manifest: Manifest, config: TrainConfig, batch_size: int) -> Totals:
    """Every sample of the set through the model, in manifest order, ``batch_size`` at a time."""
    torch.use_deterministic_algorithms(True)
    totals = Totals()
    with torch.no_grad():
        for rows in _batches(_rows(data, manifest, config), batch_size):
            totals = _add(totals, model, rows)
    if totals.bytes == 0:
        raise InvalidInput("the evaluation set holds no text or code to score", field="data")
    return totals


def metrics(totals: Totals) -> dict[str, int | float]:
    return {
        "samples": totals.samples,
        "tokens": totals.tokens,
        "bytes": totals.bytes,
        "loss": totals.nats / totals.tokens,
        "bits_per_byte": totals.byte_nats / totals.bytes / math.log(2),
        "accuracy": totals.correct / totals.bytes,
    }


def write_result(out: Path, result: EvalResult) -> None:
    """``pnyx-eval.json`` under ``out``, checked by the strict parser, written whole or not at all."""
    data = (json.dumps(result_json(result), sort_keys=True, indent=1) + "\n").encode()
    parse_result(data)
    out.mkdir(parents=True, exist_ok=True)
    partial = out / (EVAL_FILE + ".partial")
    partial.write_bytes(data)
    os.replace(partial, out / EVAL_FILE)


def _add(totals: Totals, model: Decoder, rows: list[Row]) -> Totals:
    batch = collate(rows)
    logits = model(batch.tokens, batch.image, batch.audio).float()
    targets = batch.targets.reshape(-1)
    nats = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets, ignore_index=IGNORE, reduction="none"
    )
    scored, is_byte = targets != IGNORE, (targets != IGNORE) & (targets < BYTES)
    hits = logits.reshape(-1, logits.shape[-1]).argmax(dim=-1) == targets
    return Totals(
        samples=totals.samples + len(rows),
        tokens=totals.tokens + int(scored.sum()),
        nats=totals.nats + float(nats[scored].double().sum()),
        bytes=totals.bytes + int(is_byte.sum()),
        byte_nats=totals.byte_nats + float(nats[is_byte].double().sum()),
        correct=totals.correct + int(hits[is_byte].sum()),
    )


def _rows(data: Path, manifest: Manifest, config: TrainConfig) -> Iterator[Row]:
    for entry in manifest.shards:
        for number, ref in enumerate(index_shard(data, entry)):
            payload = read_payload(data, entry, ref)
            yield encode(ref.modality, payload, config, f"{ref.key} ({entry.name} #{number})")


def _batches(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _result(options: Options, config: TrainConfig, weights: str, eval_set: str, totals: Totals) -> EvalResult:
    pinned: dict[str, Any] = {**asdict(options.config), "model_config_hash": config_hash(config)}
    found = metrics(totals)
    return EvalResult(
        model=options.model_version or weights,
        weights_sha256=weights,
        eval_set=eval_set,
        harness_digest=code_digest(),
        config=tuple(sorted(pinned.items())),
        config_hash=config_digest(pinned),
        metrics=tuple(sorted(found.items())),
        tolerance=tuple(sorted(TOLERANCE.items())),
    )


def _check_pin(pinned: str | None, found: str) -> None:
    if pinned is not None and pinned != found:
        raise InvalidInput(
            f"pinned digest does not match: {WEIGHTS} has SHA-256 {found}, the pin is {pinned}",
            field="weights_sha256",
        )


def _verified_set(data: Path) -> Manifest:
    """The set's manifest, each shard checked against it and its version id against the shards."""
    manifest = read_manifest(data)
    for shard in manifest.shards:
        verify_shard(data, shard)
    root = rules.version_id([s.sha256 for s in manifest.shards])
    if root != manifest.version:
        raise InvalidInput(
            f"the evaluation set's version {manifest.version} is not its shards' Merkle root {root}",
            field="data",
        )
    return manifest


def _refuse_existing(out: Path) -> None:
    if (out / EVAL_FILE).exists() or (out / EVAL_FILE).is_symlink():
        raise InvalidInput(f"{out} already holds {EVAL_FILE}; give an empty directory", field="out")


def _options(args: argparse.Namespace) -> Options:
    config = EvalConfig() if args.config is None else _config_from_file(args.config)
    if args.config_json is not None:
        config = _config_from_text(args.config_json.encode())
    return Options(
        model=args.model,
        data=args.data,
        out=args.out,
        config=config,
        weights_sha256=_hex_option(args.weights_sha256, "weights_sha256"),
        model_version=_hex_option(args.model_version, "model_version"),
    )


def _hex_option(value: str | None, field: str) -> str | None:
    if value is not None and not _HEX64.fullmatch(value):
        raise InvalidInput(f"--{field.replace('_', '-')} must be 64 lower-case hex digits", field=field)
    return value


def _config_from_file(path: Path) -> EvalConfig:
    return _config_from_text(read_regular(path, CARD_MAX_BYTES, "the config file", field="config"))


def _config_from_text(raw: bytes) -> EvalConfig:
    if len(raw) > CARD_MAX_BYTES:
        raise InvalidInput(f"the evaluation config is over {CARD_MAX_BYTES} bytes", field="config")
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"the evaluation config is not JSON: {exc}", field="config") from exc
    if not isinstance(found, dict):
        raise InvalidInput("the evaluation config must be a JSON object of EvalConfig fields", field="config")
    known = sorted(f.name for f in fields(EvalConfig))
    for name in found:
        if name not in known:
            raise InvalidInput(
                f"unknown evaluation config field {name!r} (known: {', '.join(known)})", field=name
            )
    return replace(EvalConfig(), **found)


if __name__ == "__main__":
    sys.exit(main())
