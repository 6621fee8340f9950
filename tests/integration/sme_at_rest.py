"""The operator's side of the SME end-to-end test: what is at rest (every row of every table, every
file of the data directory and the job root), what was logged and printed, and a base model version
registered by the real model registry."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch

from pnyx.executors.local import LocalExecutor
from pnyx.training.config import RUN_LENGTH_FIELDS, TrainConfig
from pnyx.training.network import Decoder
from pnyx.training.provenance import write_weights
from pnyx.wiring import Platform
from tests.unit.registry.lineage_outputs import finished_job, import_dataset, outputs, run_for

OWN_FIELDS = RUN_LENGTH_FIELDS | {"seed", "batch_size"}  # the registry test run's own (lineage_outputs)


class Logs:
    """Everything logged (any logger, any level) and printed (this process's stdout and stderr, and
    its children's) while the test runs."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.found: list[str] = []

    def text(self) -> bytes:
        out, err = self.capfd.readouterr()
        self.found.extend((out, err))
        return "\n".join(self.found).encode()


class Collect(logging.Handler):
    def __init__(self, found: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.found = found
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(self.format(record))


def register_base(platform: Platform, project: str, member: str, tmp_path: Path) -> str:
    """A model version of ``project`` (``member`` is of its team), registered by the real model
    registry from a finished job's outputs whose weights are a real, freshly initialised network."""
    fields = {k: v for k, v in asdict(TrainConfig()).items() if k not in OWN_FIELDS}
    run = run_for(import_dataset(platform, tmp_path / "import"), config=fields)
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.manual_seed(0)
    write_weights(weights, Decoder(TrainConfig(**run.full_config)).state_dict())
    files = outputs(run) | {"model.safetensors": (weights / "model.safetensors").read_bytes()}
    executor = platform.executors["local"]
    assert isinstance(executor, LocalExecutor)
    job = finished_job(platform, executor, files, job_id="job_base01", project=project)
    assert platform.models.intake(job) is None
    [intake] = platform.models.intakes(platform.identity.principal_of(member), job.id)
    assert intake.version is not None, intake
    platform.log.drain()  # the registry serves a version's files once the log vouches for them
    return intake.version


def at_rest(platform: Platform, job_root: Path) -> dict[str, bytes]:
    """What an operator reads at rest: every row of every table, every file of the data directory
    and the job root, and the SQLite database's own files."""
    rows: list[bytes] = []
    tables = sa.MetaData()
    tables.reflect(bind=platform.engine)
    with platform.engine.connect() as conn:
        for table in tables.sorted_tables:
            for row in conn.execute(sa.select(table)):
                rows.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    files = [platform.settings.data_dir, job_root]
    url = platform.settings.database_url
    if url.startswith("sqlite:///"):
        files += [Path(url.removeprefix("sqlite:///") + suffix) for suffix in ("", "-wal", "-journal")]
    return {"the database": b"\n".join(rows), "the disk": b"\0".join(read_all(files))}


def read_all(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for found in candidates:
            if found.is_file() and not found.is_symlink():
                yield found.read_bytes()
