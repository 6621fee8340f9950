"""Each log entry in words: every catalogued event type has a summary built from its fields."""

from __future__ import annotations

from pnyx.cli.catalogue import event_modules
from pnyx.portal.log_summary import TEMPLATES, summarise, summary
from pnyx.transparency.catalogue import describe, event_classes


def test_every_event_type_has_a_summary_that_reads_all_its_named_fields() -> None:
    docs = [describe(cls) for cls in event_classes(event_modules())]
    assert {d.event_type for d in docs} == set(TEMPLATES)
    for doc in docs:
        text = summarise(doc.entry)  # the catalogue's example entry: each field a placeholder
        assert "{" not in text, (doc.event_type, text)
        assert "none" not in text, (doc.event_type, text)


def test_values_read_compactly() -> None:
    ballots = {
        "motion_id": "mot_1",
        "ballots": [{"a": 1}] * 4,
        "outcome": {"adopted": True, "summary": "ADOPTED"},
    }
    assert summary("governance.motion.tallied", ballots) == (
        "motion mot_1 tallied over 4 ballots: adopted yes, summary ADOPTED"
    )
    assert summary("identity.user.registered", {"name": "ann", "roles": ["a", "b", "c", "d"]}) == (
        "user ann registered as a, b, c, …"
    )
    closes = {
        "call_id": "c",
        "title": "T",
        "budget_hours": "10",
        "mode": "m",
        "closes_at": "2026-01-02T03:04:05.000000Z",
    }
    assert summary("allocation.call.created", closes).endswith("closes 2026-01-02 03:04 UTC")
    assert summary("jobs.job.state_changed", {"job_id": "j"}) == "job j none: now none"  # missing fields


def test_an_unknown_type_or_an_unreadable_entry_still_reads() -> None:
    assert summary("future.thing.happened", {"a": 1, "b": "x" * 200}) == "a=1, b=" + "x" * 119 + "…"
    assert summarise(b"not json") == "(an entry this page cannot read)"
    assert summarise(b'{"type": "t.u.v", "data": 3}') == "t.u.v"
