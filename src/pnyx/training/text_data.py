"""Fine-tuning text: a directory of plain ``.txt`` files (as an SME's workspace files appear to its job).

Every regular file directly in the directory whose name ends in ``.txt`` is read, in name order
(byte order of the names); other names are left alone (a workspace may hold other files), a
symlink or anything but a regular file under a ``.txt`` name is refused. Each file is cut into
chunks of ``seq_len`` bytes, and each chunk is one row as the recipe makes a text sample
(``samples.encode``: ``BOS``, the bytes, then ``EOS`` only after a file's last chunk, as it fits).
The chunks are put in an order drawn once from ``seed``; step ``s`` reads the ``batch_size`` chunks
after the first ``s * batch_size`` of that order, round and round.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pnyx.core.errors import InvalidInput
from pnyx.registry.model import Modality
from pnyx.training.config import TrainConfig
from pnyx.training.data import Batch, collate
from pnyx.training.model_files import read_regular
from pnyx.training.samples import Row, encode

TEXT_SUFFIX = ".txt"
FILE_MAX_BYTES = 64 << 20
TOTAL_MAX_BYTES = 1 << 30
FILES_MAX = 100_000


@dataclass(frozen=True, slots=True)
class TextFile:
    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_texts(directory: Path) -> tuple[TextFile, ...]:
    """The ``.txt`` files of ``directory``, by name; refused when there is no text to learn from."""
    names = _text_names(directory)
    files = tuple(TextFile(name, _read(directory / name)) for name in names)
    if sum(len(f.data) for f in files) > TOTAL_MAX_BYTES:
        raise InvalidInput(f"--data {directory} holds over {TOTAL_MAX_BYTES} bytes of text", field="data")
    if not any(f.data for f in files):
        raise InvalidInput(f"--data {directory}: every {TEXT_SUFFIX} file is empty", field="data")
    return files


class TextBatches:
    """The batches of one fine-tuning run over ``files`` (rows are made when a batch is asked for)."""

    def __init__(self, files: tuple[TextFile, ...], config: TrainConfig, batch_size: int, seed: int) -> None:
        self.files, self.config, self.batch_size = files, config, batch_size
        self.chunks = [(i, at) for i, f in enumerate(files) for at in range(0, len(f.data), config.seq_len)]
        self.order = np.random.default_rng(seed).permutation(len(self.chunks))

    def batch(self, step: int) -> Batch:
        first = step * self.batch_size
        picked = [int(self.order[(first + k) % len(self.order)]) for k in range(self.batch_size)]
        return collate([self._row(p) for p in picked])

    def _row(self, chunk: int) -> Row:
        index, at = self.chunks[chunk]
        text, end = self.files[index], at + self.config.seq_len
        return encode(Modality.TEXT, text.data[at:end], self.config, f"{text.name} at byte {at}")


def _text_names(directory: Path) -> list[str]:
    if directory.is_symlink() or not directory.is_dir():
        raise InvalidInput(f"--data {directory} is not a directory", field="data")
    names = sorted((p.name for p in directory.iterdir() if p.name.endswith(TEXT_SUFFIX)), key=str.encode)
    if not names:
        raise InvalidInput(f"--data {directory} holds no {TEXT_SUFFIX} files", field="data")
    if len(names) > FILES_MAX:
        raise InvalidInput(f"--data {directory} holds over {FILES_MAX} {TEXT_SUFFIX} files", field="data")
    return names


def _read(path: Path) -> bytes:
    return read_regular(path, FILE_MAX_BYTES, f"--data file {path.name}", field="data")
