"""TextRegionNode: camera images + text queries in; labels, confidence, LabelInfo, detections,
overlay and region tokens out. A thin lifecycle adapter over textregion_ros.engine.

Lifecycle: configure loads the models, activate subscribes and enables the publishers,
deactivate unsubscribes, cleanup frees the models (and GPU memory). With `autostart` (default)
the node configures and activates itself, so `ros2 run textregion_ros textregion_node` works.

Threads: ROS callbacks only hand frames and queries over; one worker thread runs the models on
the newest frame (older ones are dropped and counted). ~/query is answered from the latest
frame's cached region tokens in its own reentrant callback group, concurrently with frame
processing and with other ~/query calls. New queries are encoded on a text thread; the switch itself
(queries, label values, LabelInfo) happens on the frame worker between frames, so every label
image and detection array agrees with the LabelInfo published before it.
"""
from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from textregion_msgs.srv import Find, Query, SetQueries

from ..params import BY_NAME, PARAMETERS
from ..engine import (
    EngineConfig,
    EngineError,
    ImageError,
    QueryError,
    QuerySet,
    Regions,
    TextRegionEngine,
    parse_queries,
    queries_from_parameter,
    split_query_text,
)
from . import conversions
from ..runtime.health import FrameHealth, ProblemLog, device_memory
from ..runtime.heap_trim import release_freed_memory
from .diagnostics import frame_count_values, status_message
from ..spatial import DepthSettings
from .depth_input import DepthInput, No3D, Spatial3D, TargetFrame, observed_3d, stamp_ns
from .frame_messages import FRAME_OUTPUTS, OUTPUTS, frame_messages
from .query_service import answer_query
from .find_service import answer_find
from .input_qos import QUERIES_INPUT, SERVICE_QOS, image_input_qos, incompatible_image_qos
from ..objects import FrameObjects
from ..outputs.class_ids import StableClassIds
from .compressed_input import CompressedImageError, as_image, input_topic
from .log_bridge import route_library_logging
from .image_conversions import imgmsg_to_numpy
from .parameters import check_value, combination_problem, declare_parameters, engine_config
from ..runtime.worker import LatestFrameWorker, WorkerCounts

from ..tooling.params_files import NODE_NAME
INPUT_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8")
NO_QUERIES = parse_queries([])


@dataclass
class ProcessedFrame:
    """The latest frame's regions, kept for re-publishing and for ~/query."""

    header: Header
    rgb: np.ndarray
    regions: Regions
    received: float  # monotonic time the frame was handed to the worker
    spatial: Optional[Spatial3D] = None  # its 3D, with use_depth and a paired depth image
    track_ids: Optional[np.ndarray] = None  # [R] uint32: each region's track


class TextRegionNode(LifecycleNode):
    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._lock = threading.Lock()
        self._engine: Optional[TextRegionEngine] = None
        self._worker: Optional[LatestFrameWorker] = None  # frames (and republish / config jobs)
        self._text_worker: Optional[LatestFrameWorker] = None  # query switches (text encoding)
        self._latest: Optional[ProcessedFrame] = None
        self._queries: QuerySet = NO_QUERIES
        # label value per query in force (stable_class_ids); the table lives as long as the node
        self._class_ids = StableClassIds()
        self._label_values: tuple[int, ...] = ()
        self._active = False
        self._syncing_queries_parameter = False
        self._pending_reconfigure: list[str] = []  # configure-time parameters changed since configure
        self._outputs: dict[str, Any] = {}
        self._inputs: list[Any] = []
        self._own_services: list[Any] = []
        self._stage_ms: dict[str, float] = {}
        # health: every received frame, rejected (bad input) and failed frames, processed frames
        self._health = FrameHealth()
        self._problems = ProblemLog()
        self._depth_input: Optional[DepthInput] = None
        self._target_frame: Optional[TargetFrame] = None
        # Reentrant: one ~/query encoding new phrases must not hold up another whose phrases are cached
        # (the text encoder locks its model, not its cache).
        self._query_group = ReentrantCallbackGroup()
        # Frames in a callback group of their own (depth + camera_info are polled: ros/polled_input.py).
        self._image_group = MutuallyExclusiveCallbackGroup()
        route_library_logging(self)  # the tracker's and memory's warnings reach /rosout
        declare_parameters(self)
        # tracks and memory live as long as the node (track ids are never reused); cleanup empties them
        self._objects = FrameObjects.from_parameters(self._values())
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        self._autostart_timer = None
        if self.get_parameter("autostart").value:
            self._autostart_timer = self.create_timer(0.05, self._autostart)

    # -- parameters -----------------------------------------------------------------------------
    def _value(self, name: str) -> Any:
        value = self.get_parameter(name).value
        if name == "queries":
            return queries_from_parameter(value)
        return list(value) if isinstance(value, (tuple, list)) or type(value).__name__ == "array" else value

    def _values(self, overrides: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        values = {parameter.name: self._value(parameter.name) for parameter in PARAMETERS}
        values.update(overrides or {})
        return values

    def _validate_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        changes = {p.name: (list(p.value) if isinstance(p.value, (list, tuple)) else p.value) for p in parameters}
        for name, value in changes.items():
            parameter = BY_NAME.get(name)
            reason = check_value(parameter, value) if parameter else None
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        limits = {name: changes.get(name, self._value(name)) for name in ("max_queries", "max_query_chars")}
        if "queries" in changes:
            reason = self._query_problem(queries_from_parameter(changes["queries"]), **limits)
            if reason:
                return SetParametersResult(successful=False, reason=f"queries: {reason}")
        in_force = len(self._queries)
        if "max_queries" in changes and changes["max_queries"] < in_force:
            return SetParametersResult(successful=False, reason=(
                f"max_queries = {changes['max_queries']} is below the {in_force} queries in force; set fewer "
                f"queries first"))
        reason = combination_problem(changes, self._value)
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _apply_parameters(self, parameters: list[Parameter]) -> None:
        names = {p.name for p in parameters}
        if "queries" in names and not self._syncing_queries_parameter:
            self._set_queries(self._value("queries"), source="parameter")
        if "max_rate_hz" in names and self._worker is not None:
            self._worker.set_max_rate(self._value("max_rate_hz"))
        if names & FrameObjects.PARAMETERS:
            self._objects.configure(self._values())
        if "stable_class_ids" in names and self._worker is not None:
            self._worker.submit_job("label_values", lambda: self._put_in_force(None, ""))
        if any(BY_NAME[name].engine for name in names if name in BY_NAME) and self._worker is not None:
            config = engine_config(self._values())
            # between frames, on the worker thread: a frame never sees two configs
            self._worker.submit_job("apply_config", lambda: self._apply_engine_config(config))

    def _apply_engine_config(self, config: EngineConfig) -> None:
        """Run-time fields apply now; configure-time ones stay pending (said once per change)."""
        engine = self._engine
        if engine is None:
            return
        pending = engine.apply_config(config)
        if pending and pending != self._pending_reconfigure:
            self.get_logger().warning(
                f"{', '.join(pending)} changed: applies at the next configure (cleanup, then configure); the "
                f"other parameters apply at once")
        self._pending_reconfigure = pending
        self._republish()

    # -- lifecycle ------------------------------------------------------------------------------
    def _autostart(self) -> None:
        self._autostart_timer.cancel()
        self.destroy_timer(self._autostart_timer)
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            self.trigger_activate()

    def state_label(self) -> str:
        """'unconfigured', 'inactive', 'active', 'finalized' or a transition state."""
        return self._state_machine.current_state[1]  # rclpy keeps no public accessor

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._value("target_frame"):
            try:
                self._target_frame = TargetFrame(self, self._value("target_frame"))
            except RuntimeError as error:
                self.get_logger().error(f"configure failed: {error}")
                return TransitionCallbackReturn.FAILURE
        try:
            config = engine_config(self._values())
            self.get_logger().info(f"loading models: {config.model_id} + SAM2 {config.sam2_model} on {config.device}")
            started = time.monotonic()
            self._engine = TextRegionEngine(config)
        except EngineError as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        except Exception as error:  # a model that cannot be built (e.g. CUDA out of memory)
            self.get_logger().error(f"configure failed while building the models: {type(error).__name__}: {error}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f"models ready in {time.monotonic() - started:.1f} s on {self._engine.device}")
        self._pending_reconfigure = []
        self._outputs = {name: self.create_lifecycle_publisher(output.message_type, f"~/{name}", output.qos())
                         for name, output in OUTPUTS.items()}
        self._own_services = [
            self.create_service(SetQueries, "~/set_queries", self._on_set_queries, qos_profile=SERVICE_QOS),
            self.create_service(Query, "~/query", self._on_query, qos_profile=SERVICE_QOS,
                                callback_group=self._query_group),
            self.create_service(Find, "~/find", self._on_find, qos_profile=SERVICE_QOS,
                                callback_group=self._query_group),
            self.create_service(Trigger, "~/clear_memory", self._on_clear_memory, qos_profile=SERVICE_QOS),
        ]
        self._worker = LatestFrameWorker(self._process_frame, self._on_worker_error)
        self._worker.set_max_rate(self._value("max_rate_hz"))
        self._worker.start()
        # query changes: encoded here, never on the frame worker; the newest request wins
        self._text_worker = LatestFrameWorker(self._switch_queries, self._on_worker_error)
        self._text_worker.start()
        ok, message = self._set_queries(self._value("queries"), source="parameter")
        if not ok:
            self.get_logger().warning(f"starting without queries: {message}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)
        self._active = True
        self._inputs = [
            self.create_subscription(
                *input_topic(self, "image", self._value("image_transport")), self._on_image,
                image_input_qos(self._value("image_reliability")), callback_group=self._image_group,
                event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_image_qos)),
            self.create_subscription(String, "queries", self._on_queries_topic, QUERIES_INPUT),
        ]
        if self._value("use_depth"):
            self._depth_input = DepthInput(self, self._target_frame, self._value("image_transport"))
        self._worker.submit_job("label_info", self._publish_label_info)  # LabelInfo: always from the worker
        self.get_logger().info(
            f"active: listening on {self.resolve_topic_name('image')}, {len(self._queries)} queries")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        return super().on_deactivate(state)

    def _unsubscribe(self) -> None:
        self._active = False
        self._health.qos_problem = ""
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        if self._depth_input is not None:
            self._depth_input.close()
            self._depth_input = None

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"lifecycle error in state {state.label}; releasing the models")
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        for worker in (self._text_worker, self._worker):
            if worker is not None:
                worker.stop()
        self._worker = self._text_worker = None
        with self._lock:
            self._queries, self._label_values = NO_QUERIES, ()
        self._target_frame = None
        for service in self._own_services:
            self.destroy_service(service)
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._own_services, self._outputs = [], {}
        with self._lock:
            self._latest = None
        self._objects.reset()  # open tracks close and the memory empties; track ids keep counting
        if self._engine is not None:
            self._engine.close()
            self._engine = None
            release_freed_memory()  # else glibc keeps the models' memory in its arenas
            self.get_logger().info("models freed")  # cleanup and shutdown both end here: say it happened

    # -- inputs ---------------------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        self._health.on_received()
        if self._worker is not None:
            self._worker.submit_frame((msg, time.monotonic()))

    def _on_queries_topic(self, msg: String) -> None:
        if not msg.data.strip():
            self._problem("queries-empty", "rejected queries from the topic: the string is empty")
            return
        self._set_queries(split_query_text(msg.data), source="topic")

    def _on_set_queries(self, request: SetQueries.Request, response: SetQueries.Response) -> SetQueries.Response:
        response.success, response.message = self._set_queries(list(request.queries), source="service")
        return response

    def _parse_queries(self, queries: list[str], max_queries: Optional[int] = None,
                       max_query_chars: Optional[int] = None) -> QuerySet:
        """The one validation of every query path (topic, service, parameter, ~/query): QueryError if bad."""
        parsed = parse_queries(queries, max_chars=max_query_chars or self._value("max_query_chars"))
        limit = max_queries or self._value("max_queries")
        if len(parsed) > limit:
            raise QueryError(f"{len(parsed)} queries exceed max_queries = {limit}")
        return parsed

    def _query_problem(self, queries: list[str], **limits: Any) -> Optional[str]:
        try:
            self._parse_queries(queries, **limits)
        except QueryError as error:
            return str(error)
        return None

    def _set_queries(self, queries: list[str], source: str) -> tuple[bool, str]:
        """Validate now; encode on the text thread; switch atomically once the embeddings are ready.

        Frames keep using the queries in force meanwhile, so new phrases never hold up a frame.
        """
        try:
            parsed = self._parse_queries(queries)
        except QueryError as error:
            problem = str(error)
            self._problem(f"queries-{source}-{problem}", f"rejected queries from the {source}: {problem}")
            return False, problem
        if source != "parameter" and list(parsed.classes) != self._value("queries"):
            self._syncing_queries_parameter = True
            try:
                self.set_parameters([Parameter("queries", Parameter.Type.STRING_ARRAY, list(parsed.classes))])
            finally:
                self._syncing_queries_parameter = False
        summary = ", ".join(parsed.classes) if len(parsed) <= 10 else f"{', '.join(parsed.classes[:10])}, ..."
        message = f"{len(parsed)} queries" + (f": {summary}" if len(parsed) else "")
        if self._text_worker is None:  # not configured: the parameter is read at configure
            return True, message + " (in force after configure)"
        self._text_worker.submit_frame((parsed, source))
        return True, message

    def _switch_queries(self, item: tuple[QuerySet, str]) -> None:
        """Text thread: encode the new phrases, then make them the queries in force."""
        parsed, source = item
        engine = self._engine
        if engine is None:
            return
        if len(parsed):
            engine.prepare(parsed)
        worker = self._worker
        if worker is not None:
            worker.submit_job("switch_queries", lambda: self._put_in_force(parsed, source))

    def _put_in_force(self, parsed: Optional[QuerySet], source: str) -> None:
        """Frame worker, between frames: new queries (None: the same, relabelled after a stable_class_ids
        change) and their LabelInfo, then the latest frame again. Every frame published before used the
        old LabelInfo, every one after uses the new: an output never disagrees with the LabelInfo before it."""
        with self._lock:
            old = (self._queries.classes, self._label_values)
            self._queries = self._queries if parsed is None else parsed
            self._label_values = self._values_of(self._queries)
            changed = old != (self._queries.classes, self._label_values)
        if changed:
            self._publish_label_info()
            self._republish()
        if changed and parsed is not None:
            self.get_logger().info(f"queries from the {source} in force: {len(parsed)} "
                                   f"({', '.join(parsed.classes[:10])}{', ...' if len(parsed) > 10 else ''})")

    # -- frame processing (worker thread) -------------------------------------------------------
    def _process_frame(self, item: tuple[Image, float]) -> Optional[bool]:
        """Worker thread: one frame through the engine; False = rejected (counted apart from failures)."""
        msg, received = item
        engine = self._engine
        if engine is None or not self._active:
            return None
        try:  # a CompressedImage is decoded here, on the worker: only frames processed cost a decode
            msg = as_image(msg)
        except CompressedImageError as error:
            return self._reject(f"compressed: {str(error)[:60]}", f"dropped a compressed image: {error}")
        if msg.encoding not in INPUT_ENCODINGS:
            return self._reject(f"encoding {msg.encoding}",
                                f"dropped an image with encoding {msg.encoding!r}; supported: "
                                f"{', '.join(INPUT_ENCODINGS)}")
        try:
            rgb = imgmsg_to_numpy(msg, "rgb8")
        except ValueError as error:
            return self._reject(str(error)[:80], f"dropped an image: {error}")
        started = time.monotonic()
        try:
            regions = engine.regions(rgb)
        except ImageError as error:  # the engine's verdict on the pixels (empty, too large): bad input
            return self._reject(str(error)[:80], f"dropped an image: {error}")
        spatial = self._spatial_of(msg.header, regions)
        track_ids = self._objects.observe(stamp_ns(msg.header), msg.header.frame_id, regions, observed_3d(spatial))
        frame = ProcessedFrame(msg.header, rgb, regions, received, spatial, track_ids)
        with self._lock:  # the queries and label values change on this thread only (_put_in_force)
            self._latest = frame
            queries, label_values = self._queries, self._label_values
        self._publish_outputs(frame, queries, label_values)
        info = self._depth_input.camera_info_for(msg.header) if self._depth_input is not None else None
        if info is not None:  # ~/camera_info: the colour camera's, stamped like ~/labels
            self._outputs["camera_info"].publish(info)
        self._health.on_processed(time.monotonic() - started)
        return True

    def _spatial_of(self, header: Header, regions: Regions) -> Optional[Spatial3D]:
        """The frame's 3D (with use_depth), or None with the reason counted and logged once."""
        depth = self._depth_input
        if depth is None:
            return None
        settings = DepthSettings.from_parameters(self._values())
        try:
            # The soft masks hold clamped SAM2 logits: a pixel is in the region where the logit is > 0
            # (mask probability > 0.5), the rule of the region's own area and box.
            spatial = depth.spatial(header, regions.masks > 0, settings, self._value("depth_sync_tolerance_s"),
                                    self._value("tf_timeout_s"))
        except No3D as reason:
            self._health.without_3d.tick(str(reason))
            self._problem(f"3d-{reason.key}", f"no 3D for a frame: {reason}")
            return None
        if spatial.boxes is None:
            self._health.without_3d.tick(spatial.problem)
            self._problem(f"3d-{spatial.problem[:60]}", f"no 3D published for a frame: {spatial.problem}")
        return spatial

    def _reject(self, reason: str, message: str) -> bool:
        self._health.rejected.tick(reason)
        self._problem(f"image-{reason}", message)
        return False

    def _republish(self) -> None:
        """Outputs of the latest frame for the queries now in force: text work only."""
        with self._lock:
            frame, queries, label_values = self._latest, self._queries, self._label_values
        if frame is not None and self._active:
            self._publish_outputs(frame, queries, label_values, republish=True)

    def _wanted(self) -> set[str]:
        """Frame outputs someone subscribes to and whose switch is on: nothing else is computed."""
        wanted = set()
        for name in FRAME_OUTPUTS:
            publisher, switch = self._outputs.get(name), OUTPUTS[name].switch
            if publisher is not None and (not switch or self._value(switch)) and publisher.get_subscription_count():
                wanted.add(name)
        return wanted

    def _publish_outputs(self, frame: ProcessedFrame, queries: QuerySet, label_values: tuple[int, ...],
                         republish: bool = False) -> None:
        engine = self._engine
        if engine is None:
            return
        started = time.perf_counter()
        seconds = dict(frame.regions.timings)
        messages = frame_messages(engine, frame.rgb, frame.regions, queries, frame.header, self._wanted(), seconds,
                                  frame.spatial, frame.track_ids, label_values)
        for name, msg in messages.items():
            self._outputs[name].publish(msg)
        stage_ms = {name: 1000.0 * s for name, s in seconds.items()}
        stage_ms["outputs"] = 1000.0 * (time.perf_counter() - started)  # text + painting + messages
        if republish:  # new queries on the same frame: its receipt-to-output latency stays the frame's own
            stage_ms["total_since_receipt"] = self._stage_ms.get("total_since_receipt", 0.0)
        else:
            stage_ms["total_since_receipt"] = 1000.0 * (time.monotonic() - frame.received)
        self._stage_ms = stage_ms

    def _publish_label_info(self) -> None:
        publisher = self._outputs.get("label_info")
        if publisher is None or not self._active:
            return
        with self._lock:
            classes, values = self._queries.classes, self._label_values
            frame_id = self._latest.header.frame_id if self._latest else ""
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=frame_id)
        publisher.publish(conversions.label_info(classes, header, float(self._value("prob_threshold")), values))

    def _values_of(self, queries: QuerySet) -> tuple[int, ...]:
        """Label values of the queries: stable ones (assigned on first sight, kept for the node's
        lifetime) or, with stable_class_ids false, the class index. Call under self._lock."""
        if self._value("stable_class_ids"):
            return self._class_ids.assign(queries.classes)
        return tuple(range(len(queries)))

    # -- ~/query ----------------------------------------------------------------------------------
    def _on_query(self, request: Query.Request, response: Query.Response) -> Query.Response:
        with self._lock:
            frame = self._latest
        answer_query(self._engine, frame, request, response, self._parse_queries)
        if not response.success:
            self._problem(f"query-{response.message[:60]}", f"~/query failed: {response.message}")
        return response

    # -- ~/find and ~/clear_memory ---------------------------------------------------------------
    def _on_find(self, request: Find.Request, response: Find.Response) -> Find.Response:
        answer_find(self._engine, self._objects.memory if self._engine is not None else None, request, response,
                    self._parse_queries)
        if not response.success:
            self._problem(f"find-{response.message[:60]}", f"~/find failed: {response.message}")
        return response

    def _on_clear_memory(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        forgotten = len(self._objects.memory)
        self._objects.memory.clear()
        response.success, response.message = True, f"forgot {forgotten} objects"
        self.get_logger().info(f"~/clear_memory: {response.message}")
        return response

    # -- problems and diagnostics ---------------------------------------------------------------
    def _problem(self, key: str, message: str) -> None:
        if self._problems.report(key, message):
            self.get_logger().warning(message + " (further repeats are counted in /diagnostics, not logged)")

    def _on_worker_error(self, error: BaseException, kind: str) -> None:
        if kind == "frame":
            self._health.failed.tick()
        reason = f"{type(error).__name__}: {error}"
        self._problem(f"worker-{kind}-{type(error).__name__}-{str(error)[:60]}",
                      f"processing failed ({kind}): {reason}; continuing with the next frame")

    def _on_incompatible_image_qos(self, info: QoSRequestedIncompatibleQoSInfo) -> None:
        """A publisher on `image` that this subscription can never hear: say so instead of waiting silently."""
        policy, self._health.qos_problem = incompatible_image_qos(info, self._value("image_reliability"))
        self._problem(f"qos-{policy}", self._health.qos_problem)

    def _publish_diagnostics(self) -> None:
        state = self.state_label()
        counts = self._worker.counts if self._worker is not None else WorkerCounts()
        device = str(self._engine.device) if self._engine is not None else "none"
        values = {
            "state": state,
            "device": device,
            "model": self._engine.config.model_id if self._engine is not None else "",
            "queries": str(len(self._queries)),
            **self._health.values(),
            **frame_count_values(counts),
            "problems": str(self._problems.total),
            "last_problem": self._problems.last,
            "pending_reconfigure": ", ".join(self._pending_reconfigure),
            **self._objects.diagnostics(),
            **(self._depth_input.rates() if self._depth_input is not None else {}),
            **{f"latency_ms_{name}": f"{ms:.1f}" for name, ms in self._stage_ms.items()},
            **device_memory(device),
        }
        level, message = self._health.assess(state, self._problems.last, tuple(self._pending_reconfigure))
        self._diagnostics.publish(status_message(
            f"{self.get_name()}: TextRegion", self.get_fully_qualified_name(), level, message, values,
            self.get_clock().now().to_msg()))


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(args: Optional[list[str]] = None) -> None:
    """Spin the node; on SIGINT/SIGTERM stop the worker before the ROS context goes away."""
    # rclpy's own handlers would invalidate the context while a frame is still being published.
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    # Installed explicitly for both: a process started with SIGINT ignored (a script's `node &`,
    # some process managers) gets no KeyboardInterrupt from Python and would ignore Ctrl-C.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_keyboard_interrupt)
    node = TextRegionNode()
    executor = MultiThreadedExecutor(num_threads=4)
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.on_shutdown(None)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
