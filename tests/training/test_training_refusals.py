"""Bad input through the real entry point: a clear one-line error naming what is wrong, a non-zero
exit, and no model written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.training.conftest import torchrun

pytestmark = pytest.mark.slow


def test_a_shard_that_differs_from_the_manifest_is_refused_by_name(dataset: Path, tmp_path: Path) -> None:
    shard = dataset / "shard-000001.tar"
    data = bytearray(shard.read_bytes())
    data[1536 + 3] ^= 0xFF  # a byte of the first payload (after two 512-byte headers and the json): same size
    shard.write_bytes(bytes(data))
    out = tmp_path / "out"

    done = torchrun("--data", dataset, "--out", out, "--steps", "2")

    assert done.returncode != 0
    assert "error: shard shard-000001.tar does not match the manifest" in done.stderr
    assert not (out / "model.safetensors").exists()
    assert not (out / "pnyx-model.json").exists()
    assert not out.exists()


def test_a_resume_from_another_configuration_is_refused_naming_the_field(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert torchrun("--data", dataset, "--out", out, "--steps", "2").returncode == 0
    card = (out / "pnyx-model.json").read_bytes()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"d_model": 32}))

    wider = torchrun("--data", dataset, "--out", out, "--steps", "4", "--resume", "--config", other)
    assert wider.returncode != 0
    assert (
        "cannot resume from step-000002: it was made with d_model = 64, this run has d_model = 32"
        in wider.stderr
    )

    alone = torchrun("--data", dataset, "--out", out, "--steps", "4", "--resume", ranks=1)
    assert alone.returncode != 0
    assert "it was made with world_size = 2, this run has world_size = 1" in alone.stderr
    assert (out / "pnyx-model.json").read_bytes() == card
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_resume_without_a_checkpoint_is_refused(dataset: Path, tmp_path: Path) -> None:
    done = torchrun("--data", dataset, "--out", tmp_path / "empty", "--resume", ranks=1)
    assert done.returncode != 0
    assert "--resume: no checkpoint in" in done.stderr
