"""Stored evaluation results and their public log entries (pure records).

A result is stored as the canonical bytes the facility signed (``evaluation.signing_text``) with the
signed note over them (``transparency.note``: the text is those bytes and a newline), so anyone
checks it with the log's public key (``/log/key``). Its log entry carries the pins and the metrics
(at most ``evaluation.ENTRIES_MAX`` numbers, well under an entry's 65,535 bytes), never a path.
A refusal's entry carries its stable error code, not its message (which may quote the job's file).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from pnyx.core.events import DomainEvent
from pnyx.registry.evaluation import EvalResult, parse_result, signing_text

ID_PREFIX = "eval_"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredResult:
    """One job attempt's evaluation result, as signed by the facility and stored."""

    id: str
    job_id: str
    attempt: int
    result: bytes  # ``signing_text``: the canonical bytes that were signed
    signature: str  # the signed note over ``result`` and a newline
    created_at: datetime

    @property
    def parsed(self) -> EvalResult:
        return parse_result(self.result)


def result_id(job_id: str, attempt: int, result: EvalResult) -> str:
    """A result's id: the job attempt and the signed bytes, hashed."""
    digest = hashlib.sha256(f"{job_id}\n{attempt}\n".encode() + signing_text(result)).hexdigest()
    return ID_PREFIX + digest[:32]


def note_text(result: EvalResult) -> str:
    """The text of the signed note: the canonical bytes and a newline (a note's text ends in one)."""
    return signing_text(result).decode("utf-8") + "\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationRecorded(DomainEvent):
    """A finished job's ``pnyx-eval.json`` was checked, signed by the facility and stored."""

    event_type = "registry.evaluation.recorded"
    result_id: str
    job_id: str
    attempt: int
    model_version: str
    weights_sha256: str
    eval_set: str
    harness_digest: str
    config_hash: str
    metrics: dict[str, int | float]


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluationRefused(DomainEvent):
    """A finished job's ``pnyx-eval.json`` failed a check: nothing stored."""

    event_type = "registry.evaluation.refused"
    job_id: str
    attempt: int
    code: str


def recorded(stored: StoredResult, result: EvalResult) -> EvaluationRecorded:
    return EvaluationRecorded(
        result_id=stored.id, job_id=stored.job_id, attempt=stored.attempt, model_version=result.model,
        weights_sha256=result.weights_sha256, eval_set=result.eval_set,
        harness_digest=result.harness_digest, config_hash=result.config_hash, metrics=dict(result.metrics),
    )  # fmt: skip
