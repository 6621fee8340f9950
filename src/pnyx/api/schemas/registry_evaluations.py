"""Evaluation result bodies. A result carries the exact canonical bytes the facility signed
(``canonical``: RFC 8785 JSON, UTF-8) and the signed note over them and a newline (``signature``):
anyone checks it with the log's public key (``GET /log/key``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from pnyx.registry.evaluation import Number, Scalar
from pnyx.registry.evaluation_checks import Comparison, MetricGap
from pnyx.registry.evaluation_records import StoredResult
from pnyx.registry.evaluation_reproduce import Reproduction


class EvaluationOut(BaseModel):
    id: str
    job_id: str
    attempt: int
    model: str
    weights_sha256: str
    eval_set: str
    harness_digest: str
    config: dict[str, Scalar]
    config_hash: str
    metrics: dict[str, Number]
    tolerance: dict[str, float]
    created_at: datetime
    canonical: str = Field(description="The canonical bytes the facility signed (RFC 8785 JSON)")
    signature: str = Field(description="The signed note over canonical + newline, by the log's key")

    @classmethod
    def of(cls, s: StoredResult) -> EvaluationOut:
        r = s.parsed
        return cls(
            id=s.id, job_id=s.job_id, attempt=s.attempt, model=r.model, weights_sha256=r.weights_sha256,
            eval_set=r.eval_set, harness_digest=r.harness_digest, config=dict(r.config),
            config_hash=r.config_hash, metrics=dict(r.metrics), tolerance=dict(r.tolerance),
            created_at=s.created_at, canonical=s.result.decode("utf-8"), signature=s.signature,
        )  # fmt: skip


class MetricGapOut(BaseModel):
    name: str
    published: Number | None
    reproduced: Number | None
    tolerance: float
    difference: float | None

    @classmethod
    def of(cls, g: MetricGap) -> MetricGapOut:
        return cls(name=g.name, published=g.published, reproduced=g.reproduced, tolerance=g.tolerance,
                   difference=g.difference)  # fmt: skip


class ComparisonOut(BaseModel):
    a: str  # the published result
    b: str  # the one compared with it
    agree: bool = Field(description="b agrees with a within a's declared tolerance, pins equal")
    differences: list[str]
    metrics: list[MetricGapOut] = Field(description="Each metric outside the tolerance")

    @classmethod
    def of(cls, a: str, b: str, c: Comparison) -> ComparisonOut:
        metrics = [MetricGapOut.of(g) for g in c.metrics]
        return cls(a=a, b=b, agree=c.agree, differences=list(c.differences), metrics=metrics)


class ReproductionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str | None = Field(
        default=None, max_length=80,
        description="The project the job runs in: one you belong to (an operator keeps one for auditors)",
    )  # fmt: skip


class ReproductionOut(BaseModel):
    result_id: str
    job_id: str
    status: str  # the job's
    reproduced: str | None = Field(default=None, description="The reproduction's own result, once taken in")
    refusal: str | None = Field(default=None, description="Why its pnyx-eval.json was refused")
    comparison: ComparisonOut | None = None

    @classmethod
    def of(cls, r: Reproduction) -> ReproductionOut:
        reproduced = None if r.reproduced is None else r.reproduced.id
        compared = (
            None if r.comparison is None or reproduced is None
            else ComparisonOut.of(r.published.id, reproduced, r.comparison)
        )  # fmt: skip
        return cls(result_id=r.published.id, job_id=r.job.id, status=r.job.status.value,
                   reproduced=reproduced, refusal=r.refusal, comparison=compared)  # fmt: skip
