"""Offline verification of a release decision from the public log and the officers' public keys.

Pure: it takes the bytes of a log export and of a keys file, no clients and no clock (the way
sigstore verifies from data). ``pnyx safety verify-release`` is its shell. It checks that the
release's approvals each verify against the approver's own key over the exact message the request
binds, that they are by distinct people, none of them the requester, each in a role the gate names,
and that the decision meets the gate's count, motion and evaluations. The message is rebuilt from the
request's entry (job, opaque artifact reference, digest, labels: no path); the decision that
releases names the path, whose reference must be the request's. Where the gate needs the council, the
log must show the motion's ``approve_release`` policy for this release adopted before the decision.
The inclusion of the entries in the log (Merkle proofs, signed checkpoint) is ``pnyx log verify``'s job.

Also here: the approver's side, signing the approval message with a local private key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pnyx.core.errors import InvalidInput
from pnyx.governance.policy import PolicyAdopted, PolicyKind
from pnyx.safety.model import Label, ReleaseStatus, SafetyLevel
from pnyx.safety.signing import approval_text, decode_public_key, key_id, public_artifact, verify_signature

REQUESTED = "safety.release.requested"
APPROVED = "safety.release.approved"
DECIDED = "safety.release.decided"
KEY_REVOKED = "safety.key.revoked"
KEY_ID = re.compile(r"[0-9a-f]{16}")
CATEGORY = re.compile(r"[A-Za-z0-9:_.\-]{1,100}")

# --- labels as the log spells them ---------------------------------------------------------------


def parse_label(text: str, field: str = "label") -> Label:
    """``L2+bio+project:p1`` (``str(label)``) back into a Label; a clear error naming ``field``."""
    level, *categories = text.strip().split("+")
    names = {lv.name: lv for lv in SafetyLevel}
    if level not in names:
        raise InvalidInput(f"a label starts with its level L1..L4, as in L2+bio; got {text!r}", field=field)
    for category in categories:
        if not CATEGORY.fullmatch(category):
            raise InvalidInput(
                f"a category is 1-100 letters, digits or ':_.-'; got {category!r}", field=field
            )
    return Label(level=names[level], categories=frozenset(categories))


# --- reading a log export ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedEvent:
    """One log entry: its type, when it occurred (RFC 3339) and its data."""

    type: str
    occurred_at: str
    data: Mapping[str, Any]


def parse_entries(*exports: bytes) -> list[LoggedEvent]:
    """Log entries from what the log publishes, one export or several: each a JSON array
    (``GET /api/v1/log/entries``), JSON lines, or tlog-tiles entry bundles (``/log/tile/entries/N``)
    concatenated. Duplicates (a partial and a full bundle of one tile) count once; order is the
    order occurred."""
    return _ordered(event for raw in exports for event in _parse_export(raw))


def _parse_export(raw: bytes) -> list[LoggedEvent]:
    text = raw.lstrip()
    if text.startswith(b"["):
        items = _json(text)
        if not isinstance(items, list):
            raise InvalidInput("the log export is not a JSON list of entries", field="log")
    elif text.startswith(b"{"):
        items = [_json(line) for line in text.splitlines() if line.strip()]
    else:
        items = [_json(data) for data in _bundle(raw)]
    return [_entry(item) for item in items]


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("the log export holds something that is not JSON", field="log") from None


def _bundle(raw: bytes) -> Iterable[bytes]:
    """Entry bundles: each entry as a big-endian uint16 length and its bytes."""
    at = 0
    while at < len(raw):
        size = int.from_bytes(raw[at : at + 2], "big")
        if at + 2 + size > len(raw) or size == 0:
            raise InvalidInput("the entry bundle is truncated or malformed", field="log")
        yield raw[at + 2 : at + 2 + size]
        at += 2 + size


def _entry(item: Any) -> LoggedEvent:
    if isinstance(item, dict) and isinstance(item.get("canonical"), str):
        item = _json(item["canonical"].encode())
    elif isinstance(item, dict) and isinstance(item.get("entry"), dict):
        item = item["entry"]
    if not (
        isinstance(item, dict)
        and isinstance(item.get("type"), str)
        and isinstance(item.get("occurred_at"), str)
        and isinstance(item.get("data"), dict)
    ):
        raise InvalidInput("a log entry has a type, an occurred_at and its data", field="log")
    return LoggedEvent(type=item["type"], occurred_at=item["occurred_at"], data=item["data"])


def _ordered(events: Iterable[LoggedEvent]) -> list[LoggedEvent]:
    seen: dict[str, LoggedEvent] = {}
    for e in events:
        seen.setdefault(json.dumps([e.type, e.occurred_at, e.data], sort_keys=True), e)
    return sorted(seen.values(), key=lambda e: e.occurred_at)  # stable: log order within one instant


# --- reading the officers' public keys -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicKey:
    user: str
    key_id: str
    public_key: str  # base64 of the raw 32-byte key


def parse_keys(raw: bytes) -> dict[str, PublicKey]:
    """Keys by key id, from JSON (a list of ``{user, public_key[, key_id]}``, or ``{"keys": [...]}``)
    (what ``GET /api/v1/safety/keys`` answers), or text lines (see ``_key_line``; ``#`` starts a
    comment). A key id given must be the key's own."""
    text = raw.decode("utf-8", errors="replace").strip()
    if text.startswith(("[", "{")):
        items = _json(raw)
        items = items.get("keys") if isinstance(items, dict) else items
        if not isinstance(items, list):
            raise InvalidInput("the keys file is a JSON list of {user, public_key}", field="keys")
        keys = [_key_of(item) for item in items]
    else:
        keys = [_key_line(line) for line in text.splitlines() if line.split("#")[0].strip()]
    return {k.key_id: k for k in keys}


def _key_of(item: Any) -> PublicKey:
    if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in ("user", "public_key")):
        raise InvalidInput("each key has a user and a public_key (base64)", field="keys")
    return _public_key(item["user"], item["public_key"], item.get("key_id"))


def _key_line(line: str) -> PublicKey:
    """``USER PUBLIC_KEY``, or a line of ``pnyx safety keys list``: ``KEY_ID USER PUBLIC_KEY [...]``
    (a revocation it notes is read from the log instead, where its place in time is known)."""
    words = line.split("#", maxsplit=1)[0].split()
    if len(words) >= 3 and KEY_ID.fullmatch(words[0]):
        return _public_key(words[1], words[2], words[0])
    if len(words) != 2:
        raise InvalidInput(f"a key line is 'USER PUBLIC_KEY_BASE64'; got {line.strip()!r}", field="keys")
    return _public_key(words[0], words[1], None)


def _public_key(user: str, public_key: str, given_id: object) -> PublicKey:
    computed = key_id(decode_public_key(public_key))
    if given_id is not None and given_id != computed:
        raise InvalidInput(f"{user}'s key id {given_id} is not its key's id {computed}", field="keys")
    return PublicKey(user=user, key_id=computed, public_key=public_key)


# --- the verdict ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalCheck:
    approver: str
    key_id: str
    problem: str  # "" when the approval counts

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseVerdict:
    release_id: str
    status: str  # unknown | requested | released | refused | withdrawn
    required: int  # approvals the gate asked for
    approvals: tuple[ApprovalCheck, ...]
    problems: tuple[str, ...]  # the release's own problems (the approvals' are in ``approvals``)

    @property
    def valid_approvers(self) -> tuple[str, ...]:
        return tuple(a.approver for a in self.approvals if a.ok)

    @property
    def ok(self) -> bool:
        return not self.problems and all(a.ok for a in self.approvals)


def verify_release(
    release_id: str, events: Sequence[LoggedEvent], keys: Mapping[str, PublicKey]
) -> ReleaseVerdict:
    """Whether the log shows release ``release_id`` decided RELEASED by a gate that was met."""
    mine = [(i, e) for i, e in enumerate(events) if e.data.get("release_id") == release_id]
    requested = next((e for _, e in mine if e.type == REQUESTED), None)
    if requested is None:
        problem = f"the log holds no request for release {release_id}"
        return ReleaseVerdict(
            release_id=release_id, status="unknown", required=0, approvals=(), problems=(problem,)
        )
    decided = next(((i, e) for i, e in mine if e.type == DECIDED), None)
    at = decided[0] if decided else len(events)
    context = _Context(requested.data, keys, _revocations(events), at)
    approvals = _approval_checks(context, [(i, e.data) for i, e in mine if e.type == APPROVED])
    valid = {a.approver for a in approvals if a.ok}
    decision = decided[1].data if decided else None
    motion = _council_approved(events[:at], release_id, decision.get("motion_id") if decision else None)
    return ReleaseVerdict(
        release_id=release_id,
        status=str(decision.get("status")) if decision else ReleaseStatus.REQUESTED.value,
        required=context.required,
        approvals=approvals,
        problems=_decision_problems(requested.data, decision, valid, motion),
    )


def _council_approved(events: Sequence[LoggedEvent], release_id: str, motion_id: object) -> bool:
    """Whether, before the decision, the log shows motion ``motion_id`` adopted with the effect
    ``approve_release`` naming this release (its policy's entry)."""
    content = {"type": "approve_release", "release_id": release_id}
    return bool(motion_id) and any(
        e.type == PolicyAdopted.event_type
        and e.data.get("kind") == PolicyKind.RELEASE_APPROVAL.value
        and e.data.get("motion_id") == motion_id
        and e.data.get("content") == content
        for e in events
    )


def _revocations(events: Sequence[LoggedEvent]) -> dict[str, int]:
    """Where in the log each key was revoked (its first revocation)."""
    out: dict[str, int] = {}
    for i, e in enumerate(events):
        if e.type == KEY_REVOKED and isinstance(e.data.get("key_id"), str):
            out.setdefault(e.data["key_id"], i)
    return out


@dataclass(frozen=True, slots=True)
class _Context:
    request: Mapping[str, Any]
    keys: Mapping[str, PublicKey]
    revoked: Mapping[str, int]
    decided_at: int  # the decision's position in the log (the end when there is none)

    @property
    def required(self) -> int:
        value = self.request.get("required_approvals")
        return value if isinstance(value, int) else 0

    @property
    def roles(self) -> list[Any]:
        roles = self.request.get("required_roles")
        return roles if isinstance(roles, list) else []

    @property
    def message(self) -> bytes:
        """What the approvers signed, as the request entry states the release."""
        release_id, job, ref, sha256, from_label, to_label = (
            str(self.request.get(f))
            for f in ("release_id", "job", "artifact_ref", "sha256", "from_label", "to_label")
        )
        labels = parse_label(from_label, "log"), parse_label(to_label, "log")
        return approval_text(release_id, job, ref, sha256, *labels)


def _approval_checks(
    c: _Context, approvals: Sequence[tuple[int, Mapping[str, Any]]]
) -> tuple[ApprovalCheck, ...]:
    checks: list[ApprovalCheck] = []
    for at, data in approvals:
        approver, kid = str(data.get("approver")), str(data.get("key_id"))
        earlier = {a.approver for a in checks}
        problem = _approval_problem(c, at, data, approver in earlier)
        checks.append(ApprovalCheck(approver=approver, key_id=kid, problem=problem))
    return tuple(checks)


def _approval_problem(c: _Context, at: int, data: Mapping[str, Any], again: bool) -> str:
    approver, kid = str(data.get("approver")), str(data.get("key_id"))
    key = c.keys.get(kid)
    problems = [
        (at > c.decided_at, "it comes after the decision"),
        (approver == c.request.get("requester"), "the requester approved their own release"),
        (again, f"{approver} approved a second time"),
        (data.get("role") not in c.roles, f"the role {data.get('role')} is not one the gate names"),
        (key is None, f"key {kid} is not among the public keys given"),
        (key is not None and key.user != approver, f"key {kid} belongs to {key.user if key else ''}"),
        (c.revoked.get(kid, at) < at, f"key {kid} was revoked before this approval"),
        (str(data.get("message")).encode() != c.message, "the logged message is not the request's"),
    ]
    first = next((text for failed, text in problems if failed), "")
    if first or key is None:
        return first
    if not verify_signature(key.public_key, c.message, str(data.get("signature"))):
        return "the signature does not verify with the approver's key (forged or altered)"
    return ""


def _decision_problems(
    request: Mapping[str, Any], decided: Mapping[str, Any] | None, valid: set[str], motion: bool
) -> tuple[str, ...]:
    if decided is None:
        return ("the release is not decided: it is still requested",)
    status = decided.get("status")
    if status != ReleaseStatus.RELEASED.value:
        return (f"the release was {status}, not released",)
    required = request.get("required_approvals")
    listed = {str(a) for a in decided.get("approvers") or []}
    unmet = set(request.get("evaluations_required") or []) - set(decided.get("evaluations") or [])
    path = decided.get("artifact")
    named = public_artifact(path) if isinstance(path, str) else None
    checks = [
        (
            any(decided.get(f) != request.get(f) for f in ("job", "artifact_ref", "sha256", "to_label")),
            "the decision names another artifact, digest or label than the request",
        ),
        (
            named != (request.get("job"), request.get("artifact_ref")),
            "the decision does not name the released artifact whose reference the request gave",
        ),
        (
            not isinstance(required, int) or len(valid) < required,
            f"{len(valid)} valid approval(s) by distinct people; the gate needs {required}",
        ),
        (
            not listed <= valid,
            f"the decision counts approvers without a valid approval: {sorted(listed - valid)}",
        ),
        (
            bool(request.get("motion_required")) and not motion,
            "the gate needs the council's adopted motion approving this release, and the log shows "
            "none named by the decision",
        ),
        (bool(unmet), f"required evaluations missing: {', '.join(sorted(unmet))}"),
    ]
    return tuple(text for failed, text in checks if failed)


# --- the approver's side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedApproval:
    key_id: str
    public_key: str  # base64
    signature: str  # base64


def load_private_key(raw: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS#8, ``openssl genpkey -algorithm ed25519``), OpenSSH
    (``ssh-keygen -t ed25519``) or the base64 of its raw 32-byte seed."""
    text = raw.strip()
    try:
        if text.startswith(b"-----BEGIN OPENSSH"):
            key: object = serialization.load_ssh_private_key(text, password=None)
        elif text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(text, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInput(
            "the key file holds no unencrypted Ed25519 private key", field="key_file"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput("the key file holds a key that is not Ed25519", field="key_file")
    return key


def sign_approval(private_key: Ed25519PrivateKey, message: bytes) -> SignedApproval:
    """The approver's signature over ``signing.approval_message(release)``: made where the key lives."""
    public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SignedApproval(
        key_id=key_id(public),
        public_key=base64.b64encode(public).decode(),
        signature=base64.b64encode(private_key.sign(message)).decode(),
    )
