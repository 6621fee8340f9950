"""Payloads to positions: text and code bytes, PGM patches, WAV frames (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from pnyx.core.errors import InvalidInput
from pnyx.registry.model import Modality
from pnyx.training.config import AUDIO, BOS, EOS, IMAGE, PAD, TrainConfig
from pnyx.training.samples import encode, pgm_patches, pgm_pixels, wav_frames
from tests.training.conftest import pgm, wav

CONFIG = TrainConfig(seq_len=8, patch=2, frame=4)


def test_text_is_bos_bytes_eos_then_padding() -> None:
    row = encode(Modality.TEXT, b"hi!", CONFIG, "s")
    assert row.tokens.tolist() == [BOS, ord("h"), ord("i"), ord("!"), EOS, PAD, PAD, PAD, PAD]
    assert not row.image.any()
    assert not row.audio.any()


def test_long_code_is_cut_and_loses_its_eos() -> None:
    row = encode(Modality.CODE, bytes(range(65, 91)), CONFIG, "s")
    assert row.tokens.tolist() == [BOS, *range(65, 73)]


def test_image_patches_in_raster_order_scaled_to_one() -> None:
    pixels = bytes(range(16))  # 4 x 4
    patches = pgm_patches(pgm(4, 4, pixels, maxval=15), 2, 10, "s")
    assert patches.shape == (4, 4)
    assert (patches * 15).round().astype(int).tolist() == [
        [0, 1, 4, 5],
        [2, 3, 6, 7],
        [8, 9, 12, 13],
        [10, 11, 14, 15],
    ]


def test_image_edges_are_padded_with_zero() -> None:
    patches = pgm_patches(pgm(3, 1, b"\xff\xff\xff"), 2, 10, "s")
    assert patches.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0]]


def test_an_image_row_has_image_positions_carrying_pixels() -> None:
    row = encode(Modality.IMAGE, pgm(4, 2, bytes(8 * [255])), CONFIG, "s")
    assert row.tokens.tolist() == [BOS, IMAGE, IMAGE, EOS, PAD, PAD, PAD, PAD, PAD]
    assert row.image[1:3].tolist() == [[1.0] * 4] * 2
    assert not row.image[0].any()
    assert not row.image[3:].any()


def test_pgm_header_comments_are_read() -> None:
    data = b"P5 # made by hand\n2 # wide\n1\n255\n\x00\x80"
    assert pgm_pixels(data, "s").tolist() == [[0.0, float(np.float32(128) / np.float32(255))]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"P2\n2 1\n255\n0 1", "not a binary PGM"),
        (b"P5\n2 2\n255\n\x00", "raster is 1 bytes"),
        (b"P5\n1 1\n999\n\x00\x00", "not 8-bit grey"),
        (b"P5\n0 1\n255\n", "not 8-bit grey"),
        (b"P5\n5000 5000\n255\n", "not 8-bit grey"),
        (b"", "not a binary PGM"),
    ],
)
def test_bad_images_are_refused_by_name(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        pgm_pixels(data, "sample-7")
    assert "sample-7" in caught.value.message


def test_audio_frames_are_scaled_and_the_last_one_padded() -> None:
    frames = wav_frames(wav([16384, -32768, 0, 1, 8192]), 4, 10, "s")
    assert frames.tolist() == [[0.5, -1.0, 0.0, 1 / 32768], [0.25, 0.0, 0.0, 0.0]]


def test_an_audio_row_has_audio_positions_up_to_what_fits() -> None:
    row = encode(Modality.AUDIO, wav([1000] * 100), CONFIG, "s")
    assert row.tokens.tolist() == [BOS, *[AUDIO] * 8]
    assert np.allclose(row.audio[1:], 1000 / 32768)
    assert not row.audio[0].any()


def test_bad_audio_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a PCM WAV"):
        wav_frames(b"RIFF....nonsense", 4, 10, "s")
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00" * 16)
    with pytest.raises(InvalidInput, match="2 channels of 2 bytes, not 16-bit mono"):
        wav_frames(buffer.getvalue(), 4, 10, "s")
