"""The event catalogue: every public log entry type, its fields and an example entry (docs/events.md).

It reads the event classes themselves: their ``event_type``, their docstring, their fields' types
and the comment the source writes after each field, and it encodes one example instance with the
log's own encoder (``core.events.entry_bytes``). Which classes to read is the caller's choice:
``pnyx log catalogue`` imports every module of the package and passes them all.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from types import ModuleType
from typing import Any

from pnyx.core.errors import InvalidInput
from pnyx.core.events import DomainEvent, entry_bytes
from pnyx.transparency.catalogue_text import intro
from pnyx.transparency.catalogue_types import EXAMPLE_TIME, example, spell

EventClass = type[DomainEvent]


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldDoc:
    name: str
    type: str  # as the catalogue spells it (catalogue_types.spell)
    comment: str  # the source's comment after the field, or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDoc:
    event_type: str
    defined_in: str  # module.Class
    summary: str  # the docstring's first paragraph, or ""
    fields: tuple[FieldDoc, ...]
    entry: bytes  # an example instance's log entry, byte for byte


def event_classes(modules: Iterable[ModuleType]) -> list[EventClass]:
    """The event classes the modules define (not those they import), sorted by type name."""
    found = {
        f"{cls.__module__}.{cls.__qualname__}": cls
        for module in modules
        for cls in vars(module).values()
        if _defined_event(cls, module)
    }
    return sorted(found.values(), key=lambda cls: (cls.event_type, cls.__module__, cls.__qualname__))


def _defined_event(value: object, module: ModuleType) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, DomainEvent)
        and value is not DomainEvent
        and value.__module__ == module.__name__
    )


# --- the checks a catalogue needs ------------------------------------------------------------------


def duplicate_types(classes: Sequence[EventClass]) -> list[str]:
    """Type names more than one class claims (a reader could not tell their entries apart)."""
    counts = Counter(cls.event_type for cls in classes)
    return sorted(name for name, count in counts.items() if count > 1)


def not_frozen_dataclasses(classes: Sequence[EventClass]) -> list[str]:
    """Classes that are not themselves frozen dataclasses, or that name no ``event_type`` of their own."""
    return [_name(cls) for cls in classes if not _frozen_dataclass(cls) or "event_type" not in vars(cls)]


def _frozen_dataclass(cls: type) -> bool:
    params = vars(cls).get("__dataclass_params__")
    return params is not None and bool(params.frozen)


def uncatalogued_fields(classes: Sequence[EventClass]) -> list[str]:
    """``Class.field: why`` for each field whose type the catalogue cannot explain."""
    problems: list[str] = []
    for cls in classes:
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            where = f"{_name(cls)}.{f.name}"
            try:
                spell(hints.get(f.name), where)
            except InvalidInput as exc:
                problems.append(exc.message)
    return problems


def check(classes: Sequence[EventClass]) -> None:
    """Refuse to catalogue classes a reader could not rely on."""
    problems = [
        *(f"event type {name} is claimed by more than one class" for name in duplicate_types(classes)),
        *(
            f"{name} is not a frozen dataclass with its own event_type"
            for name in not_frozen_dataclasses(classes)
        ),
        *uncatalogued_fields(classes),
    ]
    if problems:
        raise InvalidInput(
            "the event catalogue cannot be made: " + "; ".join(problems), code="event_catalogue"
        )


# --- reading one class ---------------------------------------------------------------------------


def describe(cls: EventClass) -> EventDoc:
    hints, comments = _hints(cls), _field_comments(cls)
    fields = tuple(
        FieldDoc(name=f.name, type=spell(hints[f.name], f.name), comment=comments.get(f.name, ""))
        for f in dataclasses.fields(cls)
    )
    return EventDoc(
        event_type=cls.event_type,
        defined_in=_name(cls),
        summary=_summary(cls),
        fields=fields,
        entry=entry_bytes(_example_event(cls, hints), EXAMPLE_TIME),
    )


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _hints(cls: EventClass) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _example_event(cls: EventClass, hints: dict[str, Any]) -> DomainEvent:
    values = {f.name: example(hints[f.name], f.name) for f in dataclasses.fields(cls) if f.init}
    return cls(**values)


def _class_node(cls: type) -> tuple[ast.ClassDef, str]:
    source = textwrap.dedent(inspect.getsource(cls))
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    return node, source


def _summary(cls: EventClass) -> str:
    doc = ast.get_docstring(_class_node(cls)[0]) or ""
    return " ".join(doc.split("\n\n", maxsplit=1)[0].split())


def _field_comments(cls: EventClass) -> dict[str, str]:
    """The comment written after each field, on its line(s), in the class and its event bases."""
    comments: dict[str, str] = {}
    for base in reversed(cls.__mro__):
        if issubclass(base, DomainEvent) and base is not DomainEvent:
            comments.update(_own_field_comments(base))
    return comments


def _own_field_comments(cls: type) -> dict[str, str]:
    node, source = _class_node(cls)
    by_line = _comments_by_line(source)
    return {
        stmt.target.id: text
        for stmt in node.body
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
        for text in [_first_comment(by_line, stmt.lineno, stmt.end_lineno or stmt.lineno)]
        if text
    }


def _comments_by_line(source: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {tok.start[0]: tok.string.lstrip("#").strip() for tok in tokens if tok.type == tokenize.COMMENT}


def _first_comment(by_line: dict[int, str], first: int, last: int) -> str:
    return next((by_line[line] for line in range(first, last + 1) if line in by_line), "")


# --- the document ----------------------------------------------------------------------------------


def render(classes: Sequence[EventClass]) -> str:
    """docs/events.md for these classes: how to read an entry, then every type by domain."""
    check(classes)
    docs = sorted((describe(cls) for cls in classes), key=lambda d: d.event_type)
    domains = [(name, list(group)) for name, group in groupby(docs, key=_domain)]
    parts = [intro(len(docs)), _contents(domains), *(_domain_section(n, g) for n, g in domains)]
    return "\n".join(parts)


def _domain(doc: EventDoc) -> str:
    return doc.event_type.split(".", maxsplit=1)[0]


def _contents(domains: list[tuple[str, list[EventDoc]]]) -> str:
    lines = [f"- [{name}](#{name}): {', '.join(f'`{d.event_type}`' for d in docs)}" for name, docs in domains]
    return "## Contents\n\n" + "\n".join(lines) + "\n"


def _domain_section(name: str, docs: list[EventDoc]) -> str:
    return f"## {name}\n\n" + "\n".join(_event_section(doc) for doc in docs)


def _event_section(doc: EventDoc) -> str:
    summary = f"{doc.summary}\n\n" if doc.summary else ""
    return (
        f"### `{doc.event_type}`\n\n{summary}Defined by `{doc.defined_in}`.\n\n"
        f"{_field_table(doc.fields)}\nExample entry:\n\n```json\n{doc.entry.decode()}\n```\n"
    )


def _field_table(fields: tuple[FieldDoc, ...]) -> str:
    if not fields:
        return "No fields: `data` is `{}`.\n"
    rows = [f"| `{f.name}` | `{_cell(f.type)}` | {_cell(f.comment)} |" for f in fields]
    return "| Field | Type | Notes |\n|---|---|---|\n" + "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
