"""The line records (cut back on resume), the model card's summary and code digest, the job log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.registry.order import SampleRange, order_line
from pnyx.training.progress import LogLines, display_for, step_line
from pnyx.training.provenance import code_digest, code_files, summary
from pnyx.training.records import RecordWriter, StepMetrics, read_metrics, truncate_records


def metrics(step: int, loss: float = 1.5) -> StepMetrics:
    return StepMetrics(step=step, loss=loss, tokens=100, tokens_per_s=50.0, mfu=0.25, seconds=2.0)


def write_steps(out: Path, steps: int) -> None:
    writer = RecordWriter(out)
    for step in range(steps):
        writer.write([order_line(step, r, [SampleRange(0, step, step + 1)]) for r in range(2)], metrics(step))
    writer.close()


def test_records_are_cut_back_to_a_step(tmp_path: Path) -> None:
    write_steps(tmp_path, 5)
    truncate_records(tmp_path, 3, world_size=2)
    assert [m["step"] for m in read_metrics(tmp_path)] == [0, 1, 2]
    lines = (tmp_path / "data-order.jsonl").read_text().splitlines()
    assert lines == [order_line(s, r, [SampleRange(0, s, s + 1)]) for s in range(3) for r in range(2)]
    assert not list(tmp_path.glob("*.partial"))


def test_records_missing_lines_before_the_checkpoint_are_refused(tmp_path: Path) -> None:
    write_steps(tmp_path, 2)
    with pytest.raises(
        InvalidInput, match=r"data-order\.jsonl holds 4 lines before the checkpoint, expected 6"
    ):
        truncate_records(tmp_path, 3, world_size=2)


def test_metrics_lines_keep_the_float_exactly(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path)
    writer.write([], metrics(0, loss=0.1 + 0.2))
    writer.close()
    assert read_metrics(tmp_path)[0]["loss"] == 0.1 + 0.2


def test_summary_weighs_by_time() -> None:
    found = summary(
        [
            {"loss": 3.0, "tokens": 100, "seconds": 1.0, "mfu": 0.1},
            {"loss": 2.0, "tokens": 100, "seconds": 3.0, "mfu": 0.3},
        ]
    )
    assert found == {"loss": 2.0, "tokens_per_s": 50.0, "mfu": pytest.approx(0.25)}


def test_code_digest_is_sha256sum_of_the_recipe_sources() -> None:
    files = code_files()
    names = [name for name, _ in files]
    assert names == sorted(names)
    assert "pnyx/registry/order.py" in names
    assert "pnyx/training/run.py" in names
    assert all(name.startswith(("pnyx/training/", "pnyx/registry/order.py")) for name in names)
    lines = "".join(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {name}\n" for name, path in files)
    assert code_digest() == hashlib.sha256(lines.encode()).hexdigest()


def test_the_job_log_has_one_plain_line_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    display = display_for(rank=0, steps=10, done=0)
    assert isinstance(display, LogLines)  # stdout is captured: not a terminal
    display.step(metrics(2), 10)
    display_for(rank=1, steps=10, done=0).step(metrics(2), 10)
    assert capsys.readouterr().out == step_line(metrics(2), 10) + "\n"
    assert step_line(metrics(2), 10) == "step 3/10 loss 1.5000 tokens/s 50 mfu 25.00% (2.000 s)"
