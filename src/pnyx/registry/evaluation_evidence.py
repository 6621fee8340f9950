"""The evidence a release of a model version's file needs for each evaluation its level requires
(safety's ``EvaluationEvidence``, through ``adapters.RegistryEvaluations``).

An evaluation named ``N`` counts for model version ``V`` when a stored result is of ``V``'s weights
as they are, its facility signature verifies with the log's key, its evaluation set is a version of
the dataset named ``N``, and it passes (``evaluation_checks.passes``). A result of another version
never counts. ``licence-provenance`` is answered by the version's lineage instead: every dataset
version it was trained on is in the registry with the licence of each of its sources (recorded and
checked when the version was taken in); it is a registry check, not a measurement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pnyx.db.unit_of_work import UnitOfWork
from pnyx.registry.evaluation_checks import passes
from pnyx.registry.evaluation_records import StoredResult, note_text
from pnyx.registry.evaluation_store import EvaluationRepository
from pnyx.registry.lineage_model import FileRole
from pnyx.registry.lineage_store import ModelRepository
from pnyx.registry.store import DatasetRepository
from pnyx.transparency.note import NoteError, NoteSigner, open_note

LINEAGE = "licence-provenance"
RESULTS_READ = 500


class ReleaseEvidence:
    def __init__(self, uow: UnitOfWork, signer: NoteSigner | None) -> None:
        """``signer``: the log's key, whose signature each result must carry."""
        self.uow, self.signer = uow, signer

    def missing(self, version: str, name: str) -> str | None:
        """Why nothing shows that version ``version`` passed evaluation ``name``; None when a result does."""
        if name == LINEAGE:
            return self._lineage(version)
        with self.uow.read() as conn:
            model = ModelRepository(conn).get(version)
            stored = EvaluationRepository(conn).of_model(version, RESULTS_READ)
            sets = _set_names(DatasetRepository(conn), {s.parsed.eval_set for s in stored})
        weights = None if model is None else model.role(FileRole.WEIGHTS).sha256
        if any(self._counts(s, weights, sets, name) for s in stored):
            return None
        return (
            f"no stored, signed, passing result of evaluation {name} for model version {version} (an "
            f"evaluation job given the version, on a version of the dataset named {name})"
        )

    def _counts(self, stored: StoredResult, weights: str | None, sets: Mapping[str, str], name: str) -> bool:
        result = stored.parsed
        pinned = result.weights_sha256 == weights and sets.get(result.eval_set) == name
        return pinned and passes(result) and self._signed(stored)

    def _signed(self, stored: StoredResult) -> bool:
        if self.signer is None:
            return False
        try:
            text, _ = open_note(stored.signature, [self.signer.verifier])
        except NoteError:
            return False
        return text == note_text(stored.parsed)

    def _lineage(self, version: str) -> str | None:
        with self.uow.read() as conn:
            model = ModelRepository(conn).get(version)
            datasets = [] if model is None else [DatasetRepository(conn).version(d) for d in model.datasets]
        if model is None:
            return f"no model version {version}"
        for d, found in zip(model.datasets, datasets, strict=True):
            if found is None or not found.sources or not all(s.licence for s in found.sources):
                return f"{LINEAGE}: dataset version {d} of model version {version} has no recorded licences"
        return None


def _set_names(repo: DatasetRepository, versions: Iterable[str]) -> dict[str, str]:
    found = {v: repo.version(v) for v in versions}
    return {v: d.dataset for v, d in found.items() if d is not None}
