"""Sample payloads checked against their modality (pure, bytes in): UTF-8 text and code, binary
8-bit PGM images, 16-bit mono PCM WAV audio. Hostile headers (a width of thousands of digits, a WAV
chunk size of 2**32 - 1) are refused as InvalidInput naming the file, never a crash.
"""

from __future__ import annotations

import io
import re
import struct
import wave

from pnyx.core.errors import InvalidInput
from pnyx.registry import rules
from pnyx.registry.model import Modality


def check_payload(modality: Modality, data: bytes, name: str) -> None:
    """A sample's bytes are what its modality says: UTF-8 text, a P5 8-bit PGM, a 16-bit mono WAV."""
    if len(data) > rules.MAX_SAMPLE_BYTES:
        raise InvalidInput(f"{name} is larger than {rules.MAX_SAMPLE_BYTES} bytes", field=name)
    if modality in (Modality.TEXT, Modality.CODE):
        _check_utf8(data, name)
    elif modality is Modality.IMAGE:
        check_pgm(data, name)
    else:
        check_wav(data, name)


def _check_utf8(data: bytes, name: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not UTF-8 text (byte {exc.start})", field=name) from exc


_PGM = re.compile(rb"P5(?:\s|#[^\n]*\n)+(\d{1,9})(?:\s|#[^\n]*\n)+(\d{1,9})(?:\s|#[^\n]*\n)+(\d{1,9})\s")


def check_pgm(data: bytes, name: str) -> tuple[int, int]:
    """(width, height) of a binary 8-bit PGM whose pixel bytes are exactly all there."""
    header = _PGM.match(data)
    if header is None:
        raise InvalidInput(f"{name} is not a binary PGM image (P5 width height maxval)", field=name)
    width, height, maxval = (int(v) for v in header.groups())
    if not (0 < width <= 65535 and 0 < height <= 65535 and 0 < maxval <= 255):
        raise InvalidInput(f"{name}: PGM of {width}x{height}, maxval {maxval}: need 8-bit grey", field=name)
    pixels = len(data) - header.end()
    if pixels != width * height:
        raise InvalidInput(
            f"{name}: PGM of {width}x{height} needs {width * height} pixel bytes, has {pixels}",
            field=name,
        )
    return width, height


def check_wav(data: bytes, name: str) -> tuple[int, int]:
    """(sample rate, frames) of a 16-bit mono PCM WAV whose frames are all there."""
    try:
        with wave.open(io.BytesIO(data), "rb") as audio:
            params = audio.getparams()
            frames = audio.readframes(params.nframes)
    except (wave.Error, EOFError, ValueError, RuntimeError, OverflowError, struct.error) as exc:
        raise InvalidInput(f"{name} is not a WAV file: {rules.shorten(str(exc))}", field=name) from None
    if params.nchannels != 1 or params.sampwidth != 2 or params.comptype != "NONE":
        raise InvalidInput(f"{name}: WAV must be 16-bit mono PCM", field=name)
    if len(frames) != params.nframes * 2 or params.nframes == 0:
        raise InvalidInput(
            f"{name}: WAV declares {params.nframes} frames but holds {len(frames) // 2}", field=name
        )
    return params.framerate, params.nframes
