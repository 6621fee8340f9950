"""SPDX licence expressions (pure): the identifiers the registry knows, and a parser for the simple
expressions sources declare (``MIT``, ``Apache-2.0 OR MIT``, ``GPL-2.0-only WITH Classpath-exception-2.0``,
``(MIT AND BSD-3-Clause) OR Apache-2.0``, ``LicenseRef-my-terms``).

Identifiers match case-insensitively and come back in SPDX's own spelling; operators may be upper or
lower case and come back upper case. ``WITH`` binds tighter than ``AND``, ``AND`` tighter than ``OR``
(SPDX 2.3, annex D). A list of common identifiers ships here as data; anything else must be spelled
``LicenseRef-<idstring>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from pnyx.core.errors import InvalidInput

MAX_EXPRESSION = 300


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


LICENCES = _words(
    """
    0BSD AAL AFL-3.0 AGPL-3.0-only AGPL-3.0-or-later Apache-1.1 Apache-2.0 APSL-2.0 Artistic-2.0
    BlueOak-1.0.0 BSD-1-Clause BSD-2-Clause BSD-2-Clause-Patent BSD-3-Clause BSD-3-Clause-Clear
    BSD-4-Clause BSL-1.0 bzip2-1.0.6 CAL-1.0 CC-BY-1.0 CC-BY-2.0 CC-BY-2.5 CC-BY-3.0 CC-BY-4.0
    CC-BY-NC-4.0 CC-BY-NC-ND-4.0 CC-BY-NC-SA-4.0 CC-BY-ND-4.0 CC-BY-SA-3.0 CC-BY-SA-4.0 CC-PDDC
    CC0-1.0 CDDL-1.0 CDDL-1.1 CDLA-Permissive-1.0 CDLA-Permissive-2.0 CDLA-Sharing-1.0 CECILL-2.1
    CECILL-B CECILL-C CPL-1.0 curl ECL-2.0 EFL-2.0 EPL-1.0 EPL-2.0 EUPL-1.1 EUPL-1.2 FSFAP FTL
    GFDL-1.3-only GFDL-1.3-or-later GPL-2.0-only GPL-2.0-or-later GPL-3.0-only GPL-3.0-or-later
    HPND ICU IJG ImageMagick IPA ISC LGPL-2.0-only LGPL-2.0-or-later LGPL-2.1-only LGPL-2.1-or-later
    LGPL-3.0-only LGPL-3.0-or-later Libpng libpng-2.0 LPL-1.02 LPPL-1.3c MIT MIT-0 MPL-1.1 MPL-2.0
    MPL-2.0-no-copyleft-exception MS-PL MS-RL MulanPSL-2.0 NCSA ODbL-1.0 ODC-By-1.0 OFL-1.1 OGL-UK-3.0
    OLDAP-2.8 OpenSSL OSL-3.0 PDDL-1.0 PHP-3.01 PostgreSQL PSF-2.0 Python-2.0 Ruby Unicode-3.0
    Unicode-DFS-2016 Unlicense UPL-1.0 Vim W3C WTFPL X11 XFree86-1.1 Zlib ZPL-2.1
    """
)

EXCEPTIONS = _words(
    """
    Autoconf-exception-3.0 Bison-exception-2.2 Classpath-exception-2.0 eCos-exception-2.0
    Font-exception-2.0 freertos-exception-2.0 GCC-exception-3.1 GPL-3.0-linking-exception
    LGPL-3.0-linking-exception Linux-syscall-note LLVM-exception OpenJDK-assembly-exception-1.0
    Qt-GPL-exception-1.0 Swift-exception u-boot-exception-2.0 WxWindows-exception-3.1
    """
)

_BY_FOLDED = {name.casefold(): name for name in LICENCES}
_EXCEPTIONS_FOLDED = {name.casefold(): name for name in EXCEPTIONS}
_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z0-9.+:-]+)")
_REF = re.compile(r"(DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+")
OPERATORS = ("AND", "OR", "WITH")


@dataclass(frozen=True, slots=True)
class Term:
    """A licence (``+``: this version or later; SPDX allows it after a licence id, not after a
    LicenseRef nor an id ending in -only or -or-later) with an optional exception."""

    licence: str
    exception: str | None = None

    def __str__(self) -> str:
        return self.licence if self.exception is None else f"{self.licence} WITH {self.exception}"


@dataclass(frozen=True, slots=True)
class Compound:
    operator: str  # AND | OR
    parts: tuple[Term | Compound, ...]

    def __str__(self) -> str:
        return f" {self.operator} ".join(_render(part, self.operator) for part in self.parts)


Expression = Term | Compound


def normalise(text: str, field: str = "licence") -> str:
    """The expression in SPDX spelling (InvalidInput naming ``field`` and the fault otherwise)."""
    return str(parse(text, field))


def licence_ids(expression: Expression) -> tuple[str, ...]:
    """Every licence named in the expression, sorted, each once."""
    if isinstance(expression, Term):
        return (expression.licence,)
    return tuple(sorted({name for part in expression.parts for name in licence_ids(part)}))


def parse(text: str, field: str = "licence") -> Expression:
    if not text.strip():
        raise InvalidInput(f"{field} is empty: name an SPDX licence (e.g. CC-BY-4.0)", field=field)
    if len(text) > MAX_EXPRESSION:
        raise InvalidInput(f"{field} is longer than {MAX_EXPRESSION} characters", field=field)
    parser = _Parser(_tokens(text, field), text, field)
    found = parser.disjunction()
    if parser.position != len(parser.tokens):
        parser.fail(f"unexpected {parser.tokens[parser.position]!r}")
    return found


def _tokens(text: str, field: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise InvalidInput(f"{field} {text!r}: unexpected character at {position + 1}", field=field)
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], text: str, field: str) -> None:
        self.tokens, self.text, self.field, self.position = tokens, text, field, 0

    def fail(self, why: str) -> NoReturn:
        raise InvalidInput(f"{self.field} {self.text!r} is not an SPDX expression: {why}", field=self.field)

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            self.fail("it ends too early")
        self.position += 1
        return token

    def operator(self, name: str) -> bool:
        token = self.peek()
        if token is not None and token.upper() == name and token in (name, name.lower()):
            self.position += 1
            return True
        return False

    def disjunction(self) -> Expression:
        return self._chain("OR", self.conjunction)

    def conjunction(self) -> Expression:
        return self._chain("AND", self.term)

    def _chain(self, name: str, part: Callable[[], Expression]) -> Expression:
        parts = [part()]
        while self.operator(name):
            parts.append(part())
        return parts[0] if len(parts) == 1 else Compound(name, tuple(parts))

    def term(self) -> Expression:
        word = self.take()
        if word == "(":
            inner = self.disjunction()
            if self.take() != ")":
                self.fail("a '(' is not closed")
            return inner
        licence = self.licence(word)
        return Term(licence, self.exception(self.take()) if self.operator("WITH") else None)

    def licence(self, word: str) -> str:
        if word.upper() in OPERATORS or word in "()":
            self.fail(f"expected a licence, found {word!r}")
        plus = "+" if word.endswith("+") else ""
        name = word.removesuffix(plus)
        if _REF.fullmatch(name):
            if plus:
                self.fail(f"'+' may follow a licence id, not a LicenseRef ({name!r})")
            return name
        known = _BY_FOLDED.get(name.casefold())
        if known is None:
            self.fail(f"unknown licence {name!r} (use an SPDX id, or LicenseRef-... for other terms)")
        if plus and known.endswith(("-only", "-or-later")):
            self.fail(f"'+' cannot follow {known!r}: it already says which versions")
        return f"{known}{plus}"

    def exception(self, token: str) -> str:
        known = _EXCEPTIONS_FOLDED.get(token.casefold())
        if known is None:
            self.fail(f"unknown licence exception {token!r}")
        return known


def _render(part: Expression, within: str) -> str:
    if isinstance(part, Compound) and part.operator != within:
        return f"({part})"
    return str(part)
