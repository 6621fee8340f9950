"""What a downloader checks without trusting the server: the registration entry is in a checkpoint
signed by the log's key, it registers this version, and it logs the digest the bytes hash to."""

from __future__ import annotations

import dataclasses

import pytest

from pnyx.core.canonical import canonical_json
from pnyx.core.errors import FacilityError, IntegrityFailure
from pnyx.registry.model_downloads import DownloadProof, check_download, logged_file
from pnyx.transparency import merkle
from pnyx.transparency.checkpoint import Checkpoint
from pnyx.transparency.note import NoteSigner, generate_signer

VERSION = "e" * 64
WEIGHTS = "a" * 64


def _entry(version: str = VERSION, event_type: str = "registry.model.registered") -> bytes:
    data = {"version": version, "files": {"weights": {"sha256": WEIGHTS, "size": 10}}}
    return canonical_json({"type": event_type, "occurred_at": "2026-11-25T09:00:00.000000Z", "data": data})


def _signer(name: str = "test.pnyx.example/log") -> NoteSigner:
    return NoteSigner.from_skey(generate_signer(name)[0])


def _proof(signer: NoteSigner, entry: bytes, index: int = 3, size: int = 6) -> DownloadProof:
    leaves = [merkle.leaf_hash(b"other %d" % i) for i in range(size)]
    leaves[index] = merkle.leaf_hash(entry)
    table = {(level, i): h for level, i, h in merkle.append_nodes([], 0, leaves)}
    reader = merkle.DictNodeReader(table)
    root = merkle.root(reader, size)
    note = signer.sign(Checkpoint(origin=signer.name, size=size, root=root).body())
    return DownloadProof(
        version=VERSION, path="model.safetensors", role="weights", log_index=index, entry=entry,
        tree_size=size, proof=tuple(merkle.inclusion_proof(reader, index, size)), checkpoint=note,
    )  # fmt: skip


def test_a_download_that_matches_its_signed_logged_digest_passes() -> None:
    signer = _signer()
    logged = check_download(_proof(signer, _entry()), WEIGHTS, signer.verifier)
    assert (logged.sha256, logged.size) == (WEIGHTS, 10)


def test_bytes_that_differ_from_the_log_are_named_with_both_digests() -> None:
    signer = _signer()
    with pytest.raises(IntegrityFailure) as refused:
        check_download(_proof(signer, _entry()), "b" * 64, signer.verifier)
    assert refused.value.message == (
        f"model.safetensors of model version {VERSION} hashes to {'b' * 64}, but log entry 3 logs {WEIGHTS}"
    )


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        (lambda p: dataclasses.replace(p, log_index=2), "does not lead to the claimed root"),
        (lambda p: dataclasses.replace(p, entry=_entry("f" * 64)), "does not lead to the claimed root"),
        (lambda p: dataclasses.replace(p, proof=p.proof[:-1]), "too short"),
        (lambda p: dataclasses.replace(p, tree_size=5), "the signed checkpoint is 6 entries"),
        (lambda p: dataclasses.replace(p, checkpoint=_proof(_signer(), _entry()).checkpoint), "no signature"),
    ],
)
def test_a_forged_proof_is_refused(forge: object, message: str) -> None:
    signer = _signer()
    proof = forge(_proof(signer, _entry()))  # type: ignore[operator]
    with pytest.raises(FacilityError, match=message):
        check_download(proof, WEIGHTS, signer.verifier)


def test_an_included_entry_for_another_version_or_type_is_refused() -> None:
    signer = _signer()
    with pytest.raises(IntegrityFailure, match=f"registers version {'f' * 64}, not {VERSION}"):
        check_download(_proof(signer, _entry("f" * 64)), WEIGHTS, signer.verifier)
    with pytest.raises(IntegrityFailure, match="not a model registration"):
        check_download(_proof(signer, _entry(event_type="jobs.outputs.recorded")), WEIGHTS, signer.verifier)
    with pytest.raises(IntegrityFailure, match="logs no card file"):
        logged_file(_entry(), VERSION, "card", "README.md")
