"""The opening of docs/events.md: how to read a log entry, before the catalogue of its types."""

from __future__ import annotations

from pnyx.core.events import format_time
from pnyx.db.outbox import MAX_ENTRY_BYTES
from pnyx.transparency.catalogue_types import EXAMPLE_TIME, JSON_FORMS

HEADER = """\
# Event catalogue

<!-- Generated from the event classes by `make events` (`pnyx log catalogue`); do not edit by hand.
     tests/unit/transparency/test_event_catalogue.py fails while this file is out of date. -->

Every entry of Pnyx's public transparency log is one event: a typed record of a state change,
written in the same database transaction as the change. This file lists every event type ({count} of
them) with its fields, and shows an example of each entry's exact bytes.
"""

READING = """\
## Reading an entry

**What is published.** Every event is published. A use case emits its events in its own transaction
(they wait in the outbox table), and the log appender moves every outbox row, in commit order, into
the log; there is no private event type and no filtering. The log is gap-free and append-only.

**The bytes.** An entry is RFC 8785 canonical JSON (JCS: UTF-8, keys sorted, no whitespace) of an
envelope of three fields, at most {max_bytes:,} bytes:

| Field | Meaning |
|---|---|
| `type` | the event type, `<domain>.<thing>.<past-tense verb>`, one of the types below |
| `occurred_at` | when the change was committed: RFC 3339 in UTC with microseconds and `Z` |
| `data` | the event's fields, as catalogued for its type |

**The hashes.** The log is an RFC 9162 Merkle tree. An entry's leaf hash is
`SHA-256(0x00 || entry bytes)`, over the bytes exactly as stored, never over a re-encoding. The
signed checkpoint (C2SP tlog-checkpoint, Ed25519; `/log/checkpoint`, key at `/log/key`) commits to
the tree's size and root hash. The entries themselves are served in C2SP tlog-tiles entry bundles
(`/log/tile/entries/<N>`: each entry preceded by its length as two big-endian bytes) beside the hash
tiles (`/log/tile/<L>/<N>`). `GET /api/v1/log/entries/<index>` returns one entry as JSON: `entry`
(parsed), `canonical` (the exact bytes as text), `leaf_hash` (hex), and `appended_at` (when the
appender took it; not part of the hashed bytes). Inclusion and consistency proofs are under
`/api/v1/log/proofs/`; `pnyx log verify <url>` checks a log independently.

**Private data.** What the log says is public forever, so private data appears only as salted
commitments. SME workspace events (`workspaces.*`) carry commitments only, beside ids and counts:
an object appears as its commitment `sha256("pnyx-commitment-v1\\0" || salt || sha256(plaintext))`,
64 hex characters, never as a name, a size or a plaintext digest; the SME keeps the salt and can
open a commitment to show which file it was. Job outputs appear as counts and a manifest digest,
never as file names.

**Field types.** The field tables below give each field's Python type; in `data` it reads as:

| Type | In the entry |
|---|---|
{types}

A field shown `X | None` is always present, its value `null` when unset.

**The examples** use placeholder values: strings `"<field name>"`, numbers `1` (or `0.5`), `true`,
the time `{time}`, one element per array, one key `"<key>"` per object.
"""


def intro(count: int) -> str:
    types = "\n".join(f"| `{spelling}` | {form} |" for spelling, form in JSON_FORMS)
    reading = READING.format(max_bytes=MAX_ENTRY_BYTES, types=types, time=format_time(EXAMPLE_TIME))
    return HEADER.format(count=count) + "\n" + reading
