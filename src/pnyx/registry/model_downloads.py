"""What a download of a model version's file is checked against (pure: data in, a verdict out).

The version's registration entry in the public log (``registry.model.registered``) carries each
file's SHA-256 by role. The server compares its stored blob with it before serving
(``logged_file``); a downloader checks, without trusting the server, that the entry is included in a
checkpoint signed by the log's key and that the bytes it received hash to the digest the entry
gives (``check_download``). The file's role, which picks the digest, is never the server's word: the
downloader takes it from the version's manifest, itself checked first as the ``manifest`` role
(``lineage_rules.role_of``). Any mismatch is an ``IntegrityFailure`` that names the file and both
digests, or the proof step that failed.
"""

from __future__ import annotations

import base64
import hmac
import json
from dataclasses import dataclass
from typing import Any

from pnyx.core.errors import IntegrityFailure
from pnyx.registry.lineage_events import ModelVersionRegistered
from pnyx.transparency.checkpoint import parse_checkpoint
from pnyx.transparency.merkle import leaf_hash
from pnyx.transparency.note import NoteVerifier, open_note
from pnyx.transparency.verification import verify_inclusion


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedDigest:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadProof:
    """What the API gives beside a file: its version's registration entry and the proof that the
    entry is in the log, up to a signed checkpoint."""

    version: str
    path: str
    role: str
    log_index: int
    entry: bytes  # the entry's exact bytes (its Merkle leaf)
    tree_size: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note, as served at /log/checkpoint


def parse_proof(found: object) -> DownloadProof:
    """A proof as the API serves it (JSON: the entry in base64, hashes in hex), checked for shape."""
    try:
        if not isinstance(found, dict):
            raise TypeError("not a JSON object")
        proof = DownloadProof(
            version=str(found["version"]), path=str(found["path"]), role=str(found["role"]),
            log_index=_count(found["log_index"]), entry=base64.b64decode(found["entry"], validate=True),
            tree_size=_count(found["tree_size"]), proof=tuple(bytes.fromhex(h) for h in found["proof"]),
            checkpoint=str(found["checkpoint"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityFailure(f"the server's proof is malformed: {str(exc)[:120]}", field="proof") from None
    return proof


def _count(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{value!r} is not a count")
    return value


def logged_file(entry: bytes, version: str, role: str, path: str) -> LoggedDigest:
    """The digest and size the registration entry gives the file of ``role`` of ``version``."""
    found = _entry(entry, path)
    data = found.get("data")
    if found.get("type") != ModelVersionRegistered.event_type or not isinstance(data, dict):
        raise IntegrityFailure(f"{path}: the log entry given is not a model registration", field="entry")
    if data.get("version") != version:
        raise IntegrityFailure(
            f"{path}: the log entry given registers version {str(data.get('version'))[:64]}, not {version}",
            field="entry",
        )
    logged = data.get("files", {}).get(role) if isinstance(data.get("files"), dict) else None
    if not isinstance(logged, dict) or not isinstance(logged.get("sha256"), str):
        raise IntegrityFailure(f"{path}: the registration entry logs no {role} file", field="entry")
    return LoggedDigest(sha256=logged["sha256"], size=int(logged.get("size", -1)))


def _entry(entry: bytes, path: str) -> dict[str, Any]:
    try:
        found = json.loads(entry)
    except ValueError:
        raise IntegrityFailure(f"{path}: the log entry given is not JSON", field="entry") from None
    if not isinstance(found, dict):
        raise IntegrityFailure(f"{path}: the log entry given is not a JSON object", field="entry")
    return found


def check_digest(path: str, version: str, found: str, logged: str, where: str) -> None:
    """The bytes' digest against the logged one, naming the file and both digests."""
    if not hmac.compare_digest(found, logged):
        raise IntegrityFailure(
            f"{path} of model version {version} hashes to {found}, but {where} logs {logged}",
            field="file",
            code="digest_mismatch",
        )


def check_download(proof: DownloadProof, found_sha256: str, verifier: NoteVerifier) -> LoggedDigest:
    """A downloaded file's digest against its signed, logged registration (raises on any mismatch)."""
    body, _names = open_note(proof.checkpoint, [verifier])  # raises on a bad or missing signature
    checkpoint = parse_checkpoint(body)
    if checkpoint.origin != verifier.name or checkpoint.size != proof.tree_size:
        raise IntegrityFailure(
            f"{proof.path}: the proof is for a tree of {proof.tree_size} entries of "
            f"{verifier.name!r}, the signed checkpoint is {checkpoint.size} entries of {checkpoint.origin!r}",
            field="checkpoint",
        )
    verify_inclusion(
        leaf_hash(proof.entry), proof.log_index, proof.tree_size, list(proof.proof), checkpoint.root
    )
    logged = logged_file(proof.entry, proof.version, proof.role, proof.path)
    check_digest(proof.path, proof.version, found_sha256, logged.sha256, f"log entry {proof.log_index}")
    return logged
