"""The event catalogue (docs/events.md): current, complete, unique type names, types a reader can find."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import pnyx
from pnyx.cli.catalogue import event_modules, render_catalogue
from pnyx.cli.main import app
from pnyx.core.clock import FrozenClock
from pnyx.core.errors import InvalidInput
from pnyx.core.events import DomainEvent, entry_bytes
from pnyx.db.outbox import outbox
from pnyx.db.unit_of_work import UnitOfWork
from pnyx.transparency.catalogue import (
    EventClass,
    describe,
    duplicate_types,
    event_classes,
    not_frozen_dataclasses,
    render,
    uncatalogued_fields,
)

EVENTS_MD = Path(__file__).resolve().parents[3] / "docs" / "events.md"


@pytest.fixture(scope="module")
def classes() -> list[EventClass]:
    return event_classes(event_modules())


def test_docs_events_md_is_what_the_code_renders_now() -> None:
    assert EVENTS_MD.read_text() == render_catalogue(), (
        "docs/events.md is out of date with the event classes: run `make events` and commit it"
    )


def test_the_catalogue_misses_no_event_class_of_the_package(classes: list[EventClass]) -> None:
    for info in pkgutil.walk_packages(pnyx.__path__, "pnyx."):  # the edges too, which it leaves out
        _import_if_installed(info.name)
    defined = {(c.__module__, c.__qualname__) for c in _all_subclasses() if c.__module__.startswith("pnyx.")}
    assert defined == {(c.__module__, c.__qualname__) for c in classes}


def _import_if_installed(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional dependency (torch for pnyx.training)
        if (exc.name or "pnyx").startswith("pnyx"):
            raise


def _all_subclasses(cls: type = DomainEvent) -> list[type]:
    direct: list[type] = cls.__subclasses__()
    return [sub for child in direct for sub in (child, *_all_subclasses(child))]


def test_event_type_names_are_unique(classes: list[EventClass]) -> None:
    assert len(classes) > 50
    assert duplicate_types(classes) == []


def test_every_event_class_is_a_frozen_dataclass_with_its_own_type(classes: list[EventClass]) -> None:
    assert not_frozen_dataclasses(classes) == []


def test_every_field_has_a_type_the_catalogue_explains(classes: list[EventClass]) -> None:
    assert uncatalogued_fields(classes) == []


# --- the checks catch what they are for ----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SampleHappened(DomainEvent):
    """A sample happened, once.

    More that is not the summary."""

    event_type = "sample.thing.happened"
    name: str  # who it was | or not
    count: int
    seen: tuple[str, ...] = ()  # ids only
    when: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SampleAgain(DomainEvent):
    event_type = "sample.thing.happened"


class SampleUndecorated(
    DomainEvent
):  # a dataclass only by inheritance (a frozen one's subclass must be frozen)
    event_type = "sample.thing.undecorated"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SampleUntyped(SampleHappened):
    """Inherits the field comments of its base, and names no type of its own."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SampleOpaque(DomainEvent):
    event_type = "sample.thing.opaque"
    blob: bytes
    extra: ClassVar[int] = 0


def test_duplicate_type_names_are_found() -> None:
    assert duplicate_types([SampleHappened, SampleAgain, SampleUndecorated]) == ["sample.thing.happened"]


def test_classes_that_are_not_frozen_or_name_no_type_are_found() -> None:
    found = not_frozen_dataclasses([SampleHappened, SampleUndecorated, SampleUntyped])
    assert [name.rsplit(".", 1)[1] for name in found] == ["SampleUndecorated", "SampleUntyped"]


def test_a_field_type_the_catalogue_cannot_explain_is_found_and_refused() -> None:
    assert uncatalogued_fields([SampleHappened, SampleOpaque]) == [
        f"{__name__}.SampleOpaque.blob: the catalogue cannot explain the type <class 'bytes'>"
    ]
    with pytest.raises(InvalidInput, match=r"SampleOpaque\.blob"):
        render([SampleOpaque])


def test_render_refuses_duplicate_type_names() -> None:
    with pytest.raises(InvalidInput, match=r"sample\.thing\.happened is claimed by more than one class"):
        render([SampleHappened, SampleAgain])


def test_describe_reads_the_summary_types_comments_and_encodes_an_example() -> None:
    doc = describe(SampleHappened)
    assert doc.summary == "A sample happened, once."
    assert [(f.name, f.type, f.comment) for f in doc.fields] == [
        ("name", "str", "who it was | or not"),
        ("count", "int", ""),
        ("seen", "tuple[str, ...]", "ids only"),
        ("when", "datetime | None", ""),
    ]
    assert json.loads(doc.entry) == {
        "type": "sample.thing.happened",
        "occurred_at": "2025-01-01T00:00:00.000000Z",
        "data": {"name": "<name>", "count": 1, "seen": ["<seen>"], "when": "2025-01-01T00:00:00.000000Z"},
    }
    assert [f.comment for f in describe(SampleUntyped).fields][:1] == ["who it was | or not"]


def test_render_escapes_table_cells_and_shows_the_example_bytes() -> None:
    text = render([SampleHappened])
    assert "| `name` | `str` | who it was \\| or not |" in text
    assert "| `when` | `datetime \\| None` |  |" in text
    assert describe(SampleHappened).entry.decode() in text
    assert "- [sample](#sample): `sample.thing.happened`" in text


def test_the_examples_are_the_bytes_the_unit_of_work_writes_to_the_outbox() -> None:
    engine = sa.create_engine("sqlite://")
    outbox.create(engine)
    at = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    event = SampleHappened(name="n", count=3, when=at)
    with UnitOfWork(engine, FrozenClock(at)).write() as tx:
        tx.emit(event)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(outbox.c.entry)).scalar_one()
    engine.dispose()
    assert stored == entry_bytes(event, at)


def test_pnyx_log_catalogue_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "events.md"
    result = CliRunner().invoke(app, ["log", "catalogue", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == EVENTS_MD.read_text()
