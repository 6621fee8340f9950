"""LoRA adapters on the reference model (``peft``): the fine-tuning configuration and the wrapped network.

``FinetuneConfig`` says what an adapter is (``rank``, ``alpha``, the ``targets``: names of the
network's linear layers, matched by ``peft`` as the last part of a module's name) and how it is
trained (``lr``, ``batch_size``, ``steps``, ``seed``). ``wrap`` puts a ``peft`` LoRA pair beside
each target layer and freezes everything else; ``adapter_state`` is the adapter's tensors alone
(``lora_A``/``lora_B`` of every target); ``apply_adapter`` loads such tensors onto a base network and
merges them into its weights. Dropout is 0: a step draws no random numbers, so on CPU the same
inputs give the same adapter bit for bit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import InvalidInput
from pnyx.training.network import Decoder

TARGETS = ("qkv", "out", "gate_up", "down")  # every linear layer of every block
KNOWN_TARGETS = (*TARGETS, "head")  # the output head may be adapted too
RANK_MAX = 1024
LORA_MARK = "lora_"  # in the name of every tensor of an adapter


@dataclass(frozen=True, slots=True, kw_only=True)
class FinetuneConfig:
    rank: int = 8
    alpha: int = 16  # the adapter's update is scaled by alpha / rank
    targets: tuple[str, ...] = TARGETS
    lr: float = 3e-3  # AdamW on the adapter's parameters, constant
    batch_size: int = 4  # text chunks per step
    steps: int = 20
    seed: int = 0  # the adapter's initialisation and the order of the chunks

    def __post_init__(self) -> None:
        if not 0 < self.rank <= RANK_MAX:
            raise InvalidInput(f"rank must be 1..{RANK_MAX}, got {self.rank}", field="rank")
        for name in ("batch_size", "steps"):
            if getattr(self, name) <= 0:
                raise InvalidInput(f"{name} must be positive, got {getattr(self, name)}", field=name)
        for name in ("alpha", "lr"):
            if not getattr(self, name) > 0:
                raise InvalidInput(f"{name} must be positive, got {getattr(self, name)}", field=name)
        if self.seed < 0:
            raise InvalidInput(f"seed must be 0 or more, got {self.seed}", field="seed")
        _check_targets(self.targets)


def config_from_mapping(found: Mapping[str, Any], base: FinetuneConfig | None = None) -> FinetuneConfig:
    """``base`` (the defaults) with the given fields replaced; unknown or mistyped fields refused by name."""
    changes = {name: _typed(name, value) for name, value in found.items()}
    return replace(base or FinetuneConfig(), **changes)


def config_fields(config: FinetuneConfig) -> dict[str, Any]:
    return {**asdict(config), "targets": list(config.targets)}


def config_hash(config: FinetuneConfig) -> str:
    """SHA-256 (hex) of the RFC 8785 JSON of every field but ``steps`` (how long, not what a step does)."""
    trajectory = {k: v for k, v in config_fields(config).items() if k != "steps"}
    return hashlib.sha256(canonical_json(trajectory)).hexdigest()


def wrap(model: Decoder, config: FinetuneConfig) -> PeftModel:
    """``model`` with a LoRA pair on each target layer; only the pairs require gradients."""
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        target_modules=list(config.targets),
        lora_dropout=0.0,
        bias="none",
    )
    return get_peft_model(model, lora)


def adapter_state(model: PeftModel) -> dict[str, torch.Tensor]:
    """A copy of the adapter's tensors alone (``peft``'s names, each holding ``lora_``), on the CPU."""
    state = get_peft_model_state_dict(model)
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}


def apply_adapter(base: Decoder, config: FinetuneConfig, state: Mapping[str, torch.Tensor]) -> Decoder:
    """``base`` with the adapter ``state`` merged into its weights; the tensors must fit exactly."""
    model = wrap(base, config)
    _check_names(set(adapter_state(model)), set(state))
    try:
        set_peft_model_state_dict(model, dict(state))
    except RuntimeError as exc:
        raise InvalidInput(f"the adapter does not fit the base: {exc}", field="adapter") from exc
    merged = model.merge_and_unload()
    if not isinstance(merged, Decoder):  # pragma: no cover (peft returns the wrapped network)
        raise TypeError(f"merging gave a {type(merged).__name__}, not the reference network")
    return merged.eval()


def _check_names(expected: set[str], found: set[str]) -> None:
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing or extra:
        odd = f"lacks {missing[0]}" if missing else f"holds {extra[0]}, which the base has no place for"
        raise InvalidInput(f"the adapter does not fit the base: it {odd}", field="adapter")


def _check_targets(targets: tuple[str, ...]) -> None:
    if not targets or len(set(targets)) != len(targets):
        raise InvalidInput("targets must name one or more layers, each once", field="targets")
    for name in targets:
        if name not in KNOWN_TARGETS:
            raise InvalidInput(
                f"targets: unknown layer {name!r} (known: {', '.join(KNOWN_TARGETS)})", field="targets"
            )


def _typed(name: str, value: object) -> Any:
    kinds = {f.name: f.type for f in fields(FinetuneConfig)}
    if name not in kinds:
        raise InvalidInput(f"unknown config field {name!r} (known: {', '.join(sorted(kinds))})", field=name)
    if name == "targets":
        return _targets(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"config field {name} must be a number, got {value!r}", field=name)
    if kinds[name] == "int" and not isinstance(value, int):
        raise InvalidInput(f"config field {name} must be an integer, got {value!r}", field=name)
    return float(value) if kinds[name] == "float" else value


def _targets(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(
            f"config field targets must be a list of layer names, got {value!r}", field="targets"
        )
    return tuple(value)
