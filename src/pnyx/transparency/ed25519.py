"""Ed25519 (RFC 8032) for signed notes and cosignatures: the one seam between them and a library.

Every Pnyx installation has the ``cryptography`` package (a dependency): it derives public keys, signs
and verifies. The standalone auditor (``pnyx audit bundle``) carries no third-party code, so there
``cryptography`` is not importable: ``verify`` is then ``ed25519_verify.verify`` (pure Python, the
same contract, verification only) and signing raises ``SigningUnavailable``.
"""

from __future__ import annotations

from importlib.util import find_spec

from pnyx.core.errors import Unavailable
from pnyx.transparency import ed25519_verify

LIBRARY = find_spec("cryptography") is not None

if LIBRARY:  # optional in pnyx.audit.bundle: only where it is installed
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SigningUnavailable(Unavailable):
    """Signing asked of a verifier-only build (the standalone auditor has no ``cryptography``)."""

    code = "ed25519_signing_unavailable"


def library_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message``, by ``cryptography``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


verify = library_verify if LIBRARY else ed25519_verify.verify


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte seed (RFC 8032 private key)."""
    return _private(seed).public_key().public_bytes_raw()


def sign(seed: bytes, message: bytes) -> bytes:
    return _private(seed).sign(message)


def new_seed() -> bytes:
    _need_library()
    return Ed25519PrivateKey.generate().private_bytes_raw()


def _private(seed: bytes) -> Ed25519PrivateKey:
    _need_library()
    return Ed25519PrivateKey.from_private_bytes(seed)


def _need_library() -> None:
    if not LIBRARY:
        raise SigningUnavailable("Ed25519 signing needs the cryptography package; this build only verifies")
