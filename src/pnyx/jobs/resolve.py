"""A submission's named dataset and model versions as the registry resolves them for the submitter:
not there and not readable answer alike, above the job's level refused, files gone from this server
unavailable (``jobs.inputs`` holds the pure checks)."""

from __future__ import annotations

from collections.abc import Sequence

from pnyx.core.errors import Unavailable
from pnyx.identity.model import Principal
from pnyx.jobs.inputs import DatasetInputs, ModelInputs, check_level, check_versions, unknown
from pnyx.jobs.model import InputKind, JobInput
from pnyx.safety.model import Label


class InputResolver:
    def __init__(self, datasets: DatasetInputs, models: ModelInputs) -> None:
        self.datasets, self.models = datasets, models

    def of(
        self, principal: Principal, datasets: Sequence[str], models: Sequence[str], label: Label
    ) -> tuple[JobInput, ...]:
        """The job's inputs: its dataset versions, then its model versions."""
        return self._inputs(principal, datasets, label) + self._models(principal, models, label)

    def _inputs(self, principal: Principal, versions: Sequence[str], label: Label) -> tuple[JobInput, ...]:
        """Each named version as the registry resolves it for ``principal`` (``jobs.inputs``)."""
        return tuple(self._dataset(principal, version, label) for version in check_versions(versions))

    def _dataset(self, principal: Principal, version: str, label: Label) -> JobInput:
        """Not there and not readable answer alike; above the job's level refused; files gone from
        this server unavailable (nothing is stored in any of these cases)."""
        dataset = self.datasets.resolve(principal, version, label)
        if dataset is None:
            raise unknown(version)
        check_level(label, version, dataset.label)
        if not (dataset.path / "manifest.json").is_file():
            raise Unavailable(
                f"dataset version {version} is registered but its files are missing on this server; "
                "an operator must restore them",
                field="datasets",
                code="dataset_files_missing",
            )
        return JobInput(version=version, path=str(dataset.path), label=dataset.label)

    def _models(self, principal: Principal, versions: Sequence[str], label: Label) -> tuple[JobInput, ...]:
        """Each named model version as the registry resolves it, as datasets are (``_dataset``)."""
        return tuple(self._model(principal, v, label) for v in check_versions(versions, InputKind.MODEL))

    def _model(self, principal: Principal, version: str, label: Label) -> JobInput:
        model = self.models.resolve(principal, version, label)
        if model is None:
            raise unknown(version, InputKind.MODEL)
        check_level(label, version, model.label, InputKind.MODEL)
        return JobInput(version=version, path=str(model.path), label=model.label, kind=InputKind.MODEL)
