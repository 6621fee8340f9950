"""Who may vote on a question, and how: the electorate entries and the three ballot choices."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pnyx.core.errors import InvalidInput


class Choice(StrEnum):
    YES = "yes"
    NO = "no"
    ABSTAIN = "abstain"


def parse_choice(value: object, *, field: str = "choice") -> Choice:
    try:
        return Choice(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(f"a ballot is yes, no or abstain; got {value!r}", field=field) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Elector:
    """One member state as the tally sees it, fixed when the vote opens.

    ``contribution`` is the state's contribution for the budget year (cash + in-kind, minor units):
    its weight under contribution-weighted rules and the yardstick for its ``arrears``.
    """

    code: str
    contribution: int
    population: int
    arrears: int = 0
    suspended: bool = False

    def data(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "contribution": self.contribution,
            "population": self.population,
            "arrears": self.arrears,
            "suspended": self.suspended,
        }


def parse_elector(data: Any, at: str) -> Elector:
    if not isinstance(data, dict):
        raise InvalidInput("a member is an object", field=at)
    allowed = {"code", "contribution", "population", "arrears", "suspended"}
    for key in data:
        if key not in allowed:
            raise InvalidInput(
                f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}", field=f"{at}.{key}"
            )
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise InvalidInput("a member needs a code", field=f"{at}.code")
    suspended = data.get("suspended", False)
    if not isinstance(suspended, bool):
        raise InvalidInput(f"expected true or false; got {suspended!r}", field=f"{at}.suspended")
    return Elector(
        code=code,
        contribution=_amount(data.get("contribution", 0), f"{at}.contribution"),
        population=_amount(data.get("population", 0), f"{at}.population"),
        arrears=_amount(data.get("arrears", 0), f"{at}.arrears"),
        suspended=suspended,
    )


def _amount(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"expected a whole number >= 0; got {value!r}", field=at)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class BallotsFile:
    """The documented ballots file: the electorate as fixed at the opening, and each state's ballot."""

    decision_type: str | None
    members: tuple[Elector, ...]
    ballots: dict[str, Choice]


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def parse_ballots_text(text: str) -> BallotsFile:
    """A ballots file's JSON text; a key twice in one object (a state voting twice) is refused."""
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except DuplicateKey as dup:
        raise InvalidInput(
            f"the ballots file names {dup.key!r} twice in one object; each state appears once",
            field="ballots_file",
        ) from None
    except (ValueError, RecursionError) as exc:  # also a number of more than 4300 digits
        raise InvalidInput(f"the ballots file is not valid JSON: {exc}", field="ballots_file") from None
    return parse_ballots_file(data)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def parse_ballots_file(data: Any) -> BallotsFile:
    if not isinstance(data, dict):
        raise InvalidInput("a ballots file is a JSON object", field="ballots_file")
    allowed = {"motion_id", "decision_type", "members", "ballots"}
    for key in data:
        if key not in allowed:
            raise InvalidInput(f"unknown field {key!r}; allowed: {', '.join(sorted(allowed))}", field=key)
    decision_type = data.get("decision_type")
    if decision_type is not None and not isinstance(decision_type, str):
        raise InvalidInput("decision_type is text", field="decision_type")
    members = data.get("members")
    if not isinstance(members, list) or not members:
        raise InvalidInput("members is a non-empty list of member states", field="members")
    electors = tuple(parse_elector(m, f"members[{i}]") for i, m in enumerate(members))
    codes = [e.code for e in electors]
    if len(set(codes)) != len(codes):
        raise InvalidInput("a member state is listed twice", field="members")
    ballots = data.get("ballots", {})
    if not isinstance(ballots, dict):
        raise InvalidInput("ballots maps member-state codes to yes, no or abstain", field="ballots")
    return BallotsFile(
        decision_type=decision_type,
        members=electors,
        ballots={str(k): parse_choice(v, field=f"ballots.{k}") for k, v in ballots.items()},
    )
