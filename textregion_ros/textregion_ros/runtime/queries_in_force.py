"""The queries in force and their label values, switched atomically between frames (ROS-free).

Why a class of its own: a label image, a detection array and the LabelInfo published before them must
agree, so the queries and their label values change together, on the frame worker only, and every
reader (the frame worker, ~/query, the LabelInfo publisher) takes both in one snapshot.
"""
from __future__ import annotations

import threading
from typing import Optional, Sequence

from ..engine import QueryError, QuerySet, parse_queries
from ..outputs.class_ids import StableClassIds

NO_QUERIES = parse_queries([])


def parse_within(queries: Sequence[str], max_queries: int, max_query_chars: int) -> QuerySet:
    """The node's query rule: the engine's (non-empty, distinct phrases, no hidden characters, at most
    max_query_chars each) and at most max_queries classes; QueryError saying which is broken."""
    parsed = parse_queries(list(queries), max_chars=max_query_chars)
    if len(parsed) > max_queries:
        raise QueryError(f"{len(parsed)} queries exceed max_queries = {max_queries}")
    return parsed


def summary(classes: Sequence[str]) -> str:
    """'2 queries: red mug, floor' (the first ten named), for service answers and the log."""
    shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    return f"{len(classes)} queries" + (f": {shown}" if len(classes) else "")


class QueriesInForce:
    """Queries + label values (stable ones, kept for the owner's lifetime, or the class index)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: QuerySet = NO_QUERIES
        self._values: tuple[int, ...] = ()
        self._class_ids = StableClassIds()  # lives as long as the node: a class keeps its value

    def snapshot(self) -> tuple[QuerySet, tuple[int, ...]]:
        with self._lock:
            return self._queries, self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._queries)

    def put(self, queries: Optional[QuerySet], stable_values: bool) -> bool:
        """Make `queries` (None: the same ones, relabelled) the ones in force; True when the queries or
        their label values changed (the caller then publishes the new LabelInfo)."""
        with self._lock:
            old = (self._queries.classes, self._values)
            self._queries = self._queries if queries is None else queries
            classes = self._queries.classes
            self._values = self._class_ids.assign(classes) if stable_values else tuple(range(len(classes)))
            return old != (classes, self._values)

    def clear(self) -> None:
        """No queries (cleanup); the stable values stay reserved for their classes."""
        with self._lock:
            self._queries, self._values = NO_QUERIES, ()
