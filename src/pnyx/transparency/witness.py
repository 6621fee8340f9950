"""A witness (c2sp.org/tlog-witness): its key file, its per-origin state files, add-checkpoint.

The witness cosigns a log's checkpoint only when it is consistent with the last one it cosigned
for that origin, and records the new one before answering. One request at a time per origin:
the check and the write happen under that origin's lock, and the state file is replaced
atomically (written beside, fsynced, renamed, directory fsynced), so a crash leaves the old state
or the new one and the recorded size never goes back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pnyx.core.errors import Conflict, IntegrityFailure, Unavailable
from pnyx.db.files import PRIVATE_DIR, PRIVATE_FILE, check_private
from pnyx.transparency.cosignature import Cosigner, generate_cosigner
from pnyx.transparency.note import NoteVerifier
from pnyx.transparency.witness_rules import (
    SIZE_CONTENT_TYPE,
    Accepted,
    Decision,
    MalformedRequest,
    WitnessedState,
    decide,
    format_size,
    parse_request,
)

log = logging.getLogger("pnyx.witness")


# --- the key file -------------------------------------------------------------------------------------


def _write_atomically(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` with ``text``: written beside it, fsynced, renamed, the directory fsynced."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def create_witness_key(path: Path, name: str) -> Cosigner:
    """A new witness key at ``path`` (0600); an existing one is never replaced."""
    if path.exists():
        raise Conflict(f"a witness key already exists at {path}; refusing to replace it", code="key_exists")
    cosigner = generate_cosigner(name)
    path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _write_atomically(path, cosigner.skey + "\n", PRIVATE_FILE)
    return cosigner


def load_cosigner(path: Path) -> Cosigner:
    if not path.exists():
        raise Unavailable(
            f"no witness key at {path}: create one with `pnyx witness keygen`", code="witness_key"
        )
    check_private(path, "the witness key")
    return Cosigner.from_skey(path.read_text())


# --- the state ----------------------------------------------------------------------------------------


class StateFiles:
    """One JSON file per origin under a directory: ``{"origin", "size", "root"}``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)

    def _path(self, origin: str) -> Path:
        return self.directory / f"{hashlib.sha256(origin.encode()).hexdigest()[:32]}.json"

    def read(self, origin: str) -> WitnessedState | None:
        path = self._path(origin)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        if data.get("origin") != origin:
            raise IntegrityFailure(f"state file {path} is not for {origin!r}", code="witness_state")
        return WitnessedState(size=int(data["size"]), root=base64.b64decode(data["root"]))

    def write(self, origin: str, state: WitnessedState) -> None:
        record = {"origin": origin, "size": state.size, "root": base64.b64encode(state.root).decode()}
        _write_atomically(self._path(origin), json.dumps(record) + "\n", PRIVATE_FILE)


# --- add-checkpoint -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class WitnessAnswer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


class WitnessService:
    def __init__(
        self,
        cosigner: Cosigner,
        logs: Mapping[str, Sequence[NoteVerifier]],
        state: StateFiles,
        now: Callable[[], float],
    ) -> None:
        self.cosigner = cosigner
        self.logs = logs
        self.state = state
        self.now = now
        self._locks = {origin: threading.Lock() for origin in logs}

    def add_checkpoint(self, body: bytes) -> WitnessAnswer:
        try:
            request = parse_request(body)
        except MalformedRequest as exc:
            return WitnessAnswer(status=400, body=exc.message + "\n")
        lock = self._locks.get(request.note.split("\n", 1)[0])
        if lock is None:  # the decision names the unknown origin (or the malformed note)
            return self._answer(decide(request, self.logs, {}), None)
        with lock:
            origin = request.note.split("\n", 1)[0]
            held = self.state.read(origin)
            decision = decide(request, self.logs, {} if held is None else {origin: held})
            return self._answer(decision, origin)

    def _answer(self, decision: Decision, origin: str | None) -> WitnessAnswer:
        if isinstance(decision, Accepted):
            assert origin is not None
            self.state.write(origin, decision.state)  # recorded before the cosignature leaves
            line = self.cosigner.cosign(decision.body, int(self.now()))
            log.info("cosigned %s at size %d", origin, decision.state.size)
            return WitnessAnswer(status=200, body=line)
        log.warning("refused a checkpoint (%d): %s", decision.status, decision.reason)
        if decision.size is not None:
            return WitnessAnswer(status=409, body=format_size(decision.size), content_type=SIZE_CONTENT_TYPE)
        return WitnessAnswer(status=decision.status, body=decision.reason + "\n")
