"""The local executor hands the registry one output file of a finished job, never through a symlink
(in the file's name or any directory above it) and only at the size that was recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.executors.local import LocalExecutor
from pnyx.jobs.executor import OutputReader
from pnyx.jobs.model import EngineRef

KEY = "job_x-a0"
REF = EngineRef(engine="local", engine_job_id=KEY)


@pytest.fixture
def executor(tmp_path: Path) -> LocalExecutor:
    executor = LocalExecutor(tmp_path / "jobs")
    out = executor.layout.work(KEY) / "outputs"
    (out / "ckpt").mkdir(parents=True)
    (out / "ckpt" / "a.bin").write_bytes(b"abc")
    (out / "model.safetensors").write_bytes(b"weights")
    return executor


def test_it_reads_a_recorded_output(executor: LocalExecutor) -> None:
    assert isinstance(executor, OutputReader)
    with executor.open_output(REF, "ckpt/a.bin", 3) as f:
        assert f.read() == b"abc"


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "ckpt//a.bin", "", "ckpt/./a.bin"])
def test_it_refuses_a_path_that_is_not_plain(executor: LocalExecutor, path: str) -> None:
    with pytest.raises(InvalidInput):
        executor.open_output(REF, path, 3)


def test_it_refuses_a_symlink_in_the_name_or_a_directory(executor: LocalExecutor, tmp_path: Path) -> None:
    out = executor.layout.work(KEY) / "outputs"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.bin").write_bytes(b"abc")
    os.symlink(elsewhere / "a.bin", out / "link.bin")
    with pytest.raises(InvalidInput, match="symlinks are refused"):
        executor.open_output(REF, "link.bin", 3)
    (out / "ckpt" / "a.bin").unlink()
    (out / "ckpt").rmdir()
    os.symlink(elsewhere, out / "ckpt")  # a parent swapped for a link after the outputs were hashed
    with pytest.raises(InvalidInput, match="cannot open ckpt"):
        executor.open_output(REF, "ckpt/a.bin", 3)


def test_it_refuses_a_file_whose_size_changed_or_that_is_not_regular(executor: LocalExecutor) -> None:
    with pytest.raises(InvalidInput, match="no longer the regular file of 8 bytes"):
        executor.open_output(REF, "model.safetensors", 8)
    os.mkfifo(executor.layout.work(KEY) / "outputs" / "pipe")
    with pytest.raises(InvalidInput, match="no longer the regular file"):
        executor.open_output(REF, "pipe", 0)
    with pytest.raises(InvalidInput, match="No such file"):
        executor.open_output(REF, "missing.bin", 1)
