"""A label's categories name something (finding F7): an empty category, or a compartment without its
id such as ``project:``, cannot be made, however the label is built or parsed."""

from __future__ import annotations

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.safety import rules
from pnyx.safety.model import Label, SafetyLevel
from pnyx.safety.verify import parse_label


@pytest.mark.parametrize("category", ["project:", "sme:", "", " ", ":p1", "project: "])
def test_an_empty_category_or_compartment_cannot_be_made(category: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Label(level=SafetyLevel.L2, categories=frozenset({"bio", category}))
    assert (refused.value.field, refused.value.code) == ("label", "empty_category")


def test_nor_parsed_from_text() -> None:
    for text in ("L2+project:", "L2+bio+sme:"):
        with pytest.raises(InvalidInput):
            parse_label(text)


def test_nor_joined_into_a_project_label() -> None:
    with pytest.raises(InvalidInput):
        rules.project_label("p1", SafetyLevel.L2, frozenset({"project:"}))


def test_named_categories_and_compartments_are_labels() -> None:
    label = Label(level=SafetyLevel.L2, categories=frozenset({"bio", "project:p1", "sme:p1"}))
    assert str(label) == "L2+bio+project:p1+sme:p1"
    assert parse_label(str(label)) == label
