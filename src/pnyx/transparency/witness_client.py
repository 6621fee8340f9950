"""The log's side of c2sp.org/tlog-witness: ask each witness to cosign the newest checkpoint.

For each witness the collector remembers (in memory) the size it last cosigned, and sends a
consistency proof from there. A fresh collector assumes 0; a witness that has seen more answers
409 with its size, and the collector retries once with a proof from that size. Only cosignature
lines by the witness's own key that verify are kept (tlog-witness: clients ignore the rest).
A witness that is down or refuses is logged and asked again in a later round; the checkpoint is
published either way. A witness is not trusted with the server's memory or time: its answer is read
to at most ``ANSWER_MAX`` bytes, uncompressed, within ``ANSWER_TIMEOUT_S`` in all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from pnyx.core.errors import FacilityError, Unavailable
from pnyx.transparency.cosignature import CosignatureVerifier, add_cosignatures, verify_cosignatures
from pnyx.transparency.guard import IDENTITY, within
from pnyx.transparency.model import SignedCheckpoint
from pnyx.transparency.service import LogService
from pnyx.transparency.witness_rules import SIZE_CONTENT_TYPE, format_request, parse_size

log = logging.getLogger("pnyx.witnesses")
ANSWER_MAX = 16_384  # cosignature lines or a size: a witness's answer is never longer
ANSWER_TIMEOUT_S = 10.0  # one deadline for a witness's whole answer, headers and body


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str
    text: str


@dataclass(frozen=True, slots=True)
class Witness:
    url: str  # the submission prefix: add-checkpoint is POSTed to <url>/add-checkpoint
    verifier: CosignatureVerifier

    @classmethod
    def parse(cls, text: str) -> Witness:
        """``URL=VKEY`` (the URL holds no ``=``)."""
        url, _, vkey = text.partition("=")
        return cls(url.strip().rstrip("/"), CosignatureVerifier.from_vkey(vkey))


@dataclass(frozen=True, slots=True, kw_only=True)
class Round:
    size: int
    cosigned: tuple[str, ...]  # witness names that cosign the checkpoint of ``size`` now
    missing: tuple[str, ...]


class WitnessCollector:
    def __init__(self, log_service: LogService, witnesses: Sequence[Witness], client: httpx.Client) -> None:
        self.log = log_service
        self.witnesses = tuple(witnesses)
        self.client = client
        self.sizes: dict[str, int] = {}  # url -> the size the witness last cosigned, as far as we know

    def collect(self) -> Round | None:
        """One round over the newest checkpoint: ask every witness that has not cosigned it yet."""
        if not self.witnesses or self.log.signer is None:
            return None
        try:
            signed = self.log.latest()
        except FacilityError:
            return None  # an empty log has nothing to cosign
        report = verify_cosignatures(signed.note, [w.verifier for w in self.witnesses])
        lines: list[str] = []
        for witness in self.witnesses:
            if witness.verifier.name in report.cosigned:
                self.sizes[witness.url] = max(self.sizes.get(witness.url, 0), signed.size)
            else:
                lines.extend(self._ask(witness, signed))
        if lines:
            signed = self.log.add_cosignatures(signed.size, lines)
            report = verify_cosignatures(signed.note, [w.verifier for w in self.witnesses])
        if report.missing or report.bad:
            log.warning(
                "checkpoint %d lacks cosignatures from %s",
                signed.size,
                ", ".join(report.missing + report.bad),
            )
        return Round(size=signed.size, cosigned=tuple(report.cosigned), missing=report.missing + report.bad)

    def _ask(self, witness: Witness, signed: SignedCheckpoint, *, retry: bool = True) -> list[str]:
        old = self.sizes.get(witness.url, 0)
        if old > signed.size:
            log.error("witness %s has cosigned size %d, beyond ours (%d)", witness.url, old, signed.size)
            old = 0  # asks again; its 409 says where it stands
        try:
            response = self._post(witness, old, signed)
        except (httpx.HTTPError, FacilityError) as exc:
            log.warning("witness %s: %s", witness.url, exc)
            return []
        if response.status == 200:
            return self._accept(witness, signed, response.text)
        if response.status == 409 and response.content_type.startswith(SIZE_CONTENT_TYPE):
            return self._resync(witness, signed, old, response.text, retry=retry)
        log.warning(
            "witness %s refused checkpoint %d (%d): %s",
            witness.url,
            signed.size,
            response.status,
            response.text.strip()[:200],
        )
        return []

    def _post(self, witness: Witness, old: int, signed: SignedCheckpoint) -> Answer:
        proof = self.log.consistency_proof(old, signed.size).hashes if 0 < old < signed.size else []
        body = format_request(old, proof, signed.note)
        url = f"{witness.url}/add-checkpoint"
        late = lambda: Unavailable(  # noqa: E731
            f"witness {url}: no whole answer within {ANSWER_TIMEOUT_S:g} s", code="witness_timeout"
        )
        return within(ANSWER_TIMEOUT_S, lambda: self._send(url, body), late)

    def _send(self, url: str, body: bytes) -> Answer:
        with self.client.stream("POST", url, content=body, headers=IDENTITY) as response:
            if response.headers.get("content-encoding", "identity") != "identity":
                raise Unavailable(f"witness {url}: a compressed answer", code="witness_answer")
            data = bytearray()
            for chunk in response.iter_raw():
                data += chunk
                if len(data) > ANSWER_MAX:
                    raise Unavailable(
                        f"witness {url}: an answer over {ANSWER_MAX} bytes", code="witness_answer"
                    )
            text = data.decode("utf-8", errors="replace")
            return Answer(response.status_code, response.headers.get("content-type", ""), text)

    def _resync(
        self, witness: Witness, signed: SignedCheckpoint, sent: int, text: str, *, retry: bool
    ) -> list[str]:
        """A 409: the witness holds another size. Retry once from it, if it is one we can prove from."""
        try:
            size = parse_size(text)
        except FacilityError:
            log.warning("witness %s answered 409 with no size", witness.url)
            return []
        self.sizes[witness.url] = size
        if retry and size != sent and size <= signed.size:
            return self._ask(witness, signed, retry=False)
        log.warning(
            "witness %s refused checkpoint %d: it holds a different tree at size %d",
            witness.url,
            signed.size,
            size,
        )
        return []

    def _accept(self, witness: Witness, signed: SignedCheckpoint, text: str) -> list[str]:
        lines = [line + "\n" for line in text.splitlines() if line]
        kept = [line for line in lines if witness.verifier.name in _valid_by(witness, signed.note, line)]
        if not kept:
            log.warning("witness %s answered 200 without a valid cosignature", witness.url)
            return []
        self.sizes[witness.url] = signed.size
        return kept


def _valid_by(witness: Witness, note: str, line: str) -> dict[str, int]:
    try:
        return verify_cosignatures(add_cosignatures(note, [line]), [witness.verifier]).cosigned
    except FacilityError:
        return {}
