"""Member-state request and response bodies."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from pnyx.api.schemas.storable import MAX_INT, Day, Str
from pnyx.governance.model import MemberState


class MemberStateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Str = Field(min_length=2, max_length=2, examples=["DE"])
    name: Str = Field(min_length=1, max_length=200)
    contribution_minor_units: int = Field(ge=0, le=MAX_INT, description="Annual contribution in cents")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    population: int = Field(gt=0, le=MAX_INT)
    joined_on: Day | None = None


class MemberStateOut(BaseModel):
    code: str
    name: str
    contribution_minor_units: int
    currency: str
    population: int
    joined_on: date
    contribution_share: float

    @classmethod
    def of(cls, state: MemberState, share: float) -> MemberStateOut:
        return cls(
            code=state.code,
            name=state.name,
            contribution_minor_units=state.contribution.minor_units,
            currency=state.contribution.currency,
            population=state.population,
            joined_on=state.joined_on,
            contribution_share=share,
        )
