"""One sample's payload as the model's positions (pure: bytes in, arrays out; deterministic).

A row has ``seq_len + 1`` positions: ``BOS``, the body, ``EOS``, then ``PAD`` (the body is cut when
it does not fit, and then ``EOS`` with it). Text and code: one position per byte. An image (binary
PGM, 8-bit): one ``IMAGE`` position per ``patch x patch`` patch, in raster order, its pixels scaled
to [0, 1] (the edges padded with 0). Audio (16-bit mono PCM WAV): one ``AUDIO`` position per
``frame`` samples, scaled to [-1, 1) (the last frame padded with 0). Only what fits is decoded.
"""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pnyx.core.errors import InvalidInput
from pnyx.registry.model import Modality
from pnyx.training.config import AUDIO, BOS, EOS, IMAGE, PAD, TrainConfig

PIXELS_MAX = 1 << 24  # 4096 x 4096
_SEP = rb"(?:\s|#[^\n]*\n)+"
_PGM = re.compile(rb"P5" + _SEP + rb"(\d{1,6})" + _SEP + rb"(\d{1,6})" + _SEP + rb"(\d{1,3})\s")
_PGM_HEADER_MAX = 1024

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Row:
    tokens: Ints  # [seq_len + 1]
    image: Floats  # [seq_len + 1, patch * patch]: pixels at IMAGE positions, 0 elsewhere
    audio: Floats  # [seq_len + 1, frame]: samples at AUDIO positions, 0 elsewhere


def encode(modality: Modality, payload: bytes, config: TrainConfig, name: str) -> Row:
    """The row of one sample; ``name`` says which sample in errors."""
    length = config.seq_len + 1
    room = length - 1
    image = np.zeros((length, config.patch * config.patch), np.float32)
    audio = np.zeros((length, config.frame), np.float32)
    if modality is Modality.IMAGE:
        body = _place(image, pgm_patches(payload, config.patch, room, name), IMAGE)
    elif modality is Modality.AUDIO:
        body = _place(audio, wav_frames(payload, config.frame, room, name), AUDIO)
    else:
        body = np.frombuffer(payload[:room], np.uint8).astype(np.int64)
    return Row(tokens=_framed(body, length), image=image, audio=audio)


def pgm_patches(payload: bytes, patch: int, limit: int, name: str) -> Floats:
    """The first ``limit`` patches of a P5 image, each flattened row by row: [n, patch * patch]."""
    pixels = pgm_pixels(payload, name)
    rows, cols = -(-pixels.shape[0] // patch), -(-pixels.shape[1] // patch)
    padded = np.zeros((rows * patch, cols * patch), np.float32)
    padded[: pixels.shape[0], : pixels.shape[1]] = pixels
    grid = padded.reshape(rows, patch, cols, patch).transpose(0, 2, 1, 3)
    return grid.reshape(rows * cols, patch * patch)[:limit]


def pgm_pixels(payload: bytes, name: str) -> Floats:
    """A binary 8-bit PGM's pixels scaled to [0, 1]: [height, width]."""
    header = _PGM.match(payload[:_PGM_HEADER_MAX])
    if header is None:
        raise InvalidInput(f"sample {name} is not a binary PGM (P5) image", field="sample")
    width, height, maxval = (int(g) for g in header.groups())
    if not (0 < width * height <= PIXELS_MAX and 0 < maxval < 256):
        raise InvalidInput(
            f"sample {name}: a {width}x{height} PGM of maxval {maxval} is not 8-bit grey "
            f"of 1..{PIXELS_MAX} pixels",
            field="sample",
        )
    raster = payload[header.end() :]
    if len(raster) != width * height:
        raise InvalidInput(
            f"sample {name}: PGM raster is {len(raster)} bytes, not {width}x{height}", field="sample"
        )
    pixels = np.frombuffer(raster, np.uint8).reshape(height, width)
    return (pixels.astype(np.float32) / np.float32(maxval)).astype(np.float32)


def wav_frames(payload: bytes, frame: int, limit: int, name: str) -> Floats:
    """The first ``limit`` frames of a 16-bit mono PCM WAV: [n, frame]."""
    try:
        with wave.open(io.BytesIO(payload), "rb") as reader:
            shape = (reader.getnchannels(), reader.getsampwidth())
            raw = reader.readframes(limit * frame) if shape == (1, 2) else b""
    except (wave.Error, EOFError) as exc:
        raise InvalidInput(f"sample {name} is not a PCM WAV file: {exc}", field="sample") from exc
    if shape != (1, 2):
        raise InvalidInput(
            f"sample {name}: WAV has {shape[0]} channels of {shape[1]} bytes, not 16-bit mono", field="sample"
        )
    samples = np.frombuffer(raw[: len(raw) // 2 * 2], "<i2").astype(np.float32) / np.float32(32768)
    count = -(-samples.size // frame)
    padded = np.zeros(count * frame, np.float32)
    padded[: samples.size] = samples
    return padded.reshape(count, frame)


def _place(features: Floats, values: Floats, token: int) -> Ints:
    """Put ``values`` after ``BOS`` (as many as fit); the body is one ``token`` per value."""
    count = min(len(values), features.shape[0] - 1)
    features[1 : 1 + count] = values[:count]
    return np.full(count, token, np.int64)


def _framed(body: Ints, length: int) -> Ints:
    tokens = np.full(length, PAD, np.int64)
    framed = np.concatenate([[BOS], body, [EOS]])[:length]
    tokens[: framed.size] = framed
    return tokens
