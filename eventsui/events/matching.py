"""Label matching: how an expected label value (from a filter or a trigger) matches a label.

An expected value is an exact value, a prefix (`prefect.flow-run.*`: one star, at the end)
or a glob (`*` any run of characters, `?` one character); a leading `!` negates it. A missing
label never matches, negated or not. These are the rules of Prefect 3's
`ResourceSpecification` (`prefect.events.schemas.events`).

`parse_pattern` works an expected value out once. Both matchers start from it: `matches` here
(the live feed, automation triggers, `includes()` of the event filters) and the SQL
translation in `eventsui.events.filters` (which picks `=`, a prefix or a regex by the same
`kind`, and takes the regex from `LabelPattern.regex`), so a stored event and a live one are
judged by the same reading of the pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class PatternKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"  # `text` is the prefix, without its star
    GLOB = "glob"


@dataclass(frozen=True, slots=True)
class LabelPattern:
    """One expected label value, worked out."""

    kind: PatternKind
    text: str  # the exact value, the prefix, or the glob (never with the leading `!`)
    negated: bool

    @property
    def is_plain(self) -> bool:
        """An exact value, not negated: what an id field holds."""
        return self.kind is PatternKind.EXACT and not self.negated

    def matches(self, value: str | None) -> bool:
        if value is None:
            return False
        if self.kind is PatternKind.EXACT:
            match = value == self.text
        elif self.kind is PatternKind.PREFIX:
            match = value.startswith(self.text)
        else:
            match = glob_match(self.text, value)
        return match != self.negated

    def regex(self) -> str:
        """The glob as a regular expression both PostgreSQL (`~`) and Python's `re` (Django's
        REGEXP on SQLite) read the same way: `(?s)` lets `.` match a newline in Python too
        (PostgreSQL's default), and `\\A`/`\\Z` anchor at the very ends (Python's `$` also
        matches before a final newline)."""
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in self.text)
        return r"(?s)\A" + body + r"\Z"


@lru_cache(maxsize=4096)
def parse_pattern(expected: str) -> LabelPattern:
    negated = expected.startswith("!")
    text = expected[1:] if negated else expected
    if "*" not in text and "?" not in text:
        return LabelPattern(PatternKind.EXACT, text, negated)
    if text.endswith("*") and "*" not in text[:-1] and "?" not in text:
        return LabelPattern(PatternKind.PREFIX, text[:-1], negated)
    return LabelPattern(PatternKind.GLOB, text, negated)


def label_matches(expected: str, value: str | None) -> bool:
    """Does a label value match an expected value (see the module's docstring)?"""
    return parse_pattern(expected).matches(value)


def _piece_at(value: str, piece: str, at: int) -> bool:
    """Does `piece` (where `?` is any one character) match `value` starting at `at`?"""
    if at + len(piece) > len(value):
        return False
    return all(p == "?" or p == value[at + i] for i, p in enumerate(piece))


def _find_piece(value: str, piece: str, start: int) -> int:
    if "?" not in piece:
        return value.find(piece, start)
    for at in range(start, len(value) - len(piece) + 1):
        if _piece_at(value, piece, at):
            return at
    return -1


@lru_cache(maxsize=4096)
def _glob_pieces(pattern: str) -> tuple[str, ...]:
    return tuple(pattern.split("*"))


def glob_match(pattern: str, value: str) -> bool:
    """`*` is any run of characters, `?` one character. Matches the pieces between stars in
    order, leftmost first: linear work, where a regex would backtrack exponentially on
    patterns like `*a*a*a*b` (a live-feed filter is evaluated on the event loop)."""
    pieces = _glob_pieces(pattern)
    if len(pieces) == 1:
        return len(value) == len(pattern) and _piece_at(value, pattern, 0)
    first, *middle, last = pieces
    if not _piece_at(value, first, 0):
        return False
    position = len(first)
    for piece in middle:
        found = _find_piece(value, piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return len(value) - len(last) >= position and _piece_at(value, last, len(value) - len(last))
