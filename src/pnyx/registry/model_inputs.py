"""A model version as a job's input: who may name it, and its directory (``<root>/models/<version>/``).

A job reads a version its submitter may read: a public one (weights, card and data order released to
the public label), or one the submitter's clearance in its project covers (staff at L1, as for
datasets); at a level whose data only jobs read, one the submitter's clearance dominates, provided
the job's own label dominates the version's (as ``readers.check_job_label`` for datasets). Any other
version, and one that does not exist, get the same NotFound. The directory holds the version's files
under their paths, each a hard link to its blob, made once and atomically (``blobs.link_tree``); a
blob that is gone is Unavailable, naming the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

from pnyx.core.errors import IntegrityFailure, InvalidInput, NotFound, Unavailable
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.identity.model import Principal
from pnyx.jobs.clearance import is_staff
from pnyx.registry.blobs import BlobStore, link_tree
from pnyx.registry.lineage_model import ModelVersion
from pnyx.registry.lineage_ports import Clearances
from pnyx.registry.lineage_rules import HEX64
from pnyx.registry.lineage_store import ModelRepository
from pnyx.safety import rules as safety
from pnyx.safety.model import Label, Readers, SafetyLevel, SafetyPolicy


class ModelInputs:
    """Model versions as the inputs of jobs: the readers' check, then the version's directory."""

    def __init__(
        self,
        uow: UnitOfWork,
        blobs: BlobStore,
        members: Clearances,
        policy: SafetyPolicy,
        public: Callable[[ModelVersion], bool],
    ) -> None:
        """``public``: whether a version's files are all released to the public label."""
        self.uow, self.blobs, self.members, self.policy, self.public = uow, blobs, members, policy, public
        self.root = blobs.root / "models"

    def job_input(self, principal: Principal, version: str, job: Label) -> tuple[Path, Label]:
        """The version's directory and label, for a job ``principal`` submits under ``job``."""
        model = self._readable(principal, version)
        self._check_job_label(version, job, model.label)
        return self.materialise(model), model.label

    def materialise(self, model: ModelVersion) -> Path:
        """``<root>/models/<version>/``: the version's files under their paths (made once)."""
        target = self.root / model.version
        if not target.is_dir():
            for f in model.files:
                self._stored(model.version, f.path, f.sha256)
        return link_tree(self.blobs, target, {f.path: f.sha256 for f in model.files})

    def _readable(self, principal: Principal, version: str) -> ModelVersion:
        model = self._model(version) if HEX64.fullmatch(version) else None
        if model is None or not (self._cleared(principal, model) or self.public(model)):
            raise NotFound(
                f"no model version {version!r} that your jobs may read",
                field="version",
                code="model_version_not_found",
            )
        return model

    def _model(self, version: str) -> ModelVersion | None:
        with self.uow.read() as conn:
            return ModelRepository(conn).get(version)

    def _cleared(self, principal: Principal, model: ModelVersion) -> bool:
        """Its project's members by their clearance, staff at L1, a job reading for either."""
        if not principal.authenticated:
            return False
        held = self.members.member_clearance(principal, model.project)
        if held is None and is_staff(principal):
            held = Label(level=SafetyLevel.L1, categories=model.label.categories)
        return held is not None and safety.may_read(held, model.label, self.policy, human=False)

    def _check_job_label(self, version: str, job: Label, label: Label) -> None:
        """At a level only jobs read, the job runs under a label that dominates the version's."""
        if self.policy.of(label.level).readers is not Readers.JOBS_ONLY or safety.dominates(job, label):
            return
        raise InvalidInput(
            f"model version {version} is labelled {label}, a level whose data only jobs read: a job "
            f"reading it runs under a label that dominates it; this one runs under {job} (ask for "
            f"label {int(label.level)} in the project the model belongs to)",
            field="version",
            code="model_above_job_label",
        )

    def _stored(self, version: str, path: str, sha256: str) -> None:
        """A path that would leave the directory, or a blob that is gone, is the server's fault."""
        parts = PurePosixPath(path).parts
        if not parts or PurePosixPath(path).is_absolute() or any(p in ("", ".", "..") for p in parts):
            raise IntegrityFailure(
                f"model version {version} records a file path {path!r} that is not a plain relative path",
                field="version",
                code="model_file_path_invalid",
            )
        if not self.blobs.has(sha256):
            raise Unavailable(
                f"model version {version} is registered, but its file {path} (SHA-256 {sha256}) is "
                "missing from this server's blob store; an operator must restore it",
                field="version",
                code="model_files_missing",
            )
