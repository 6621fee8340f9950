"""The safetensors header, checked with the standard library (pure; no torch, no safetensors).

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON, then the data
buffer. The header maps tensor names to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets
into the data buffer) plus an optional ``"__metadata__"`` of strings. The format's own rules are
checked: known dtypes, a byte length equal to the shape's elements times the dtype's size, and the
tensors covering the buffer exactly, without holes or overlaps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.registry.lineage_model import WeightsSummary

PREFIX_BYTES = 8
MAX_HEADER_BYTES = 16 * 1024 * 1024
MAX_TENSORS = 1_000_000
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
TENSOR_KEYS = frozenset({"dtype", "shape", "data_offsets"})
METADATA = "__metadata__"


def header_length(prefix: bytes, file_size: int) -> int:
    """N from the first 8 bytes; refused unless the header fits the file and the cap."""
    if len(prefix) < PREFIX_BYTES or file_size < PREFIX_BYTES:
        raise _bad("the file is shorter than the 8-byte header length")
    length = int.from_bytes(prefix[:PREFIX_BYTES], "little")
    if length > MAX_HEADER_BYTES or PREFIX_BYTES + length > file_size:
        raise _bad(f"its header length {length} does not fit the file ({file_size} bytes, header cap "
                   f"{MAX_HEADER_BYTES})")  # fmt: skip
    return length


def summarize(header: bytes, data_bytes: int) -> WeightsSummary:
    """Check a header against a data buffer of ``data_bytes`` bytes; what it holds."""
    if not header.startswith(b"{"):
        raise _bad("its header does not start with '{'")
    try:
        found = json.loads(header.decode("utf-8"), object_pairs_hook=_unique)
    except (ValueError, RecursionError) as exc:
        raise _bad(f"its header is not JSON: {str(exc)[:120]}") from None
    if not isinstance(found, dict):
        raise _bad("its header is not a JSON object")
    _check_metadata(found.pop(METADATA, {}))
    if len(found) > MAX_TENSORS:
        raise _bad(f"it holds more than {MAX_TENSORS} tensors")
    spans = sorted(_tensor(name, value) for name, value in found.items())
    _check_cover(spans, data_bytes)
    dtypes = tuple(sorted({found[name]["dtype"] for name in found}))
    parameters = sum(math.prod(found[name]["shape"]) for name in found)
    return WeightsSummary(tensors=len(found), parameters=parameters, dtypes=dtypes)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a key appears twice in one object")
    return found


def _check_metadata(metadata: object) -> None:
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad(f"its {METADATA} must map names to strings")


def _tensor(name: str, value: object) -> tuple[int, int, str]:
    """(begin, end, name) of a well-formed tensor entry."""
    if not isinstance(value, Mapping) or set(value) != TENSOR_KEYS:
        raise _bad(f"tensor {name[:80]!r} must have exactly dtype, shape and data_offsets")
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise _bad(f"tensor {name[:80]!r} has an unknown dtype {str(dtype)[:20]!r}")
    if not isinstance(shape, list) or not all(_natural(d) for d in shape) or len(shape) > 16:
        raise _bad(f"tensor {name[:80]!r} has a shape that is not a list of sizes")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_natural(o) for o in offsets):
        raise _bad(f"tensor {name[:80]!r} has data_offsets that are not [begin, end]")
    begin, end = offsets
    if end < begin or end - begin != math.prod(shape) * DTYPE_BYTES[dtype]:
        raise _bad(f"tensor {name[:80]!r}: its offsets span {end - begin} bytes, its shape and dtype "
                   f"{math.prod(shape) * DTYPE_BYTES[dtype]}")  # fmt: skip
    return begin, end, name


def _natural(value: object) -> bool:
    return type(value) is int and 0 <= value < 2**62


def _check_cover(spans: list[tuple[int, int, str]], data_bytes: int) -> None:
    """The tensors cover ``[0, data_bytes)`` exactly: no hole, no overlap, nothing after."""
    position = 0
    for begin, end, name in spans:
        if begin != position:
            raise _bad(f"tensor {name[:80]!r} starts at {begin}, not at {position}: a hole or an overlap")
        position = end
    if position != data_bytes:
        raise _bad(f"the tensors cover {position} bytes of a {data_bytes}-byte data buffer")


def _bad(why: str) -> InvalidInput:
    return InvalidInput(f"the weights are not a valid safetensors file: {why}", field="weights")
