"""Ed25519 signature verification in pure Python (RFC 8032 §5.1.7): verification only, stdlib only.

Used where the ``cryptography`` package is not importable: the standalone auditor (``pnyx audit
bundle``) carries no third-party code. It answers exactly as ``cryptography`` (OpenSSL) does: the
public key A must decode (§5.1.3, y < p, x recoverable, no negative zero); S must be below the group
order L; and the cofactorless equation holds, [S]B - [k]A encoding to the R bytes given (the RFC
permits it in place of the cofactored one). Not constant time: it handles public data only.
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)  # a square root of -1 mod p

Point = tuple[int, int, int, int]  # extended homogeneous coordinates (X, Y, Z, T), x = X/Z, y = Y/Z

IDENTITY: Point = (0, 1, 1, 0)


def _add(a: Point, b: Point) -> Point:
    """Point addition (RFC 8032 §5.1.4, the unified formula for a = -1)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1, e2 = (y1 - x1) * (y2 - x2) % P, (y1 + x1) * (y2 + x2) % P
    c, dd = 2 * t1 * t2 * D % P, 2 * z1 * z2 % P
    e, f, g, h = e2 - e1, dd - c, dd + c, e2 + e1
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _multiply(scalar: int, point: Point) -> Point:
    result = IDENTITY
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point, scalar = _add(point, point), scalar >> 1
    return result


def _recover_x(y: int, sign: int) -> int | None:
    """x from y and the sign bit (RFC 8032 §5.1.3); None when no point has that y and sign."""
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if (v * x * x - u) % P != 0:
        x = x * SQRT_M1 % P
    if (v * x * x - u) % P != 0 or (x == 0 and sign == 1):
        return None
    return P - x if x & 1 != sign else x


def decode_point(data: bytes) -> Point | None:
    """A 32-byte point encoding as a point; None when it encodes none (§5.1.3)."""
    if len(data) != 32:
        return None
    value = int.from_bytes(data, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    x = _recover_x(y, sign) if y < P else None
    return None if x is None else (x, y, 1, x * y % P)


def encode_point(point: Point) -> bytes:
    x, y, z, _t = point
    inverse = pow(z, P - 2, P)
    x, y = x * inverse % P, y * inverse % P
    return (y | (x & 1) << 255).to_bytes(32, "little")


BASE_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
BASE_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960  # 4/5
BASE: Point = (BASE_X, BASE_Y, 1, BASE_X * BASE_Y % P)


def _negate(point: Point) -> Point:
    x, y, z, t = point
    return (P - x, y, z, P - t)


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is an Ed25519 signature of ``message`` by ``public_key`` (RFC 8032)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = decode_point(public_key)
    s = int.from_bytes(signature[32:], "little")
    if a is None or s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    return encode_point(_add(_multiply(s, BASE), _negate(_multiply(k, a)))) == signature[:32]
