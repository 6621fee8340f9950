"""The recipe's checkpoint as the platform finds it while the job runs: under its final name only
once complete (DCP files, then the marker, then the rename), nothing temporary left beside it, and
a step written again replaced whole; the local executor's checkpoint reader hashes exactly it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from pnyx.executors.local_checkpoints import CheckpointCaps, hash_checkpoints
from pnyx.training.checkpoint import CheckpointMeta, newest_checkpoint, save_checkpoint


@pytest.fixture
def group(tmp_path: Path) -> Iterator[None]:
    """A one-rank process group in this process (what torchrun gives each rank)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def _meta(step: int) -> CheckpointMeta:
    return CheckpointMeta(
        step=step, config_hash="c" * 64, dataset="d" * 64, seed=7, world_size=1, config={"seed": 7}
    )


@pytest.mark.usefixtures("group")
def test_a_checkpoint_appears_complete_under_its_name_and_is_replaced_whole(tmp_path: Path) -> None:
    work = tmp_path / "work"
    out = work / "outputs"
    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = save_checkpoint(out, _meta(2), model, optimizer)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002"]
    names = sorted(p.name for p in first.iterdir())
    assert "pnyx-checkpoint.json" in names
    assert ".metadata" in names
    assert not [n for n in names if n.endswith(".tmp")]
    with torch.no_grad():
        model.weight.add_(1.0)
    before = {a.path: a.sha256 for _, files in hash_checkpoints(work, CheckpointCaps(), ()) for a in files}
    again = save_checkpoint(out, _meta(2), model, optimizer)  # the same step, written again
    assert again == first == newest_checkpoint(out)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002"]  # no .old, .partial
    ((step, files),) = hash_checkpoints(work, CheckpointCaps(), ())
    assert step == 2
    assert sorted(a.path.rsplit("/", 1)[1] for a in files) == names
    after = {a.path: a.sha256 for a in files}
    assert after != before  # the new weights, whole
    assert json.loads((again / "pnyx-checkpoint.json").read_text())["step"] == 2
