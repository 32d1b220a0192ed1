"""The node's services and its queries topic: ~/set_queries, ~/query, ~/find, ~/forget, ~/clear_memory.

The services live as long as the node. Those that use the models are answered inside the work gate
(runtime/work_gate.py): refused with the reason while the models are not loaded, and a cleanup waits
for the calls inside. The queries topic and ~/set_queries set the `queries` parameter, so every query
change is validated once (the node's QuerySwitch, through its parameter routing) and the parameter
always says what is in force.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.parameter import Parameter
from std_msgs.msg import String
from std_srvs.srv import Trigger
from textregion_msgs.srv import Find, Forget, Query, SetQueries

from ..engine import TextRegionEngine, queries_from_parameter, split_query_text
from ..objects import TrackedObjects
from ..perception import FramePipeline
from ..runtime.query_switch import QuerySwitch, summary
from ..runtime.work_gate import WorkGate
from .find_service import answer_clear_memory, answer_find, answer_forget
from .frame_outputs import FrameOutputs
from .input_qos import SERVICE_QOS
from .query_service import answer_query

Models = Callable[[], tuple[Optional[TextRegionEngine], Optional[FramePipeline]]]


class NodeServices:
    """Creates the node's services on `node` and answers them."""

    def __init__(self, node: Any, gate: WorkGate, queries: QuerySwitch, outputs: FrameOutputs,
                 objects: TrackedObjects, models: Models, problem: Callable[[str, str], None]) -> None:
        self._node, self._gate, self._queries, self._outputs = node, gate, queries, outputs
        self._objects, self._models, self._problem = objects, models, problem
        # Reentrant: one ~/query encoding new phrases must not hold up another whose phrases are cached
        # (the text encoder locks its model, not its cache).
        group = ReentrantCallbackGroup()
        self.services = [
            node.create_service(SetQueries, "~/set_queries", self.on_set_queries, qos_profile=SERVICE_QOS),
            node.create_service(Query, "~/query", self.on_query, qos_profile=SERVICE_QOS, callback_group=group),
            node.create_service(Find, "~/find", self.on_find, qos_profile=SERVICE_QOS, callback_group=group),
            node.create_service(Trigger, "~/clear_memory", self.on_clear_memory, qos_profile=SERVICE_QOS),
            node.create_service(Forget, "~/forget", self.on_forget, qos_profile=SERVICE_QOS),
        ]

    # -- queries: the topic and ~/set_queries set the `queries` parameter ------------------------------
    def on_queries_topic(self, msg: String) -> None:
        if not msg.data.strip():
            self._problem("queries-empty", "rejected queries from the topic: the string is empty")
            return
        self._request_queries(split_query_text(msg.data), source="topic")

    def on_set_queries(self, request: SetQueries.Request, response: SetQueries.Response) -> SetQueries.Response:
        response.success, response.message = self._request_queries(list(request.queries), source="service")
        return response

    def _request_queries(self, queries: list[str], source: str) -> tuple[bool, str]:
        """Set the `queries` parameter: (True, what is now requested) or (False, why not)."""
        problem = self._queries.request_problem(queries)
        if not problem:
            result = self._node.set_parameters([Parameter("queries", Parameter.Type.STRING_ARRAY, list(queries))])[0]
            problem = "" if result.successful else result.reason.removeprefix("queries: ")
        if problem:
            self._problem(f"queries-{source}-{problem}", f"rejected queries from the {source}: {problem}")
            return False, problem
        message = summary(queries_from_parameter(list(queries)))
        return True, message + ("" if self._queries.text_worker is not None else " (in force after configure)")

    # -- services that use the models: inside the work gate --------------------------------------------
    def _gated(self, service: str, response: Any, answer: Callable[[], None]) -> Any:
        """A service answered inside the work gate: refused with the reason while the models are not
        loaded (never run on a closed engine); a failed answer is counted as a problem."""
        with self._gate.entered_or_refused() as refusal:
            if refusal is not None:
                response.success, response.message = False, refusal
                return response
            answer()
        if not response.success:
            self._problem(f"{service}-{response.message[:60]}", f"~/{service} failed: {response.message}")
        return response

    def on_query(self, request: Query.Request, response: Query.Response) -> Query.Response:
        return self._gated("query", response, lambda: answer_query(
            self._models()[1], self._outputs.latest, request, response, self._queries.parse))

    def on_find(self, request: Find.Request, response: Find.Response) -> Find.Response:
        return self._gated("find", response, lambda: answer_find(
            self._models()[0], self._objects.memory, request, response, self._queries.parse,
            self._objects.persistence))

    def on_forget(self, request: Forget.Request, response: Forget.Response) -> Forget.Response:
        # gated: the store is opened at configure and closed at cleanup
        self._gated("forget", response, lambda: answer_forget(self._objects.memory, self._objects.persistence,
                                                              request, response))
        self._node.get_logger().info(f"~/forget: {response.message}")
        return response

    def on_clear_memory(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        answer_clear_memory(self._objects, response)
        self._node.get_logger().info(f"~/clear_memory: {response.message}")
        return response
