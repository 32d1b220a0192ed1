"""The node's queries in one owner (ROS-free): the parse rule, validation, the queries in force and the switch.

The switch rule, stated here once: a label image, a detection array and the LabelInfo published before
them must agree. So new phrases are encoded on a text thread of its own (they never hold up a frame),
and the switch itself (the queries, their label values and the LabelInfo that names them) happens on
the frame worker between frames, after the frame in hand is published: every output before it used
the old LabelInfo, every output after it uses the new one. Readers (the frame worker, ~/query, the
LabelInfo publisher) take the queries and their label values together in one snapshot.

Every route (the `queries` parameter, the queries topic, ~/set_queries, ~/query, ~/find) parses with
the one rule, `parse_within`: the engine's rule for one query (non-empty, distinct phrases, no hidden
characters, at most max_query_chars) and at most max_queries classes.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Mapping, Optional, Sequence

from ..engine.errors import QueryError
from ..engine.queries import QuerySet, parse_queries, queries_from_parameter
from ..outputs.class_ids import StableClassIds
from .worker import ErrorHandler, LatestFrameWorker

_LOG = logging.getLogger(__name__)
NO_QUERIES = parse_queries([])
Job = Callable[[], None]


def _no_prepare(parsed: QuerySet) -> None:
    """No text encoder while stopped."""


def _no_job(key: str, job: Job) -> None:
    """No frame worker while stopped: a job has nowhere to run."""


def _nothing() -> None:
    """Nothing to publish while stopped."""


def parse_within(queries: Sequence[str], max_queries: int, max_query_chars: int) -> QuerySet:
    """The one query rule of the node: QueryError saying which query breaks what."""
    parsed = parse_queries(list(queries), max_chars=max_query_chars)
    if len(parsed) > max_queries:
        raise QueryError(f"{len(parsed)} queries exceed max_queries = {max_queries}")
    return parsed


def request_set(queries: Sequence[str], parse: Callable[[list[str]], QuerySet]) -> tuple[Optional[QuerySet], str]:
    """A service request's queries (~/query, ~/find) by `parse`: (query set, '') or (None, why); none is refused."""
    try:
        parsed = parse(list(queries))
    except QueryError as error:
        return None, str(error)
    if not len(parsed):
        return None, "no queries given"
    return parsed, ""


def summary(classes: Sequence[str]) -> str:
    """'2 queries: red mug, floor' (the first ten named), for service answers and the log."""
    shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    return f"{len(classes)} queries" + (f": {shown}" if len(classes) else "")


class QuerySwitch:
    """Owns the queries of a node: parses and validates them, holds those in force, switches between frames.

    `value(name)` reads the setting in force (max_queries, max_query_chars, stable_class_ids). The text
    worker exists between `start` (configure) and `stop` (cleanup); a switch requested while stopped only
    changes what `start` will read from the `queries` setting.
    """

    def __init__(self, value: Callable[[str], Any], on_error: ErrorHandler,
                 log: Callable[[str], None] = _LOG.info) -> None:
        self._value = value
        self._on_error = on_error
        self._log = log
        self._lock = threading.Lock()
        self._queries: QuerySet = NO_QUERIES
        self._values: tuple[int, ...] = ()
        self._class_ids = StableClassIds()  # lives as long as the owner: a class keeps its value
        self._validated: dict[tuple[str, ...], QuerySet] = {}  # parsed by validation, for the apply
        self._text_worker: Optional[LatestFrameWorker] = None
        self._prepare: Callable[[QuerySet], Any] = _no_prepare
        self._between_frames: Callable[[str, Job], None] = _no_job
        self._on_switched: Job = _nothing

    # -- the parse rule -----------------------------------------------------------------------------------
    def parse(self, queries: Sequence[str], max_queries: Optional[int] = None,
              max_query_chars: Optional[int] = None) -> QuerySet:
        """`queries` by the one rule, under the limits in force unless others are given (being set with them)."""
        return parse_within(queries, max_queries or self._value("max_queries"),
                            max_query_chars or self._value("max_query_chars"))

    def request_problem(self, queries: Sequence[str]) -> str:
        """Why the topic's or ~/set_queries' list cannot become the `queries` setting ('' when it can).

        [""] means "none" only in a parameter (a params file cannot hold an empty list); sent as a request
        it is one blank query, refused in the rule's own words."""
        if queries_from_parameter(queries) == list(queries):
            return ""
        try:
            self.parse(list(queries))
        except QueryError as error:
            return str(error)
        return "query 1 is empty"

    # -- validation of a change of the settings -------------------------------------------------------
    def change_problem(self, changes: Mapping[str, Any], current: Callable[[str], Any]) -> Optional[str]:
        """Why a change of the settings breaks the query rules (None when it does not).

        New queries are parsed under the limits being set with them, and kept for `apply`; max_queries
        may not drop below the queries in force."""
        if "queries" in changes:
            limits = {name: changes.get(name, current(name)) for name in ("max_queries", "max_query_chars")}
            raw = queries_from_parameter(changes["queries"])
            try:
                parsed = self.parse(raw, **limits)
            except QueryError as error:
                return f"queries: {error}"
            with self._lock:
                self._validated = {tuple(raw): parsed}
        in_force = len(self)
        if "max_queries" in changes and changes["max_queries"] < in_force:
            return (f"max_queries = {changes['max_queries']} is below the {in_force} queries in force; set "
                    f"fewer queries first")
        return None

    def apply(self, value: Sequence[str]) -> None:
        """The `queries` setting changed (validated): switch to it (parsed again only when another
        validation came in between)."""
        raw = queries_from_parameter(value)
        with self._lock:
            parsed = self._validated.pop(tuple(raw), None)
        self.switch_to(parsed if parsed is not None else self.parse(raw))

    # -- the queries in force -----------------------------------------------------------------------------
    def snapshot(self) -> tuple[QuerySet, tuple[int, ...]]:
        """The queries in force and their label values, taken together."""
        with self._lock:
            return self._queries, self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._queries)

    @property
    def text_worker(self) -> Optional[LatestFrameWorker]:
        return self._text_worker

    # -- the switch -------------------------------------------------------------------------------------
    def start(self, prepare: Callable[[QuerySet], Any], between_frames: Callable[[str, Job], None],
              on_switched: Job) -> None:
        """Start the text worker. `prepare` encodes a query set's phrases (text thread); `between_frames`
        runs a job on the frame worker between frames; `on_switched` (frame worker) publishes the new
        LabelInfo and the latest frame again."""
        self._prepare, self._between_frames, self._on_switched = prepare, between_frames, on_switched
        self._text_worker = LatestFrameWorker(self._encode, self._on_error, name="textregion_text")
        self._text_worker.start()

    def stop(self) -> None:
        """Stop the text worker and drop the hooks (they reach the models, which must be freeable)."""
        worker, self._text_worker = self._text_worker, None
        if worker is not None:
            worker.stop()
        self._prepare, self._between_frames, self._on_switched = _no_prepare, _no_job, _nothing

    def clear(self) -> None:
        """No queries in force (cleanup, after the frame worker stopped); stable label values stay reserved."""
        with self._lock:
            self._queries, self._values = NO_QUERIES, ()

    def switch_to(self, parsed: QuerySet) -> None:
        """Encode on the text thread, then switch between frames; the newest request wins."""
        worker = self._text_worker  # None while stopped: the setting is read at start
        if worker is not None:
            worker.submit_frame(parsed)

    def relabel(self) -> None:
        """stable_class_ids changed: the same queries, their label values (and LabelInfo) again, between frames."""
        self._between_frames("label_values", lambda: self._put_in_force(None))

    def _encode(self, parsed: QuerySet) -> None:
        """Text thread: encode the new phrases, then hand the switch to the frame worker."""
        if len(parsed):
            self._prepare(parsed)
        self._between_frames("switch_queries", lambda: self._put_in_force(parsed))

    def _put_in_force(self, parsed: Optional[QuerySet]) -> None:
        """Frame worker, between frames: `parsed` (None: the same queries, relabelled) in force; when that
        changed the queries or their label values, the new LabelInfo and the latest frame go out."""
        stable = bool(self._value("stable_class_ids"))
        with self._lock:
            old = (self._queries.classes, self._values)
            self._queries = self._queries if parsed is None else parsed
            classes = self._queries.classes
            self._values = self._class_ids.assign(classes) if stable else tuple(range(len(classes)))
            changed = old != (classes, self._values)
        if changed:
            self._on_switched()
        if changed and parsed is not None:
            self._log(f"in force: {summary(parsed.classes)}")
