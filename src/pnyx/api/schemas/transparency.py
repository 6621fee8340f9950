"""Log entry and proof bodies. Hashes are lowercase hex."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from pnyx.transparency.merkle import leaf_hash
from pnyx.transparency.model import LogEntry
from pnyx.transparency.service import ConsistencyProof, InclusionProof


class EntryOut(BaseModel):
    index: int
    type: str
    entry: dict[str, Any]
    leaf_hash: str
    appended_at: datetime
    canonical: str

    @classmethod
    def of(cls, e: LogEntry) -> EntryOut:
        return cls(
            index=e.index,
            type=e.event_type,
            entry=json.loads(e.data),
            leaf_hash=leaf_hash(e.data).hex(),
            appended_at=e.appended_at,
            canonical=e.data.decode(),
        )


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]

    @classmethod
    def of(cls, p: InclusionProof) -> InclusionProofOut:
        return cls(
            index=p.index,
            tree_size=p.size,
            leaf_hash=p.leaf_hash.hex(),
            root_hash=p.root.hex(),
            proof=[h.hex() for h in p.hashes],
        )


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]

    @classmethod
    def of(cls, p: ConsistencyProof) -> ConsistencyProofOut:
        return cls(
            first=p.first,
            second=p.second,
            first_root=p.first_root.hex(),
            second_root=p.second_root.hex(),
            proof=[h.hex() for h in p.hashes],
        )
