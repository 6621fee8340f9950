"""Reading a job's input files safely: a model version's card and weights, and any capped regular file.

A file is opened without following a symlink, must be a regular file and is read whole up to a
cap (one byte more tells an oversized file). A model version's directory holds ``pnyx-model.json``
(format ``pnyx.model/1``, ``weights`` naming ``model.safetensors``, its ``config`` a ``TrainConfig``)
and the weights, whose bytes are returned to be hashed and loaded from the same read.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.training.config import TrainConfig, config_from_json
from pnyx.training.provenance import MODEL_CARD, MODEL_FORMAT, WEIGHTS

CARD_MAX_BYTES = 1 << 20
WEIGHTS_MAX_BYTES = 8 << 30


def read_regular(path: Path, limit: int, what: str, field: str) -> bytes:
    """A regular file's bytes, never through a symlink, at most ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise InvalidInput(f"cannot open {what}: {exc.strerror}", field=field) from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InvalidInput(f"{what} is not a regular file", field=field)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{what} is over {limit} bytes", field=field)
    return data


def read_model_files(directory: Path, field: str) -> tuple[TrainConfig, bytes]:
    """The card's config and the weights' bytes of the model version in ``directory``."""
    card = _card(read_regular(directory / MODEL_CARD, CARD_MAX_BYTES, MODEL_CARD, field), field)
    return _config(card, field), read_regular(directory / WEIGHTS, WEIGHTS_MAX_BYTES, WEIGHTS, field)


def _card(raw: bytes, field: str) -> dict[str, Any]:
    try:
        found = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"{MODEL_CARD} is not JSON: {exc}", field=field) from exc
    if not isinstance(found, dict) or found.get("format") != MODEL_FORMAT:
        raise InvalidInput(f"{MODEL_CARD} is not a {MODEL_FORMAT} card", field=field)
    if found.get("weights") != WEIGHTS:
        raise InvalidInput(f"{MODEL_CARD}: weights must be {WEIGHTS!r}", field=field)
    return found


def _config(card: dict[str, Any], field: str) -> TrainConfig:
    config = card.get("config")
    if not isinstance(config, dict):
        raise InvalidInput(f"{MODEL_CARD}: config must be an object", field=field)
    try:
        return config_from_json(json.dumps(config))
    except InvalidInput as exc:
        raise InvalidInput(f"{MODEL_CARD}: {exc.message}", field=field) from exc
