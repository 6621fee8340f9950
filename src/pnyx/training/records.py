"""The run's line records in the output directory (written by rank 0 only).

``data-order.jsonl``: one ``pnyx.registry.order.order_line`` per (step, rank), in step then rank
order. ``metrics.jsonl``: one line per step, ``{"step", "loss", "tokens", "tokens_per_s", "mfu",
"seconds"}``. Both are appended and flushed every step; on resume both are cut back to the
checkpoint's step (written to a temporary name, then renamed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from pnyx.core.errors import InvalidInput
from pnyx.registry.order import parse_line

ORDER_FILE = "data-order.jsonl"
METRICS_FILE = "metrics.jsonl"
RECORD_MAX_BYTES = 256 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class StepMetrics:
    step: int
    loss: float
    tokens: int  # positions processed by all ranks in the step
    tokens_per_s: float
    mfu: float
    seconds: float

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


class RecordWriter:
    """Appends each step's order lines and metrics line, flushed before the next step."""

    def __init__(self, out: Path) -> None:
        self._order: IO[str] = (out / ORDER_FILE).open("a", encoding="utf-8")
        self._metrics: IO[str] = (out / METRICS_FILE).open("a", encoding="utf-8")

    def write(self, order_lines: list[str], metrics: StepMetrics) -> None:
        self._order.write("".join(line + "\n" for line in order_lines))
        self._order.flush()
        self._metrics.write(metrics.line() + "\n")
        self._metrics.flush()

    def close(self) -> None:
        self._order.close()
        self._metrics.close()


def truncate_records(out: Path, step: int, world_size: int) -> None:
    """Keep the lines of steps before ``step``: ``step * world_size`` order lines, ``step`` metrics."""
    _truncate(out / ORDER_FILE, lambda line, n: parse_line(line, n)[0] < step, step * world_size)
    _truncate(out / METRICS_FILE, lambda line, n: _metrics_step(line, n) < step, step)


def read_metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _lines(out / METRICS_FILE)]


def _truncate(path: Path, before: Callable[[str, int], bool], expected: int) -> None:
    kept = [line for number, line in enumerate(_lines(path), start=1) if before(line, number)]
    if len(kept) != expected:
        raise InvalidInput(
            f"cannot resume: {path.name} holds {len(kept)} lines before the checkpoint, expected {expected}",
            field="resume",
        )
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    os.replace(partial, path)


def _lines(path: Path) -> list[str]:
    if not path.is_file() or path.stat().st_size > RECORD_MAX_BYTES:
        raise InvalidInput(f"{path.name} is missing or over {RECORD_MAX_BYTES} bytes", field="resume")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _metrics_step(line: str, number: int) -> int:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(f"metrics line {number} is not a record: {exc}", field="resume") from exc
