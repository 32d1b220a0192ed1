"""The node's query route, split out of node.py by concern (a mixin of TextRegionNode).

One route for every way queries arrive: the queries topic and ~/set_queries set the `queries`
parameter, so each change is validated once (the node's on-set callback, ros/parameters.changes_problem)
and applied by its post-set callback; the parameter always says what is in force. New phrases are
encoded on the text thread and the switch itself (queries, label values, LabelInfo) happens on the
frame worker between frames, so every label image and detection array agrees with the LabelInfo
published before it.
"""
from __future__ import annotations

from typing import Optional

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter
from std_msgs.msg import Header, String
from textregion_msgs.srv import SetQueries

from ..engine import QueryError, QuerySet, queries_from_parameter, split_query_text
from ..runtime.queries_in_force import parse_within, summary
from . import conversions


class QueryRoute:
    """Needs from the node: _value, _problem, _between_frames, _republish, _engine, _text_worker, _in_force,
    _outputs, _active, _lock, _latest, get_logger, get_clock, set_parameters."""

    def _on_queries_topic(self, msg: String) -> None:
        if not msg.data.strip():
            self._problem("queries-empty", "rejected queries from the topic: the string is empty")
            return
        self._request_queries(split_query_text(msg.data), source="topic")

    def _on_set_queries(self, request: SetQueries.Request, response: SetQueries.Response) -> SetQueries.Response:
        response.success, response.message = self._request_queries(list(request.queries), source="service")
        return response

    def _parse_queries(self, queries: list[str], max_queries: Optional[int] = None,
                       max_query_chars: Optional[int] = None) -> QuerySet:
        """The one validation of every query path (topic, service, parameter, ~/query): QueryError if bad."""
        return parse_within(queries, max_queries or self._value("max_queries"),
                            max_query_chars or self._value("max_query_chars"))

    def _request_queries(self, queries: list[str], source: str) -> tuple[bool, str]:
        """Topic and service set the `queries` parameter: one route, validated once (_validate_parameters)
        and applied by the post-set callback, so the parameter always says what is in force."""
        if queries_from_parameter(queries) != list(queries):  # [""]: "none" for a parameter, a blank query here
            result = SetParametersResult(successful=False, reason=blank_problem(self._parse_queries, queries))
        else:
            result = self.set_parameters([Parameter("queries", Parameter.Type.STRING_ARRAY, list(queries))])[0]
        if not result.successful:
            problem = result.reason.removeprefix("queries: ")
            self._problem(f"queries-{source}-{problem}", f"rejected queries from the {source}: {problem}")
            return False, problem
        message = summary(queries_from_parameter(list(queries)))
        return True, message + ("" if self._text_worker is not None else " (in force after configure)")

    def _switch_to(self, parsed: QuerySet) -> None:
        """Encode on the text thread, then switch between frames: new phrases never hold up a frame."""
        worker = self._text_worker  # None when not configured: the parameter is read at configure
        if worker is not None:
            worker.submit_frame(parsed)

    def _encode_queries(self, parsed: QuerySet) -> None:
        """Text thread: encode the new phrases, then make them the queries in force."""
        engine = self._engine
        if engine is None:
            return
        if len(parsed):
            engine.prepare(parsed)
        self._between_frames("switch_queries", lambda: self._put_in_force(parsed))

    def _put_in_force(self, parsed: Optional[QuerySet]) -> None:
        """Frame worker, between frames: new queries (None: the same, relabelled after a stable_class_ids
        change) and their LabelInfo, then the latest frame again. Every frame published before used the
        old LabelInfo, every one after uses the new: an output never disagrees with the LabelInfo before it."""
        changed = self._in_force.put(parsed, bool(self._value("stable_class_ids")))
        if changed:
            self._publish_label_info()
            self._republish()
        if changed and parsed is not None:
            self.get_logger().info(f"in force: {summary(parsed.classes)}")

    def _publish_label_info(self) -> None:
        publisher = self._outputs.get("label_info")
        if publisher is None or not self._active:
            return
        queries, values = self._in_force.snapshot()
        with self._lock:
            frame_id = self._latest.header.frame_id if self._latest else ""
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=frame_id)
        publisher.publish(conversions.label_info(queries.classes, header, float(self._value("prob_threshold")), values))


def blank_problem(parse: object, queries: list[str]) -> str:
    """The query rule's own words for a request of one blank query."""
    try:
        parse(queries)
    except QueryError as error:
        return str(error)
    return "query 1 is empty"
