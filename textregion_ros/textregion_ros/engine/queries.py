"""Text queries: one class per query, synonyms separated by ';' (DESIGN.md 1.7)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from .. import params
from .errors import QueryError

SYNONYM_SEPARATOR = ";"
QUERY_SEPARATOR = ","
# Labels are published as mono16 with 65535 = unlabeled, so at most 65535 classes (0..65534).
MAX_CLASSES = 65535
# Longest query accepted by default (the parameter table's max_query_chars).
MAX_QUERY_CHARS: int = params.BY_NAME["max_query_chars"].default
# Name of the hidden background class (background_queries); never published, never a detection.
BACKGROUND_CLASS = "<background>"
# Unicode categories never accepted in a phrase: control characters (C0/C1: ESC, BEL, ...) reach
# logs and LabelInfo as terminal escapes; format characters (zero-width space, bidi overrides)
# make two phrases that look the same differ, or reorder what an operator reads.
_FORBIDDEN_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible format character"}


@dataclass(frozen=True)
class QuerySet:
    """Validated queries: class names, the phrases to embed, and which class each phrase is in."""

    classes: tuple[str, ...]
    phrases: tuple[str, ...]
    phrase_class: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.classes)


def split_query_text(text: str) -> list[str]:
    """'mug, table; desk' -> ['mug', 'table; desk']: the one splitting rule of the `queries` topic,
    the CLI's --queries and every other comma-separated form.

    Empty items are kept, so parse_queries rejects them with their position ('mug,,cup' -> "query 2
    is empty") on every path alike, instead of one path dropping what another refuses.
    """
    return [part.strip() for part in text.split(QUERY_SEPARATOR)]


def queries_from_parameter(value: Iterable[str] | None) -> list[str]:
    """The queries a `queries` parameter value holds: [""] (or []) is ROS's spelling of "none",
    since a params file cannot hold an empty string array; any other list is taken as it is
    (so a blank entry beside real ones is rejected like everywhere else)."""
    items = list(value or [])
    if len(items) == 1 and isinstance(items[0], str) and not items[0].strip():
        return []
    return items


def _normalised(phrase: str) -> str:
    return re.sub(r"\s+", " ", phrase).strip().casefold()


def _hidden_character(text: str) -> str:
    """'' when `text` is clean, else what the first forbidden character is (named and U+ code).

    Tab, newline and carriage return are not reported: they are folded into single spaces.
    """
    for character in text:
        kind = _FORBIDDEN_CATEGORIES.get(unicodedata.category(character))
        if kind and character not in "\t\n\r":
            name = unicodedata.name(character, "")
            return f"{kind} (U+{ord(character):04X}{' ' + name if name else ''})"
    return ""


def parse_queries(queries: Iterable[str], max_chars: int = MAX_QUERY_CHARS) -> QuerySet:
    """Validate queries; QueryError names the first offending query and what is wrong with it."""
    if isinstance(queries, str):
        raise QueryError("queries must be a list of strings, not one string (use split_query_text)")
    classes: list[str] = []
    phrases: list[str] = []
    phrase_class: list[int] = []
    owner: dict[str, int] = {}
    for index, query in enumerate(queries):
        if not isinstance(query, str):
            raise QueryError(f"query {index + 1} is a {type(query).__name__}, not a string")
        hidden = _hidden_character(query)
        if hidden:
            raise QueryError(f"query {index + 1} contains {hidden}; phrases must be plain printable text")
        if len(query) > max_chars:
            raise QueryError(f"query {index + 1} has {len(query)} characters; at most {max_chars} are accepted "
                             f"(max_query_chars)")
        query = re.sub(r"\s+", " ", query).strip()
        if not query:
            raise QueryError(f"query {index + 1} is empty")
        synonyms = [s.strip() for s in query.split(SYNONYM_SEPARATOR)]
        if any(not s for s in synonyms):
            raise QueryError(f"query {query!r} has an empty synonym (two ';' in a row or at an end)")
        for synonym in synonyms:
            key = _normalised(synonym)
            if key in owner:
                first = classes[owner[key]] if owner[key] < len(classes) else query
                raise QueryError(f"duplicate query phrase {synonym!r} (also in {first!r})")
            owner[key] = len(classes)
            phrases.append(synonym)
            phrase_class.append(len(classes))
        classes.append(query)
    if len(classes) > MAX_CLASSES:
        raise QueryError(f"{len(classes)} queries; at most {MAX_CLASSES} fit a mono16 label image")
    return QuerySet(tuple(classes), tuple(phrases), tuple(phrase_class))


def background_phrases(text: str, max_chars: int = MAX_QUERY_CHARS) -> tuple[str, ...]:
    """The synonyms of a background_queries value ('' = no background); QueryError when malformed.

    The same rules as any query (length, control/format characters, duplicate phrases), so the node
    can refuse a bad value when it is set instead of every frame failing on it afterwards.
    """
    if not text.strip():
        return ()
    try:
        return parse_queries([text], max_chars=max_chars).phrases
    except QueryError as error:
        raise QueryError(f"background_queries: {error}") from None


def with_background(queries: QuerySet, background: tuple[str, ...]) -> QuerySet:
    """`queries` plus one hidden last class made of the background phrases.

    The background competes in every softmax like any class, so a region that matches a lone query
    no better than it matches "object" or "stuff" is not labelled with it. A background phrase that
    a query already uses is left out (the query keeps it); `queries` itself comes back when no
    background phrase is left, or when there are no queries to compete with.
    """
    taken = {_normalised(phrase) for phrase in queries.phrases}
    kept = tuple(phrase for phrase in background if _normalised(phrase) not in taken)
    if not kept or not len(queries):
        return queries
    hidden = len(queries.classes)
    return QuerySet(classes=(*queries.classes, BACKGROUND_CLASS), phrases=(*queries.phrases, *kept),
                    phrase_class=(*queries.phrase_class, *([hidden] * len(kept))))
