"""The proposal form: one documented JSON shape for the API body and ``pnyx proposal create FILE``.

```json
{"title": "...", "abstract": "...", "keywords": ["llm", "multilingual"],
 "applicant_type": "researcher", "institution": "PI's institution",
 "team": [{"name": "Grace Hopper", "institution": "...", "user": "grace", "role": "co-investigator"}],
 "requested_hours": {"H100": 40000},
 "technical": {"scaling_evidence": "...", "checkpointing": "...", "data_management": "..."},
 "safety": {"planned_training_flop": 3e23, "general_purpose": true, "dual_use_data": false,
            "open_weights_planned": true, "dangerous_capabilities_notes": ""},
 "suggested_reviewers": ["user-name"]}
```
The PI is the caller; ``team`` lists everyone else. User names are resolved by the edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pnyx.allocation.model import (
    ApplicantType,
    ProposalContent,
    SafetySelfAssessment,
    TeamMember,
    TechnicalSection,
)
from pnyx.core.errors import InvalidInput
from pnyx.core.ids import UserId
from pnyx.core.units import AcceleratorHours


def user_names(data: Mapping[str, Any]) -> set[str]:
    """The user names a form mentions (team members and suggested reviewers)."""
    team = {str(m["user"]) for m in data.get("team", []) if isinstance(m, Mapping) and m.get("user")}
    return team | {str(n) for n in data.get("suggested_reviewers", [])}


def proposal_content(
    data: Mapping[str, Any], *, pi_name: str, pi_id: UserId, user_ids: Mapping[str, UserId]
) -> ProposalContent:
    try:
        return _content(data, pi_name=pi_name, pi_id=pi_id, user_ids=user_ids)
    except KeyError as missing:
        raise InvalidInput(f"the proposal form lacks {missing}", field=str(missing).strip("'")) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise InvalidInput(f"the proposal form is malformed: {exc}", field="proposal") from None


def _content(
    data: Mapping[str, Any], *, pi_name: str, pi_id: UserId, user_ids: Mapping[str, UserId]
) -> ProposalContent:
    pi = TeamMember(name=pi_name, institution=str(data["institution"]), user_id=pi_id, role="pi")
    team = [
        TeamMember(
            name=str(m["name"]),
            institution=str(m["institution"]),
            user_id=user_ids[m["user"]] if m.get("user") else None,
            role=str(m.get("role", "member")),
        )
        for m in data.get("team", [])
    ]
    if any(m.role == "pi" for m in team):
        raise InvalidInput("the PI is the submitter; list the other members in the team", field="team")
    technical, safety = data["technical"], data["safety"]
    flop = Decimal(str(safety["planned_training_flop"]))
    if flop != flop.to_integral_value():
        raise InvalidInput("planned_training_flop is a whole number", field="safety.planned_training_flop")
    return ProposalContent(
        title=str(data["title"]),
        abstract=str(data["abstract"]),
        keywords=frozenset(str(k).strip().lower() for k in data.get("keywords", []) if str(k).strip()),
        applicant_type=ApplicantType(data["applicant_type"]),
        team=(pi, *team),
        requested={str(k): _hours(v, k) for k, v in dict(data["requested_hours"]).items()},
        technical=TechnicalSection(
            scaling_evidence=str(technical["scaling_evidence"]),
            checkpointing=str(technical["checkpointing"]),
            data_management=str(technical["data_management"]),
        ),
        safety=SafetySelfAssessment(
            planned_training_flop=int(flop),
            general_purpose=bool(safety["general_purpose"]),
            dual_use_data=bool(safety["dual_use_data"]),
            open_weights_planned=bool(safety["open_weights_planned"]),
            dangerous_capabilities_notes=str(safety.get("dangerous_capabilities_notes", "")),
        ),
        suggested_reviewers=frozenset(user_ids[n] for n in data.get("suggested_reviewers", [])),
    )


def _hours(value: Any, kind: str) -> AcceleratorHours:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:  # not a number at all ("ten"): said of the field, as any other bad amount
        amount = Decimal("NaN")
    if not amount.is_finite() or amount <= 0 or amount != amount.to_integral_value():
        raise InvalidInput(
            f"requested hours for {kind} must be a whole number above zero; got {value}",
            field=f"requested_hours.{kind}",
        )
    return AcceleratorHours(amount)
