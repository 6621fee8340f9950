"""Pure signing rules for releases: officers' Ed25519 keys (decoding, key ids, weak keys refused),
the text an approval signs, signature checks, and how public entries name an artifact.

No I/O. Used by the release service, ``verify`` (offline checks from the log) and the CLI's signer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pnyx.core.errors import InvalidInput
from pnyx.safety.model import Label, Release

ED25519_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
APPROVAL_HEADER = "pnyx-release-approval v1"

# --- signatures ----------------------------------------------------------------------------------


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def decode_public_key(public_key_b64: str) -> bytes:
    """The raw 32-byte Ed25519 key from its base64; a clear error naming the field otherwise."""
    try:
        raw = _b64decode(public_key_b64)
        Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise InvalidInput(
            "a public key is the base64 of a raw 32-byte Ed25519 key", field="public_key"
        ) from None
    return raw


def key_id(public_key: bytes) -> str:
    """The first 16 hex digits of SHA-256 of the raw 32-byte key."""
    if len(public_key) != ED25519_KEY_BYTES:
        raise InvalidInput("an Ed25519 public key is 32 raw bytes", field="public_key")
    return hashlib.sha256(public_key).hexdigest()[:16]


def approval_message(release: Release) -> bytes:
    """The canonical text an approver signs: it binds the release, the artifact (by its job and
    opaque reference, ``public_artifact``), the content and both labels.

    The text is published (the approval's log entry, ``GET .../message``), so it names the artifact
    the way public entries do, never by its path: anyone rebuilds it from the request's log entry
    (``approval_text``). The path is still bound: the release id names the stored request, the
    reference is a hash of the artifact id, and the content is bound by its full SHA-256."""
    job, ref = public_artifact(release.artifact)
    return approval_text(release.id, job, ref, release.sha256, release.from_label, release.to_label)


def verify_signature(public_key_b64: str, message: bytes, signature_b64: str) -> bool:
    """True when the Ed25519 signature over ``message`` verifies; False for anything malformed."""
    if not strong_public_key(public_key_b64):  # a small-order key "verifies" a universal signature
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(_b64decode(public_key_b64))
        signature = _b64decode(signature_b64)
        if len(signature) != ED25519_SIGNATURE_BYTES:
            return False
        key.verify(signature, message)
    except (InvalidSignature, ValueError, UnicodeEncodeError, binascii.Error):
        return False
    return True


# --- the release gate ----------------------------------------------------------------------------


# --- weak Ed25519 keys ---------------------------------------------------------------------------
# An approval binds its release only if the approver's key has the group's large prime order. A
# small-order key (8·A is the identity: the identity itself, the point of order 2, those of order 4
# and 8) verifies a fixed "universal" signature over every message, so such keys are refused, as are
# encodings that are not canonical (y >= p, or x = 0 with its sign bit set) or not a curve point.

_P = 2**255 - 19  # the field of edwards25519: -x^2 + y^2 = 1 + d x^2 y^2 (RFC 8032, 5.1)
_D = -121665 * pow(121666, -1, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)  # a square root of -1
EdwardsPoint = tuple[int, int]  # affine (x, y)


def edwards_point(raw: bytes) -> EdwardsPoint | None:
    """The curve point a 32-byte Ed25519 key encodes (RFC 8032, 5.1.3); None when it is not 32
    bytes, not canonical (y >= p, or x = 0 with the sign bit set) or not on the curve."""
    if len(raw) != ED25519_KEY_BYTES:
        return None
    encoded = int.from_bytes(raw, "little")
    sign, y = encoded >> 255, encoded & ((1 << 255) - 1)
    if y >= _P:
        return None
    x = _recover_x(y)
    if x is None or (x == 0 and sign == 1):
        return None
    return (_P - x if x & 1 != sign else x), y


def _recover_x(y: int) -> int | None:
    """A root x of x^2 = (y^2 - 1) / (d y^2 + 1) mod p, or None when there is none."""
    u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
    x2 = u * pow(v, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    return x if (x * x - x2) % _P == 0 else None


def _doubled(point: EdwardsPoint) -> EdwardsPoint:
    """2·P with the complete affine addition law of the curve (its denominators never vanish)."""
    x, y = point
    t = _D * x * x * y * y % _P
    return (2 * x * y * pow(1 + t, _P - 2, _P) % _P, (y * y + x * x) * pow(1 - t, _P - 2, _P) % _P)


def small_order_key(raw: bytes) -> bool:
    """True when ``raw`` decodes to a point of small order: 8·P is the identity (0, 1). A key that
    does not decode is not a point at all (``edwards_point``): False here, refused there."""
    point = edwards_point(raw)
    if point is None:
        return False
    for _ in range(3):
        point = _doubled(point)
    return point == (0, 1)


def check_public_key(raw: bytes) -> None:
    """Refuse, naming ``public_key``, a key that is not a canonical curve point or has small order."""
    if edwards_point(raw) is None:
        raise InvalidInput(
            "a public key is the canonical encoding of an Ed25519 curve point", field="public_key"
        )
    if small_order_key(raw):
        raise InvalidInput(
            "this public key has small order: it would verify one signature over every message",
            field="public_key",
            code="weak_key",
        )


def strong_public_key(public_key_b64: str) -> bool:
    """The key decodes (base64 of 32 bytes) to a canonical point of large order; never raises."""
    try:
        raw = _b64decode(public_key_b64)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        return False
    return edwards_point(raw) is not None and not small_order_key(raw)


# --- artifacts in public -------------------------------------------------------------------------


def public_artifact(artifact_id: str) -> tuple[str, str]:
    """How public events and pages name an artifact that is not released: its job id and an opaque
    reference, the first 16 hex digits of SHA-256 of ``"pnyx-artifact-ref\\n" + artifact_id``.

    This hides names from casual readers, not from someone who can guess the exact path and hash it;
    salted commitments for SME data come with the SME issue. Only a released record names the path."""
    job = artifact_id.partition("/")[0]
    return job, hashlib.sha256(f"pnyx-artifact-ref\n{artifact_id}".encode()).hexdigest()[:16]


def approval_text(
    release_id: str, job: str, artifact_ref: str, sha256: str, from_label: Label, to_label: Label
) -> bytes:
    """``approval_message`` from the facts a release's request entry publishes."""
    return (
        f"{APPROVAL_HEADER}\n"
        f"release {release_id}\n"
        f"job {job}\n"
        f"artifact-ref {artifact_ref}\n"
        f"sha256 {sha256}\n"
        f"from {from_label}\n"
        f"to {to_label}\n"
    ).encode()
