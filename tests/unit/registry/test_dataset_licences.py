"""SPDX licence expressions: known ids in SPDX spelling, LicenseRef-..., AND/OR/WITH with precedence."""

from __future__ import annotations

import pytest

from pnyx.core.errors import InvalidInput
from pnyx.registry.licences import LICENCES, Compound, licence_ids, normalise, parse


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("mit", "MIT"),
        ("cc-by-4.0", "CC-BY-4.0"),
        ("Apache-2.0 or MIT", "Apache-2.0 OR MIT"),
        ("GPL-2.0-only WITH classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"),
        ("(MIT AND BSD-3-Clause) OR Apache-2.0", "(MIT AND BSD-3-Clause) OR Apache-2.0"),
        ("MIT AND (BSD-3-Clause OR Apache-2.0)", "MIT AND (BSD-3-Clause OR Apache-2.0)"),
        ("MIT AND BSD-3-Clause OR Apache-2.0", "(MIT AND BSD-3-Clause) OR Apache-2.0"),  # made explicit
        ("LicenseRef-news-syndication", "LicenseRef-news-syndication"),
        ("DocumentRef-spdx:LicenseRef-x", "DocumentRef-spdx:LicenseRef-x"),
        ("Apache-1.1+", "Apache-1.1+"),
        ("  MIT  ", "MIT"),
    ],
)
def test_expressions_come_back_in_spdx_spelling(given: str, expected: str) -> None:
    assert normalise(given) == expected


def test_and_binds_tighter_than_or() -> None:
    found = parse("MIT AND BSD-3-Clause OR Apache-2.0")
    assert str(found) == "(MIT AND BSD-3-Clause) OR Apache-2.0"
    assert licence_ids(found) == ("Apache-2.0", "BSD-3-Clause", "MIT")
    assert isinstance(found, Compound)
    assert found.operator == "OR"


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("", "empty"),
        ("Foo-1.0", "unknown licence 'Foo-1.0'"),
        ("MIT AND", "ends too early"),
        ("(MIT", "ends too early"),
        ("MIT)", r"unexpected '\)'"),
        ("MIT WITH Nothing-exception", "unknown licence exception"),
        ("MIT Or Apache-2.0", "unexpected 'Or'"),
        ("AND MIT", "expected a licence"),
        ("MIT; rm -rf", "unexpected character"),
        ("LicenseRef-", "unknown licence"),
        ("LicenseRef-a+", "not a LicenseRef"),
        ("GPL-2.0-only+", "cannot follow 'GPL-2.0-only'"),
        ("MIT OR lgpl-2.1-or-later+", "cannot follow 'LGPL-2.1-or-later'"),
        ("MIT OR " * 60 + "MIT", "longer than"),
    ],
)
def test_a_bad_expression_is_refused_naming_the_field(given: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as info:
        normalise(given, "sources.json:web.licence")
    assert info.value.field == "sources.json:web.licence"


def test_the_shipped_list_holds_the_common_ids() -> None:
    assert {"MIT", "Apache-2.0", "CC-BY-4.0", "CC0-1.0", "GPL-3.0-only", "ODbL-1.0"} <= LICENCES
