"""Decision records as changes of the scheduler's inputs, written and read back by one module (pure).

A record is a change of the inputs since the record before it: jobs that joined or changed
(``queue_set``, ``holding_set``), ids that left (``queue_drop``, ``holding_drop``), failed nodes,
and the settings (``shares``, ``policy``, ``queue_ahead``, ``history``) where they changed. The first
record a dispatcher writes (``reset``) holds everything. Each record names the one before by digest
(``prev``) and counts on (``seq``), so a missing or altered record shows at the next one. A record too
big for one entry is cut into parts (``part`` of ``parts``); lists are continued across parts.
A writer may keep a ``Spelling`` from record to record: each job is then spelled once while its
view is the same object, and seen unchanged by identity; the bytes are the same with it or without.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pnyx.audit.wire import (
    OUTPUT_KEYS,
    CycleInputs,
    CycleOutputs,
    Held,
    Json,
    digest,
    held_out,
    outputs_out,
    policy_out,
    queued_out,
    read_digest,
    shares_out,
    usage_out,
    usual_order,
)
from pnyx.scheduler.model import Job

PART_BUDGET = 56_000  # bytes of lists per entry, well under the log's 65,535 with the envelope
SETTINGS = ("shares", "policy", "queue_ahead", "history")
LISTS = ("queue_set", "queue_drop", "holding_set", "holding_drop", "down_set", "down_drop", *OUTPUT_KEYS)
# settings' lists that grow with the facility, cut across parts like the lists (joined back in place)
SPLIT = {"history_by_user": ("history", "by_user"), "shares_projects": ("shares", "projects")}
CUT = (*LISTS, "holding_order", *SPLIT)  # continued from part to part


@dataclass(slots=True, kw_only=True)
class Ledger:
    """The inputs as the records so far leave them: what the next record is a change of."""

    seq: int = 0
    digest: str = ""  # of the last record, all its parts
    queue: dict[str, list[Json]] = field(default_factory=dict)
    holding: dict[str, list[Json]] = field(default_factory=dict)
    down: set[int] = field(default_factory=set)
    settings: dict[str, Json] = field(default_factory=dict)
    whole: bool = True  # False: only the last record's seq and digest are known, not its inputs


def restarted(seq: int, name: str) -> Ledger:
    """What a new dispatcher knows of the log's last record (its ``seq`` and digest), not of the
    inputs it left: its first record is a reset that names that record (``follows``)."""
    return Ledger(seq=seq, digest=name, whole=False)


@dataclass(slots=True)
class Spelling:
    """Each job's row as last spelled, with the view it was spelled from (the waiting job's with its
    engine): a view handed over again, the very object (the dispatcher keeps a job's view while its
    row is unchanged, ``dispatch.views``), is not spelled again, and its row is the very list the
    ledger holds, so ``record`` sees it unchanged by identity. Only the jobs of the last inputs are
    kept. A cache, never a source: views are frozen, so a record is the same bytes without one."""

    queued: dict[str, tuple[Job, str, list[Json]]] = field(default_factory=dict)
    held: dict[str, tuple[Held, list[Json]]] = field(default_factory=dict)

    def queue(self, inputs: CycleInputs) -> dict[str, list[Json]]:
        last, kept, engines = self.queued, {}, inputs.engines
        for job in inputs.queue:
            seen = last.get(job.id)
            if seen is None or seen[0] is not job or seen[1] != engines[job.id]:
                seen = (job, engines[job.id], queued_out(job, engines[job.id]))
            kept[job.id] = seen
        self.queued = kept
        return {job_id: seen[2] for job_id, seen in kept.items()}

    def holding(self, inputs: CycleInputs) -> dict[str, list[Json]]:
        last, kept = self.held, {}
        for h in inputs.holding:
            seen = last.get(h.running.job.id)
            kept[h.running.job.id] = seen if seen is not None and seen[0] is h else (h, held_out(h))
        self.held = kept
        return {job_id: seen[1] for job_id, seen in kept.items()}


def state_of(inputs: CycleInputs, spelling: Spelling | None = None) -> Ledger:
    """The inputs in their recorded spelling (``seq`` and ``digest`` left for the record to set)."""
    spelling = Spelling() if spelling is None else spelling
    ahead = {"engines": sorted(inputs.ahead_engines), "depth": inputs.ahead_depth}
    return Ledger(
        queue=spelling.queue(inputs),
        holding=spelling.holding(inputs),
        down=set(inputs.down),
        settings={
            "shares": shares_out(inputs.shares),
            "policy": policy_out(inputs.policy),
            "queue_ahead": ahead,
            "history": usage_out(inputs.history),
        },
    )


def record(
    before: Ledger | None,
    inputs: CycleInputs,
    outputs: CycleOutputs,
    *,
    header: Mapping[str, Json],
    budget: int = PART_BUDGET,
    spelling: Spelling | None = None,
) -> tuple[list[dict[str, Json]], Ledger]:
    """The record's parts (entry payloads: ``header``, seq, part, parts, prev, body) and the ledger
    after it. ``before`` None (no record before it) or not ``whole`` (``restarted``): a reset record
    holding every input, naming the record before it, if any (``follows``: its seq and digest).
    ``spelling``: the writer's, kept from record to record (the same bytes, sooner)."""
    after = state_of(inputs, spelling)
    reset = before is None or not before.whole
    base = Ledger() if reset or before is None else before
    body = _changes(base, after) | outputs_out(outputs)
    scalars = {k: after.settings[k] for k in SETTINGS if reset or base.settings.get(k) != after.settings[k]}
    kept, long = _split(scalars)
    lists = {k: body[k] for k in LISTS if body[k]} | {k: v for k, v in (_order(inputs) | long).items() if v}
    head = {"reset": True, "follows": _follows(before)} if reset else {"reset": False}
    first = {**head, **kept}  # counted against the first part's budget, as its lists are
    chunks: list[dict[str, Json]] = list(_cut(lists, budget, start=_size(first)))
    chunks[0] = {**first, **chunks[0]}
    seq = 1 if reset else base.seq + 1
    prev = "" if reset else base.digest
    parts = [
        {**header, "seq": seq, "part": i + 1, "parts": len(chunks), "prev": prev, "body": chunk}
        for i, chunk in enumerate(chunks)
    ]
    after.seq, after.digest = seq, digest(parts)
    return parts, after


def _follows(before: Ledger | None) -> Json:
    return None if before is None else {"seq": before.seq, "digest": before.digest}


def _split(scalars: Mapping[str, Json]) -> tuple[dict[str, Json], dict[str, list[Json]]]:
    """The settings with their long lists left empty, and those lists (``SPLIT``)."""
    kept, lists = dict(scalars), {}
    for key, (setting, name) in SPLIT.items():
        if setting in kept:
            kept[setting] = {**kept[setting], name: []}
            lists[key] = list(scalars[setting][name])
    return kept, lists


def _size(item: Json) -> int:
    return len(json.dumps(item, separators=(",", ":"))) + 1


def _order(inputs: CycleInputs) -> dict[str, list[Json]]:
    """``holding_order``, only where plan read the holding jobs in another order than the usual one
    (submit times that tie): the order decides which node a tie in placement goes to."""
    usual = [h.running.job.id for h in usual_order(inputs.holding)]
    return {"holding_order": list(inputs.order)} if inputs.order and list(inputs.order) != usual else {}


def _changes(before: Ledger, after: Ledger) -> dict[str, list[Json]]:
    return {
        "queue_set": _set(before.queue, after.queue),
        "queue_drop": sorted(before.queue.keys() - after.queue.keys()),
        "holding_set": _set(before.holding, after.holding),
        "holding_drop": sorted(before.holding.keys() - after.holding.keys()),
        "down_set": sorted(after.down - before.down),
        "down_drop": sorted(before.down - after.down),
    }


def _set(before: Mapping[str, list[Json]], after: Mapping[str, list[Json]]) -> list[Json]:
    """The rows of ``after`` that ``before`` does not hold as they are (the very list: unchanged)."""
    out = []
    for key, row in after.items():
        was = before.get(key)
        if was is not row and was != row:
            out.append(row)
    return out


def _cut(lists: Mapping[str, Sequence[Json]], budget: int, start: int = 0) -> list[dict[str, list[Json]]]:
    """Lists packed in order into chunks of about ``budget`` bytes (an item is never split), the first
    chunk already holding ``start`` bytes."""
    chunks: list[dict[str, list[Json]]] = [{}]
    size = start
    for key, items in lists.items():
        for item in items:
            length = _size(item)
            if size + length > budget and size > 0:
                chunks.append({})
                size = 0
            chunks[-1].setdefault(key, []).append(item)
            size += length
    return chunks


# --- reading back --------------------------------------------------------------------------------


class BadRecord(ValueError):
    """A record that does not follow from the ones before it; the message says what differs."""


def joined(parts: Sequence[Mapping[str, Json]]) -> dict[str, Json]:
    """One record's body from its parts, in part order, lists continued."""
    body: dict[str, Json] = {}
    for part in parts:
        for key, value in part["body"].items():
            if key in CUT:
                body.setdefault(key, []).extend(value)
            else:
                body[key] = value
    for key, (setting, name) in SPLIT.items():
        if key in body:
            body[setting] = {**body[setting], name: body.pop(key)}
    return body


def follow(before: Ledger | None, parts: Sequence[Mapping[str, Json]]) -> Ledger:
    """The ledger after a record; raises ``BadRecord`` when it does not follow from ``before``.
    ``parts`` as read from the log (objects keyed by strings, ``shape`` checked)."""
    head, body = parts[0], joined(parts)
    if [p["part"] for p in parts] != list(range(1, int(head["parts"]) + 1)):
        raise BadRecord(f"record {head['seq']} has parts {[p['part'] for p in parts]} of {head['parts']}")
    if any("follows" in p["body"] for p in parts[1:]) or ("follows" in body and not body.get("reset")):
        raise BadRecord(
            f"record {head['seq']}: only a reset record's first part names the record before it "
            "(body.follows)"
        )
    if body.get("reset"):
        before = Ledger()
    elif before is None:
        raise BadRecord(
            f"record {head['seq']} changes inputs no earlier record set (no reset record before it)"
        )
    elif head["seq"] != before.seq + 1:
        raise BadRecord(f"record {head['seq']} follows record {before.seq}: record(s) missing")
    elif head["prev"] != before.digest:
        raise BadRecord(
            f"record {head['seq']} names {head['prev']} as the record before, not {before.digest}"
        )
    return _applied(before, body, int(head["seq"]), read_digest(list(parts)))


def resumed(body: Mapping[str, Json], last: Sequence[Mapping[str, Json]] | None) -> str | None:
    """What is wrong with a reset record's ``follows``, given the parts of the last record before it
    in the log (None: there is none); None when it names that record. A dispatcher names the last
    record it finds in the log, so a record missing between them, or removed, shows here."""
    if "follows" not in body:
        return "the reset record does not name the record before it (body.follows)"
    said = body["follows"]
    seen = None if last is None else {"seq": last[0]["seq"], "digest": read_digest(list(last))}
    if said == seen:
        return None
    named = "no record" if said is None else f"record {said['seq']} ({said['digest']})"
    if seen is None:
        return f"the reset record follows {named}, but the log holds no record before it"
    return (
        f"the reset record follows {named}, but the record before it is record {seen['seq']} "
        f"({seen['digest']}): record(s) missing or altered between"
    )


def _applied(before: Ledger, body: Mapping[str, Json], seq: int, name: str) -> Ledger:
    queue = _keyed(before.queue, body.get("queue_set", []), body.get("queue_drop", []), "queue")
    holding = _keyed(before.holding, body.get("holding_set", []), body.get("holding_drop", []), "holding")
    down = (before.down - set(body.get("down_drop", []))) | set(body.get("down_set", []))
    settings = before.settings | {k: body[k] for k in SETTINGS if k in body}
    missing = [k for k in SETTINGS if k not in settings]
    if missing:
        raise BadRecord(f"record {seq} leaves {', '.join(missing)} unset")
    return Ledger(seq=seq, digest=name, queue=queue, holding=holding, down=down, settings=settings)


def _keyed(
    before: Mapping[str, list[Json]], rows: Sequence[list[Json]], drops: Sequence[str], what: str
) -> dict[str, list[Json]]:
    out = dict(before)
    for job_id in drops:
        if out.pop(job_id, None) is None:
            raise BadRecord(f"drops job {job_id} from the {what}, where no earlier record put it")
    out.update((row[0], row) for row in rows)
    return out
