"""What the dataset service asks of other domains: small Protocols that ``wiring`` fills in. Nothing
in this module does I/O.

- ``ProjectClearance``: a project's label as its members hold it (``adapters.ProjectMembers``
  answers it from the jobs side's membership and the project's safety classification);
- ``TrainedOn``: the model versions trained on shards of a dataset version (the lineage store
  answers it; ``NoModels`` stands in where no lineage is recorded yet).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pnyx.identity.model import Principal
from pnyx.safety.model import Label


class ProjectClearance(Protocol):
    def member_clearance(self, principal: Principal, project_id: str) -> Label | None:
        """The label ``principal`` holds as a member of the project (the project's label with its
        ``project:<id>`` compartment); None for anyone else and for an unknown project."""
        ...


class TrainedOn(Protocol):
    def models_trained_on(self, version: str, shards: Sequence[int]) -> list[str]:
        """Model versions whose recorded data order read any of ``shards`` of dataset ``version``."""
        ...


class NoModels:
    """No lineage recorded: no model was trained on anything."""

    def models_trained_on(self, version: str, shards: Sequence[int]) -> list[str]:
        return []
