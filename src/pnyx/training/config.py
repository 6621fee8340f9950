"""What a training run is: the frozen ``TrainConfig``, its vocabulary and its hash (pure, stdlib only).

The vocabulary is byte-level: ids 0..255 are the bytes of text and code, then five specials. Image
patches and audio frames sit at positions whose token is ``IMAGE`` or ``AUDIO``; their pixels or
samples enter through a linear projection (``network``), never through the vocabulary.

``config_hash`` names the training trajectory: the SHA-256 of the canonical JSON (RFC 8785) of every
field except ``RUN_LENGTH_FIELDS`` (how long to run and how often to save change when a run stops,
not what each step computes), so a run of 4 steps resumed to 8 is the same configuration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import InvalidInput

BYTES = 256  # ids 0..255: the bytes of UTF-8 text and source code
BOS, EOS, PAD, IMAGE, AUDIO = 256, 257, 258, 259, 260
SPECIALS = 5
MIN_VOCAB = BYTES + SPECIALS
IGNORE = -100  # a target that counts for no loss (images, audio, padding)

RUN_LENGTH_FIELDS = frozenset({"steps", "checkpoint_every"})
CONFIG_FILE_MAX_BYTES = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Sizes and settings of one run; the defaults are tiny (2 CPU ranks train 20 steps in seconds)."""

    d_model: int = 64
    layers: int = 2
    heads: int = 4
    d_ff: int = 128  # hidden width of the SwiGLU MLP
    seq_len: int = 64  # positions the model sees per sample
    vocab: int = MIN_VOCAB
    patch: int = 4  # image patches are patch x patch pixels
    frame: int = 64  # audio frames are this many samples
    batch_size: int = 4  # samples per rank per optimizer step
    lr: float = 3e-3
    weight_decay: float = 0.0
    steps: int = 20
    seed: int = 0
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        for name in ("d_model", "layers", "heads", "d_ff", "seq_len", "patch", "frame", "batch_size"):
            _positive(getattr(self, name), name)
        _positive(self.steps, "steps")
        _positive(self.checkpoint_every, "checkpoint_every")
        _check_shape(self)


def config_hash(config: TrainConfig) -> str:
    """SHA-256 (hex) of the canonical JSON of the fields that decide what each step computes."""
    trajectory = {k: v for k, v in asdict(config).items() if k not in RUN_LENGTH_FIELDS}
    return hashlib.sha256(canonical_json(trajectory)).hexdigest()


def config_from_json(text: str, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (the defaults) with the fields of a JSON object replaced; unknown or mistyped fields
    are refused by name."""
    if len(text.encode()) > CONFIG_FILE_MAX_BYTES:
        raise InvalidInput(f"a config file is at most {CONFIG_FILE_MAX_BYTES} bytes", field="config")
    try:
        found = json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"the config is not JSON: {exc}", field="config") from exc
    if not isinstance(found, dict):
        raise InvalidInput("the config must be a JSON object of TrainConfig fields", field="config")
    changes: dict[str, Any] = {name: _typed(name, value) for name, value in found.items()}
    return replace(base or TrainConfig(), **changes)


def config_fields(config: TrainConfig) -> dict[str, Any]:
    return asdict(config)


def _typed(name: str, value: object) -> int | float:
    kinds = {f.name: f.type for f in fields(TrainConfig)}
    if name not in kinds:
        raise InvalidInput(f"unknown config field {name!r} (known: {', '.join(sorted(kinds))})", field=name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"config field {name} must be a number, got {value!r}", field=name)
    if kinds[name] == "int" and not isinstance(value, int):
        raise InvalidInput(f"config field {name} must be an integer, got {value!r}", field=name)
    return float(value) if kinds[name] == "float" else value


def _check_shape(config: TrainConfig) -> None:
    if config.d_model % config.heads:
        raise InvalidInput(
            f"d_model {config.d_model} must be a multiple of heads {config.heads}", field="heads"
        )
    if config.vocab < MIN_VOCAB:
        raise InvalidInput(f"vocab must be at least {MIN_VOCAB} (bytes and specials)", field="vocab")
    if not config.lr > 0:
        raise InvalidInput(f"lr must be positive, got {config.lr}", field="lr")
    if not config.weight_decay >= 0:
        raise InvalidInput(f"weight_decay must be 0 or more, got {config.weight_decay}", field="weight_decay")
    if config.seed < 0:
        raise InvalidInput(f"seed must be 0 or more, got {config.seed}", field="seed")


def _positive(value: int, name: str) -> None:
    if value <= 0:
        raise InvalidInput(f"{name} must be positive, got {value}", field=name)
