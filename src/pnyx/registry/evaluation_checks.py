"""What is checked of evaluation results (pure, stdlib and ``pnyx.core`` only): two results compared
metric by metric, the job that reproduces a result, and whether a result passes.

A comparison agrees when ``evaluation.compare`` finds no difference; it also lists each metric outside
the published tolerance with both values, the difference and the tolerance. A reproduction runs the
harness (``python -m pnyx.training.evaluate``) on the result's model version and evaluation set, both
job inputs (``/inputs/<version>``), with the weights pinned and the result's config given inline;
the config entries the harness derives (``model_config_hash``, from the model's card) are not given.
A result passes unless it says otherwise: a ``passed`` metric, when there is one, must be 1 (a harness
that judges its own thresholds writes 1 or 0); the numbers of one without it are for the release's
approvers to judge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pnyx.registry.evaluation import EvalResult, Number, compare

HARNESS = ("python", "-m", "pnyx.training.evaluate")
DERIVED = frozenset({"model_config_hash"})  # config the harness computes, never takes
PASSED = "passed"  # a result's own verdict, when its harness gives one: 1 passed, 0 failed


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricGap:
    """A metric the reproduction does not match within the published tolerance."""

    name: str
    published: Number | None  # None: only the reproduction has it
    reproduced: Number | None  # None: the reproduction lacks it
    tolerance: float

    @property
    def difference(self) -> float | None:
        if self.published is None or self.reproduced is None:
            return None
        return abs(self.published - self.reproduced)


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    agree: bool
    differences: tuple[str, ...]  # ``evaluation.compare``'s lines: pins, config, then metrics
    metrics: tuple[MetricGap, ...]


def comparison(published: EvalResult, reproduced: EvalResult) -> Comparison:
    lines = tuple(compare(published, reproduced))
    return Comparison(agree=not lines, differences=lines, metrics=metric_gaps(published, reproduced))


def metric_gaps(published: EvalResult, reproduced: EvalResult) -> tuple[MetricGap, ...]:
    ours, theirs = dict(published.metrics), dict(reproduced.metrics)
    gaps = [
        MetricGap(name=name, published=ours.get(name), reproduced=theirs.get(name),
                  tolerance=published.allowed(name))
        for name in sorted(set(ours) | set(theirs))
    ]  # fmt: skip
    return tuple(g for g in gaps if g.difference is None or g.difference > g.tolerance)


def harness_command(result: EvalResult) -> tuple[str, ...]:
    """The reproduction job's command, run in its directory (inputs under ``inputs/``)."""
    given = {name: value for name, value in result.config if name not in DERIVED}
    return (
        *HARNESS,
        "--model", f"inputs/{result.model}", "--data", f"inputs/{result.eval_set}", "--out", "outputs",
        "--weights-sha256", result.weights_sha256, "--model-version", result.model,
        "--config-json", json.dumps(given, sort_keys=True, separators=(",", ":")),
    )  # fmt: skip


def passes(result: EvalResult) -> bool:
    verdict = result.metric(PASSED)
    return verdict is None or verdict == 1
