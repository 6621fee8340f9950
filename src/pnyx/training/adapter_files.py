"""A fine-tuning run's files: the base it reads, the adapter it writes, and the way back.

The base is a model version's directory as a job sees it (``/inputs/<version>``: ``pnyx-model.json``
and ``model.safetensors`` as the recipe writes them); its weights are read once, hashed and loaded
from the same bytes, and must fit the card's config exactly. The adapter is ``adapter.safetensors``
(``peft``'s tensors of the adapter alone) and ``pnyx-adapter.json``, written last, which pins the
base (its version id when known, the SHA-256 of its weights, its config hash), the adapter file's
SHA-256, the fine-tuning config and the text files' digests. ``load_adapter`` is the way back: the
base with a (decrypted) adapter merged in, refused unless both are the files the card names.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from pnyx.core.errors import InvalidInput
from pnyx.training.config import TrainConfig
from pnyx.training.evaluate import load_model
from pnyx.training.lora import LORA_MARK, FinetuneConfig, apply_adapter, config_from_mapping
from pnyx.training.model_files import read_model_files, read_regular
from pnyx.training.network import Decoder
from pnyx.training.provenance import WEIGHTS

ADAPTER_FORMAT = "pnyx.adapter/1"
ADAPTER_CARD = "pnyx-adapter.json"
ADAPTER_WEIGHTS = "adapter.safetensors"
CARD_MAX_BYTES = 1 << 20
ADAPTER_MAX_BYTES = 4 << 30
HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Base:
    version: str | None  # the model version id: --base-version, else the directory's name if it is one
    config: TrainConfig
    weights_sha256: str
    model: Decoder


@dataclass(frozen=True, slots=True, kw_only=True)
class Adapter:
    config: FinetuneConfig
    base_sha256: str
    state: dict[str, torch.Tensor]


def read_base(directory: Path, pin: str | None = None, version: str | None = None) -> Base:
    """The base model version in ``directory``; with ``pin``, its weights must have that SHA-256."""
    try:
        config, raw = read_model_files(directory, field="base")
        model = load_model(config, raw)
    except InvalidInput as exc:
        raise InvalidInput(f"--base {directory}: {_one_line(exc.message)}", field="base") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if pin is not None and pin != digest:
        raise InvalidInput(
            f"--base-sha256: pinned digest does not match: {WEIGHTS} has SHA-256 {digest}, the pin is {pin}",
            field="base_sha256",
        )
    named = version or (directory.name if HEX64.fullmatch(directory.name) else None)
    return Base(version=named, config=config, weights_sha256=digest, model=model)


def write_adapter(out: Path, state: Mapping[str, torch.Tensor], card: Mapping[str, Any]) -> dict[str, Any]:
    """``adapter.safetensors``, then ``pnyx-adapter.json`` (``card`` with the adapter's SHA-256);
    each under a temporary name, then renamed. Returns the card as written."""
    data = save_tensors(dict(state), metadata={"format": "pt"})
    out.mkdir(parents=True, exist_ok=True)
    _write(out / ADAPTER_WEIGHTS, data)
    written = {**card, "adapter": ADAPTER_WEIGHTS, "adapter_sha256": hashlib.sha256(data).hexdigest()}
    _write(out / ADAPTER_CARD, (json.dumps(written, sort_keys=True, indent=1) + "\n").encode())
    return written


def read_adapter(directory: Path) -> Adapter:
    """The adapter in ``directory``: its card's config and pins, and its tensors (checked by digest)."""
    card = _card(read_regular(directory / ADAPTER_CARD, CARD_MAX_BYTES, ADAPTER_CARD, field="adapter"))
    raw = read_regular(directory / ADAPTER_WEIGHTS, ADAPTER_MAX_BYTES, ADAPTER_WEIGHTS, field="adapter")
    if hashlib.sha256(raw).hexdigest() != card["adapter_sha256"]:
        raise InvalidInput(f"{ADAPTER_WEIGHTS} is not the file {ADAPTER_CARD} pins", field="adapter")
    return Adapter(config=_card_config(card), base_sha256=card["base"]["weights_sha256"], state=_tensors(raw))


def load_adapter(base_dir: Path, adapter_dir: Path) -> Decoder:
    """The base in ``base_dir`` with the adapter in ``adapter_dir`` merged in (the base it pins only)."""
    adapter = read_adapter(adapter_dir)
    base = read_base(base_dir)
    if base.weights_sha256 != adapter.base_sha256:
        raise InvalidInput(
            f"--base {base_dir}: its {WEIGHTS} has SHA-256 {base.weights_sha256}; the adapter was "
            f"trained on {adapter.base_sha256}",
            field="base",
        )
    return apply_adapter(base.model, adapter.config, adapter.state)


def _card(raw: bytes) -> dict[str, Any]:
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{ADAPTER_CARD} is not JSON: {exc}", field="adapter") from exc
    if not isinstance(found, dict) or found.get("format") != ADAPTER_FORMAT:
        raise InvalidInput(f"{ADAPTER_CARD} is not a {ADAPTER_FORMAT} card", field="adapter")
    base = found.get("base")
    pins = [found.get("adapter_sha256"), base.get("weights_sha256") if isinstance(base, dict) else None]
    if not all(isinstance(p, str) and HEX64.fullmatch(p) for p in pins):
        raise InvalidInput(
            f"{ADAPTER_CARD}: adapter_sha256 and base.weights_sha256 must be SHA-256s", field="adapter"
        )
    return found


def _card_config(card: Mapping[str, Any]) -> FinetuneConfig:
    config = card.get("config")
    if not isinstance(config, dict):
        raise InvalidInput(f"{ADAPTER_CARD}: config must be an object", field="adapter")
    return config_from_mapping(config)


def _tensors(raw: bytes) -> dict[str, torch.Tensor]:
    try:
        state = load_tensors(raw)
    except (SafetensorError, ValueError) as exc:
        raise InvalidInput(f"{ADAPTER_WEIGHTS} is not a safetensors file: {exc}", field="adapter") from exc
    odd = sorted(n for n, t in state.items() if LORA_MARK not in n or t.dtype != torch.float32)
    if odd:
        raise InvalidInput(f"{ADAPTER_WEIGHTS}: {odd[0]} is not a float32 LoRA tensor", field="adapter")
    return state


def _one_line(message: str) -> str:
    """A message of several lines (torch's list of misfits) as its first two, and how many more."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
    return "; ".join(lines[:2]) + more


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
