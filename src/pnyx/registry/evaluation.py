"""An evaluation result as data (pure, stdlib and ``pnyx.core`` only): ``pnyx-eval.json`` parsed
strictly, two results compared, and the canonical bytes the facility signs.

An evaluation pins what it measured: the model version (``model``), its weights' SHA-256, the
evaluation set (a dataset version id), the harness (``harness_digest``, the recipe's code digest) and
its configuration (``config``, hashed as ``config_hash``). ``metrics`` are numbers by name;
``tolerance`` says by how much a re-run may differ from each (a metric it does not name: exactly).

The file is hostile input (a job wrote it): at most ``RESULT_MAX_BYTES``, no unknown keys, every
field of its type, names short and plain, numbers finite; each refusal names the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import InvalidInput

EVAL_FORMAT = "pnyx.eval/1"
EVAL_FILE = "pnyx-eval.json"
RESULT_MAX_BYTES = 32 << 10  # well under a log entry's 65,535 bytes
ENTRIES_MAX = 64  # config, metrics and tolerance each
TEXT_MAX = 256
NUMBER_MAX = 2**53  # integers beyond this lose their value in JSON's doubles
PINS = ("model", "weights_sha256", "eval_set", "harness_digest", "config_hash")
FIELDS = frozenset({"format", *PINS, "config", "metrics", "tolerance"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

Scalar = str | int | float | bool
Number = int | float
V = TypeVar("V")


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalResult:
    """One evaluation's pins and measurements; mappings are kept as pairs sorted by name."""

    model: str  # the model version id (or its weights' SHA-256 when no version was named)
    weights_sha256: str
    eval_set: str  # the evaluation set's dataset version id
    harness_digest: str
    config: tuple[tuple[str, Scalar], ...]
    config_hash: str
    metrics: tuple[tuple[str, Number], ...]
    tolerance: tuple[tuple[str, float], ...]

    def metric(self, name: str) -> Number | None:
        return dict(self.metrics).get(name)

    def allowed(self, name: str) -> float:
        """How far a re-run may be from the published value of ``name`` (0.0 when not declared)."""
        return dict(self.tolerance).get(name, 0.0)


def config_digest(config: Mapping[str, Scalar]) -> str:
    """``config_hash``: the SHA-256 (hex) of the config's canonical JSON (RFC 8785)."""
    return hashlib.sha256(canonical_json(dict(config))).hexdigest()


def result_json(result: EvalResult) -> dict[str, Any]:
    """The result as ``pnyx-eval.json``'s object."""
    pins = {pin: getattr(result, pin) for pin in PINS}
    maps = {"config": dict(result.config), "metrics": dict(result.metrics)}
    return {"format": EVAL_FORMAT, **pins, **maps, "tolerance": dict(result.tolerance)}


def signing_text(result: EvalResult) -> bytes:
    """The canonical bytes (RFC 8785 JSON of ``result_json``) that the facility signs."""
    return canonical_json(result_json(result))


def parse_result(raw: bytes) -> EvalResult:
    """``pnyx-eval.json``'s bytes, checked field by field (``InvalidInput`` naming the field)."""
    found = _object(raw)
    unknown = sorted(set(found) - FIELDS)
    if unknown:
        raise InvalidInput(f"{EVAL_FILE}: unknown field {unknown[0]!r}", field=unknown[0])
    if found.get("format") != EVAL_FORMAT:
        raise InvalidInput(f"{EVAL_FILE}: format must be {EVAL_FORMAT!r}", field="format")
    pins = {pin: _hex(found, pin) for pin in PINS}
    config = _pairs(found, "config", _scalar)
    metrics = _pairs(found, "metrics", _number)
    tolerance = _pairs(found, "tolerance", _tolerance)
    _check_consistent(pins["config_hash"], config, metrics, tolerance)
    return EvalResult(**pins, config=config, metrics=metrics, tolerance=tolerance)


def compare(published: EvalResult, reproduced: EvalResult) -> list[str]:
    """Empty when ``reproduced`` agrees with ``published`` within the published tolerance; else one
    line per difference: the pins that differ first, then each metric outside its tolerance."""
    return [*_pin_differences(published, reproduced), *_metric_differences(published, reproduced)]


def _pin_differences(published: EvalResult, reproduced: EvalResult) -> list[str]:
    lines = [
        f"{pin} differs: published {getattr(published, pin)}, reproduced {getattr(reproduced, pin)}"
        for pin in PINS
        if getattr(published, pin) != getattr(reproduced, pin)
    ]
    return lines + _config_differences(dict(published.config), dict(reproduced.config))


def _config_differences(ours: Mapping[str, Scalar], theirs: Mapping[str, Scalar]) -> list[str]:
    return [
        f"config {name} differs: published {ours.get(name)!r}, reproduced {theirs.get(name)!r}"
        for name in sorted(set(ours) | set(theirs))
        if canonical_json(ours.get(name)) != canonical_json(theirs.get(name))
    ]


def _metric_differences(published: EvalResult, reproduced: EvalResult) -> list[str]:
    ours, theirs = dict(published.metrics), dict(reproduced.metrics)
    lines = [f"metric {name}: not in the published result" for name in sorted(set(theirs) - set(ours))]
    for name in sorted(ours):
        line = _metric_line(name, ours[name], theirs.get(name), published.allowed(name))
        if line is not None:
            lines.append(line)
    return lines


def _metric_line(name: str, published: Number, reproduced: Number | None, tolerance: float) -> str | None:
    if reproduced is None:
        return f"metric {name}: published {published!r}, missing from the reproduction"
    if abs(published - reproduced) <= tolerance:
        return None
    return (
        f"metric {name}: published {published!r}, reproduced {reproduced!r}, a difference of "
        f"{abs(published - reproduced):.3g} over the tolerance {tolerance!r}"
    )


def _check_consistent(
    config_hash: str,
    config: tuple[tuple[str, Scalar], ...],
    metrics: tuple[tuple[str, Number], ...],
    tolerance: tuple[tuple[str, float], ...],
) -> None:
    if config_digest(dict(config)) != config_hash:
        raise InvalidInput(f"{EVAL_FILE}: config_hash is not the SHA-256 of config", field="config_hash")
    names = {name for name, _ in metrics}
    for name, _ in tolerance:
        if name not in names:
            raise InvalidInput(
                f"{EVAL_FILE}: tolerance names {name!r}, which is no metric", field="tolerance"
            )


def _object(raw: bytes) -> dict[str, Any]:
    if len(raw) > RESULT_MAX_BYTES:
        raise InvalidInput(f"{EVAL_FILE} is over {RESULT_MAX_BYTES} bytes", field="result")
    try:
        found = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{EVAL_FILE} is not UTF-8 JSON: {exc}", field="result") from exc
    if not isinstance(found, dict):
        raise InvalidInput(f"{EVAL_FILE} must be a JSON object", field="result")
    return found


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _hex(found: Mapping[str, Any], name: str) -> str:
    value = found.get(name)
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise InvalidInput(f"{EVAL_FILE}: {name} must be 64 lower-case hex digits", field=name)
    return value


def _pairs(
    found: Mapping[str, Any], field: str, check: Callable[[object, str], V]
) -> tuple[tuple[str, V], ...]:
    value = found.get(field)
    if not isinstance(value, dict):
        raise InvalidInput(f"{EVAL_FILE}: {field} must be a JSON object", field=field)
    if len(value) > ENTRIES_MAX:
        raise InvalidInput(f"{EVAL_FILE}: {field} has over {ENTRIES_MAX} entries", field=field)
    for name in value:
        if not _NAME.fullmatch(name):
            raise InvalidInput(
                f"{EVAL_FILE}: {field} key {name[:TEXT_MAX]!r} is not a plain name ([a-z][a-z0-9_]*, "
                "at most 64)",
                field=field,
            )
    return tuple(sorted((name, check(item, f"{field}.{name}")) for name, item in value.items()))


def _scalar(value: object, field: str) -> Scalar:
    if isinstance(value, str):
        if len(value) > TEXT_MAX:
            raise InvalidInput(f"{EVAL_FILE}: {field} is over {TEXT_MAX} characters", field=field)
        return value
    return value if isinstance(value, bool) else _number(value, field)


def _number(value: object, field: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{EVAL_FILE}: {field} must be a number, got {type(value).__name__}", field=field)
    if not (math.isfinite(value) and abs(value) <= NUMBER_MAX):
        raise InvalidInput(f"{EVAL_FILE}: {field} must be finite and at most 2**53 in size", field=field)
    return value


def _tolerance(value: object, field: str) -> float:
    number = float(_number(value, field))
    if number < 0:
        raise InvalidInput(f"{EVAL_FILE}: {field} must be 0 or more, got {number!r}", field=field)
    return number
