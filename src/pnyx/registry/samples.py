"""Small deterministic multimodal samples for tests and the demo: an import directory with
``sources.json``, text, code, PGM images and WAV audio, made here (nothing is downloaded).

The same ``seed`` and ``per_source`` give byte-identical files, so the same dataset version. One
source (``news``) carries a TDM reservation, so its samples are tombstoned on import, and one text
appears twice, so deduplication has something to do.
"""

from __future__ import annotations

import io
import json
import math
import random
import struct
import wave
from collections.abc import Callable
from pathlib import Path

from pnyx.core.errors import InvalidInput

WORDS = [
    "assembly",
    "council",
    "compute",
    "cluster",
    "treaty",
    "member",
    "state",
    "open",
    "science",
    "model",
    "dataset",
    "shard",
    "licence",
    "provenance",
    "archive",
    "river",
    "mountain",
    "harbour",
    "library",
    "museum",
    "language",
    "weather",
    "orbit",
    "protein",
]

SOURCES = {
    "encyclopedia": {
        "licence": "CC-BY-SA-4.0",
        "origin": "https://encyclopedia.example/",
        "opt_out": ["tdm-reservation=0"],
    },
    "code": {"licence": "Apache-2.0 OR MIT", "origin": "https://git.example/pnyx-demo", "opt_out": []},
    "images": {"licence": "CC0-1.0", "origin": "https://images.example/", "opt_out": []},
    "audio": {"licence": "CC-BY-4.0", "origin": "https://sounds.example/", "opt_out": []},
    "news": {
        "licence": "LicenseRef-news-syndication",
        "origin": "https://news.example/",
        "opt_out": ["tdm-reservation=1"],
    },
}


def write_samples(directory: Path, *, per_source: int = 6, seed: int = 0) -> int:
    """Write the import directory (new, or empty); returns the number of sample files written."""
    if not 1 <= per_source <= 1000:
        raise InvalidInput(f"per_source must be 1..1000, got {per_source}", field="per_source")
    if directory.exists() and any(directory.iterdir()):
        raise InvalidInput(
            f"{directory} is not empty; demo samples go into a new directory", field="directory"
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sources.json").write_text(json.dumps(SOURCES, indent=2, sort_keys=True) + "\n")
    makers: dict[str, tuple[str, Callable[[random.Random, int], bytes]]] = {
        "encyclopedia": ("txt", text),
        "code": ("py", code),
        "images": ("pgm", image),
        "audio": ("wav", audio),
        "news": ("md", text),
    }
    written = 0
    for index, (name, (extension, make)) in enumerate(sorted(makers.items())):
        rng = random.Random(seed * 1000 + index)
        (directory / name).mkdir()
        for i in range(per_source):
            (directory / name / f"{name}-{i:03d}.{extension}").write_bytes(make(rng, i))
            written += 1
    (directory / "encyclopedia" / "duplicate.txt").write_bytes(
        (directory / "encyclopedia" / "encyclopedia-000.txt").read_bytes()
    )
    return written + 1


def text(rng: random.Random, index: int) -> bytes:
    sentences = (
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "." for _ in range(4)
    )
    return f"# Note {index}\n\n{' '.join(sentences)}\n".encode()


def code(rng: random.Random, index: int) -> bytes:
    a, b = rng.randint(1, 99), rng.randint(1, 99)
    return (
        f'"""Demo function {index}."""\n\n\ndef combine_{index}(x: int) -> int:\n    return x * {a} + {b}\n'
    ).encode()


def image(rng: random.Random, index: int, size: int = 16) -> bytes:
    """A binary 8-bit PGM: a gradient with a seeded offset."""
    offset = rng.randint(0, 255)
    pixels = bytes((offset + 16 * x + 8 * y + index) % 256 for y in range(size) for x in range(size))
    return f"P5\n{size} {size}\n255\n".encode() + pixels


def audio(rng: random.Random, index: int, rate: int = 8000, frames: int = 800) -> bytes:
    """A 16-bit mono PCM WAV: a sine tone of a seeded pitch."""
    pitch = 220 + 20 * index + rng.randint(0, 19)
    samples = (int(12000 * math.sin(2 * math.pi * pitch * t / rate)) for t in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()
