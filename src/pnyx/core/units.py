"""Units as types: no bare floats for money or accelerator-hours."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pnyx.core.errors import InvalidInput


@dataclass(frozen=True, slots=True, order=True)
class AcceleratorHours:
    value: Decimal

    def __post_init__(self) -> None:
        if self.value < 0:
            raise InvalidInput(
                f"accelerator-hours cannot be negative; got {self.value}", field="accelerator_hours"
            )

    def __add__(self, other: AcceleratorHours) -> AcceleratorHours:
        return AcceleratorHours(self.value + other.value)

    def __str__(self) -> str:
        return f"{self.value} accelerator-hours"


@dataclass(frozen=True, slots=True, order=True)
class Money:
    """An amount in a currency's minor units (cents), to avoid float rounding."""

    minor_units: int
    currency: str = "EUR"

    def __str__(self) -> str:
        return f"{self.minor_units / 100:,.2f} {self.currency}"
