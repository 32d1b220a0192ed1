"""TextRegionNode: camera images + text queries in; labels, confidence, LabelInfo, detections,
overlay and region tokens out. A thin lifecycle adapter over textregion_ros.perception (the frame pipeline).

Lifecycle: configure loads the models, activate subscribes and enables the publishers,
deactivate unsubscribes (the frame in flight ends first, counted as dropped), cleanup frees the models
(and GPU memory). The services live as long as the node: a call while the models are not loaded is
refused with the reason, and cleanup waits for the calls already running (runtime/work_gate.py). With `autostart` (default)
the node configures and activates itself, so `ros2 run textregion_ros textregion_node` works.

Threads: ROS callbacks only hand frames and queries over; one worker thread runs the models on
the newest frame (older ones are dropped and counted). ~/query is answered from the latest
frame's cached region tokens in its own reentrant callback group, concurrently with frame
processing and with other ~/query calls. New queries are encoded on a text thread; the switch itself
(queries, label values, LabelInfo) happens on the frame worker between frames, so every label
image and detection array agrees with the LabelInfo published before it.

With `overlap_host_stage`, a second thread describes and publishes each frame while the worker runs
the models on the next (runtime/host_stage.py); switches wait until that thread has published its frame.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Optional

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger
from textregion_msgs.srv import Find, Forget, Query, SetQueries

from .. import params as params_module
from ..params import BY_NAME, PARAMETERS
from ..engine import (
    EngineConfig,
    EngineError,
    ImageError,
    QueryError,
    QuerySet,
    TextRegionEngine,
    queries_from_parameter,
)
from . import conversions
from ..runtime.callback_errors import CallbackErrors
from ..runtime.health import FrameHealth, ProblemLog, device_memory
from ..runtime.work_gate import LOADING, NOT_CONFIGURED, RELEASING, WorkGate
from ..runtime.heap_trim import release_freed_memory
from .diagnostics import matched_endpoints, other_nodes_named_like, status_message
from ..perception import FrameInput, FramePipeline, PipelineSettings
from .depth_input import DepthInput, TargetFrame
from .frame_messages import FRAME_OUTPUTS, OUTPUTS, frame_messages
from .query_service import LatestFrame, answer_query
from .find_service import answer_clear_memory, answer_find, answer_forget
from .input_qos import QUERIES_INPUT, SERVICE_QOS, image_input_qos, incompatible_image_qos
from ..objects import FrameObjects
from ..objects.persistent_memory import start_persistence, store_level
from .compressed_input import InputImageError, frame_rgb, input_topic
from .log_bridge import route_library_logging
from .parameters import DEFERRED, WHEN, changes_problem, declare_parameters, engine_config, plain_value, ros_default
from .parameters import UnknownParameters, typed_for_table
from ..runtime.queries_in_force import QueriesInForce
from .node_queries import QueryRoute
from ..runtime.worker import DROPPED, LatestFrameWorker, Rejected
from ..runtime.host_stage import HostStage, overlap_for

from ..tooling.params_files import NODE_NAME


class TextRegionNode(QueryRoute, LifecycleNode):
    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._lock = threading.Lock()
        self._engine: Optional[TextRegionEngine] = None
        self._pipeline: Optional[FramePipeline] = None
        self._worker: Optional[LatestFrameWorker] = None  # frames (and republish / config jobs)
        self._text_worker: Optional[LatestFrameWorker] = None  # query switches (text encoding)
        self._host: Optional[HostStage] = None  # a frame's describe + messages + publishing
        self._latest: Optional[LatestFrame] = None
        self._in_force = QueriesInForce()  # the queries and their label values, switched between frames
        self._active = False
        self._validated_queries: dict[tuple[str, ...], QuerySet] = {}  # parsed by validation, for the post-set
        self._pending_reconfigure: list[str] = []  # configure-time parameters changed since configure
        self._outputs: dict[str, Any] = {}
        self._inputs: list[Any] = []
        self._own_services: list[Any] = []
        self._stage_ms: dict[str, float] = {}
        # the one set of frame counters (the frame worker ticks it) and the verdict on them
        self._health = FrameHealth()
        self._problems = ProblemLog()
        self._depth_input: Optional[DepthInput] = None
        self._target_frame: Optional[TargetFrame] = None
        # Reentrant: one ~/query encoding new phrases must not hold up another whose phrases are cached
        # (the text encoder locks its model, not its cache).
        self._query_group = ReentrantCallbackGroup()
        # Frames in a callback group of their own (depth + camera_info are polled: ros/polled_input.py).
        self._image_group = MutuallyExclusiveCallbackGroup()
        # Services live as long as the node; the gate lets calls use the models only while they are loaded,
        # and a transition that frees them waits for the calls inside (runtime/work_gate.py).
        self._gate = WorkGate()
        self._transition_lock = threading.RLock()  # configure / cleanup / shutdown, one at a time
        self._shutting_down = threading.Event()
        # exceptions the executor loop caught (node_main.spin_guarded): logged once, counted
        self._callback_errors = CallbackErrors(self._problems, self.get_logger().error)
        self._duplicate_said = False
        route_library_logging(self)  # the tracker's and memory's warnings reach /rosout
        declare_parameters(self)
        # tracks and memory live as long as the node (track ids are never reused); cleanup empties them
        self._objects = self._built(FrameObjects.from_parameters, FrameObjects.PARAMETERS, "tracking and memory")
        # rebuilt only when one of its parameters changes
        self._settings = self._built(PipelineSettings.from_parameters, PipelineSettings.PARAMETERS, "depth")
        # the values of the deferred rows the node runs with (taken in at start, configure, activate)
        self._taken = {name: self._value(name) for name in DEFERRED}
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._own_services = [
            self.create_service(SetQueries, "~/set_queries", self._on_set_queries, qos_profile=SERVICE_QOS),
            self.create_service(Query, "~/query", self._on_query, qos_profile=SERVICE_QOS,
                                callback_group=self._query_group),
            self.create_service(Find, "~/find", self._on_find, qos_profile=SERVICE_QOS,
                                callback_group=self._query_group),
            self.create_service(Trigger, "~/clear_memory", self._on_clear_memory, qos_profile=SERVICE_QOS),
            self.create_service(Forget, "~/forget", self._on_forget, qos_profile=SERVICE_QOS),
        ]
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        self._autostart_timer = None
        if self.get_parameter("autostart").value:
            self._autostart_timer = self.create_timer(0.05, self._autostart)

    # -- parameters -----------------------------------------------------------------------------
    def _value(self, name: str) -> Any:
        value = self.get_parameter(name).value
        if name == "queries":
            return queries_from_parameter(value)
        return plain_value(value)

    def _values(self, overrides: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        values = {parameter.name: self._value(parameter.name) for parameter in PARAMETERS}
        values.update(overrides or {})
        return values

    def _built(self, build: Any, names: frozenset[str], what: str) -> Any:
        """Settings from the start-up values; values that break a rule between them (min_depth_m above
        max_depth_m) go back to their defaults, said once, so the node starts rather than dying."""
        try:
            return build(self._values())
        except ValueError as error:
            self.get_logger().error(f"{what} parameters: {error}; using the defaults of {', '.join(sorted(names))}")
            self.set_parameters([Parameter(name, value=ros_default(BY_NAME[name])) for name in sorted(names)])
            return build(self._values())

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        """rclpy's, with refusals in the user's terms: rclpy's parameter services call this for every set
        (`ros2 param set`); an unknown name is named (rclpy's text says "undeclared parameter(s): []"),
        a value of another type gets the table's words, a whole number for a double is the double."""
        unknown = [p.name for p in parameter_list if not self.has_parameter(p.name)]
        if unknown:
            raise UnknownParameters(unknown, self.list_parameters([], 0).names)
        typed, reason = typed_for_table(parameter_list)
        if reason:
            return SetParametersResult(successful=False, reason=reason)
        return super().set_parameters_atomically(typed)

    def _validate_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        """Every change, from any route (param set, the queries topic and ~/set_queries), is validated here once."""
        changes = {p.name: plain_value(p.value) for p in parameters}
        reason, parsed = changes_problem(changes, self._value, len(self._in_force), self._parse_queries)
        if parsed is not None:
            self._validated_queries = {tuple(queries_from_parameter(changes["queries"])): parsed}
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _apply_parameters(self, parameters: list[Parameter]) -> None:
        """After a successful set: each settings object is rebuilt only when one of its parameters changed."""
        names = {p.name for p in parameters}
        if "queries" in names:
            raw = self._value("queries")
            parsed = self._validated_queries.pop(tuple(raw), None)
            if parsed is None:  # set concurrently with another validation: parse it here
                parsed = self._parse_queries(raw)
            self._switch_to(parsed)
        if "max_rate_hz" in names and self._worker is not None:
            self._worker.set_max_rate(self._value("max_rate_hz"))
        if names & FrameObjects.PARAMETERS:
            self._objects.configure(self._values())
        if names & PipelineSettings.PARAMETERS:
            self._settings = PipelineSettings.from_parameters(self._values())
            self._between_frames("pipeline_settings", lambda: self._pipeline and self._pipeline.configure(self._settings))
        if "stable_class_ids" in names:
            self._between_frames("label_values", lambda: self._put_in_force(None))
        if any(BY_NAME[name].engine for name in names if name in BY_NAME):
            config = engine_config(self._values())
            self._between_frames("apply_config", lambda: self._apply_engine_config(config))
        for name in sorted(names & set(DEFERRED)):
            if name in self._deferred_pending():
                self.get_logger().warning(f"{name} changed: applies at {WHEN[DEFERRED[name]]}; until then the node "
                                          f"runs with {name} = {self._taken[name]!r}")

    def _deferred_pending(self) -> dict[str, str]:
        """Deferred rows set to a value other than the one the node runs with: name -> when it applies."""
        return {name: when for name, when in DEFERRED.items() if self._value(name) != self._taken[name]}

    def _take_in(self, when: str) -> None:
        """A transition took in the deferred rows that wait for it."""
        self._taken.update({name: self._value(name) for name, applies in DEFERRED.items() if applies == when})

    def _between_frames(self, key: str, job: Any) -> None:
        """On the worker thread, between frames: a frame never sees two settings."""
        worker = self._worker  # None once cleaned up (another thread may be releasing it)
        if worker is not None:
            worker.submit_job(key, job)

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
        if self.trigger_configure() == TransitionCallbackReturn.SUCCESS and not self._shutting_down.is_set():
            self.trigger_activate()

    def request_shutdown(self, reason: str, again: bool) -> None:
        """The process is ending (a signal): no transition starts or completes from now on; said once."""
        if again:
            self.get_logger().info(f"{reason} during shutdown: already shutting down")
        elif not self._shutting_down.is_set() and reason != "exit":
            self.get_logger().info(f"{reason}: shutting down")
        self._shutting_down.set()

    def callback_failed(self, error: BaseException) -> None:
        """An exception a callback raised into the executor (node_main.spin_guarded): the node goes on."""
        self._callback_errors.failed(error)

    def state_label(self) -> str:
        """'unconfigured', 'inactive', 'active', 'finalized' or a transition state."""
        return self._state_machine.current_state[1]  # rclpy keeps no public accessor

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._transition_lock:
            if self._shutting_down.is_set():
                self.get_logger().info("configure skipped: the node is shutting down")
                return TransitionCallbackReturn.FAILURE
            self._gate.refuse(LOADING)
            result = self._configure(state)
            if result == TransitionCallbackReturn.SUCCESS and self._shutting_down.is_set():
                self.get_logger().info("configure abandoned: the node is shutting down")
                self._release()
                result = TransitionCallbackReturn.FAILURE
            if result == TransitionCallbackReturn.SUCCESS:
                self._gate.open()
            else:
                self._gate.refuse(NOT_CONFIGURED)
            return result

    def _configure(self, state: LifecycleState) -> TransitionCallbackReturn:
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
        self._pipeline = FramePipeline(self._engine, self._settings, self._objects)
        self._objects.persistence = start_persistence(self._values(), self.get_namespace(), config)
        self._pending_reconfigure = []
        self._take_in(params_module.CONFIGURE)
        self._outputs = {name: self.create_lifecycle_publisher(output.message_type, f"~/{name}", output.qos())
                         for name, output in OUTPUTS.items()}
        self._host = HostStage(self._finish_frame, self._on_worker_error, self._health,
                               overlap_for(self._value("overlap_host_stage"), str(self._engine.device)))
        self._host.start()
        # jobs (query switches, LabelInfo, republishing) wait until the host stage has published its frame
        self._worker = LatestFrameWorker(self._process_frame, self._on_worker_error, health=self._health,
                                         before_job=self._host.drain)
        self._worker.set_max_rate(self._value("max_rate_hz"))
        self._worker.start()
        # query changes: encoded here, never on the frame worker; the newest request wins
        self._text_worker = LatestFrameWorker(self._encode_queries, self._on_worker_error, name="textregion_text")
        self._text_worker.start()
        try:
            self._switch_to(self._parse_queries(self._value("queries")))
        except QueryError as error:
            self.get_logger().warning(f"starting without queries: {error}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._shutting_down.is_set() or self._worker is None:
            return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)
        self._take_in(params_module.ACTIVATE)
        self._duplicate_name()  # said at once when activating beside a namesake
        self._active = True
        self._inputs = [
            self.create_subscription(
                *input_topic(self, "image", self._value("image_transport")), self._on_image,
                image_input_qos(self._value("image_reliability")), callback_group=self._image_group,
                event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_image_qos)),
            self.create_subscription(String, "queries", self._on_queries_topic, QUERIES_INPUT),
        ]
        if self._value("use_depth"):
            self._depth_input = DepthInput(self, self._value("image_transport"))
        self._worker.submit_job("label_info", self._publish_label_info)  # LabelInfo: always from the worker
        self.get_logger().info(
            f"active: listening on {self.resolve_topic_name('image')}, {len(self._in_force)} queries")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        return super().on_deactivate(state)

    def _unsubscribe(self) -> None:
        """No new frames; the frame in flight ends (counted as dropped) before its inputs go."""
        self._active = False
        self._health.qos_problem = ""
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        worker = self._worker
        if worker is not None:
            worker.wait_until_idle(timeout=30.0)
        if self._depth_input is not None:
            self._depth_input.close()
            self._depth_input = None

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._transition_lock:
            self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: Optional[LifecycleState]) -> TransitionCallbackReturn:
        self._shutting_down.set()
        with self._transition_lock:  # a configure in progress ends first (and then gives up)
            self._unsubscribe()
            self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"lifecycle error in state {state.label}; releasing the models")
        with self._transition_lock:
            self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        """Free the models: new service calls are refused and those inside finish first."""
        if not self._gate.close(RELEASING):
            self.get_logger().warning("service calls still running after 30 s; releasing the models anyway")
        for worker in (self._text_worker, self._worker):
            if worker is not None:
                worker.stop()
        if self._host is not None:
            self._host.stop()  # after the worker: the frame it handed over last is published, then counted
        self._worker = self._text_worker = self._host = None
        self._pipeline = None
        self._in_force.clear()
        self._target_frame = None
        for publisher in self._outputs.values():
            self.destroy_lifecycle_publisher(publisher)
        self._outputs = {}
        with self._lock:
            self._latest = None
        self._objects.reset()  # open tracks close and the memory empties; track ids keep counting
        if self._objects.persistence is not None:  # the last flush, then the store closes
            self._objects.persistence.stop()
            self._objects.persistence = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None
            release_freed_memory()  # else glibc keeps the models' memory in its arenas
            self.get_logger().info("models freed")  # cleanup and shutdown both end here: say it happened
        self._gate.refuse(NOT_CONFIGURED)

    # -- inputs and queries ---------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        worker, depth = self._worker, self._depth_input
        if worker is None:
            return
        if depth is not None:  # the depth this frame needs is kept from now on
            depth.frame_waiting(conversions.stamp_ns(msg.header), self._settings.depth_sync_tolerance_s)
        worker.submit_frame((msg, time.monotonic()))

    # -- frame processing (worker thread) -------------------------------------------------------
    def _process_frame(self, item: tuple[Any, float]) -> Any:
        """Worker thread: the depth buffer keeps this frame's depth until it is observed; a frame that fails
        because a transition took its inputs or outputs away meanwhile counts as dropped."""
        depth = self._depth_input
        if depth is not None:
            depth.frame_started(conversions.stamp_ns(item[0].header))
        try:
            return self._frame_verdict(item)
        except Exception:
            if not self._active:  # a transition took its inputs or outputs away meanwhile: not a failure
                return DROPPED
            raise
        finally:
            if depth is not None:
                depth.frame_ended()

    def _frame_verdict(self, item: tuple[Any, float]) -> Any:
        """Worker thread: one frame through the pipeline, then to the host stage, which publishes its
        messages and counts it (a frame refused or dropped here is counted by the worker)."""
        msg, received = item
        started = time.monotonic()
        pipeline = self._pipeline
        if pipeline is None or not self._active:
            return DROPPED  # deactivated (or cleaned up) while the frame waited
        try:
            msg, rgb = frame_rgb(msg)
            observed = pipeline.observe(FrameInput(rgb, conversions.stamp_ns(msg.header), msg.header.frame_id,
                                                   self._depth_input, self._target_frame))
        except InputImageError as error:
            return self._reject(error.key, f"dropped {error}")
        except ImageError as error:  # the engine's verdict on the pixels (empty, too large): bad input
            return self._reject(str(error)[:80], f"dropped an image: {error}")
        if observed.problem_3d is not None:
            reason = observed.problem_3d
            self._health.without_3d.tick(str(reason))
            self._problem(f"3d-{reason.key}", f"no 3D for a frame: {reason}")
        if not self._active:
            return DROPPED  # deactivated while it was processed: nothing is published
        frame = LatestFrame(msg.header, received, observed)
        with self._lock:
            self._latest = frame
        info = self._depth_input.camera_info_for(msg.header) if self._depth_input is not None else None
        # the queries change on this thread only, between frames, after the host stage is drained
        return self._host.hand_over((frame, self._in_force.snapshot(), info), started)

    def _finish_frame(self, item: tuple[LatestFrame, tuple[QuerySet, tuple[int, ...]], Any]) -> Any:
        """Host stage: the frame's outputs for the queries in force when it was observed."""
        frame, (queries, label_values), info = item
        if not self._active:
            return DROPPED  # deactivated while the frame was on its way
        self._publish_outputs(frame, queries, label_values)
        if info is not None:  # ~/camera_info: the colour camera's, stamped like ~/labels
            self._outputs["camera_info"].publish(info)
        return True

    def _reject(self, reason: str, message: str) -> Rejected:
        self._problem(f"image-{reason}", message)
        return Rejected(reason)

    def _republish(self) -> None:
        """Outputs of the latest frame for the queries now in force: text work only."""
        with self._lock:
            frame = self._latest
        if frame is not None and self._active:
            self._publish_outputs(frame, *self._in_force.snapshot(), republish=True)

    def _wanted(self) -> set[str]:
        """Frame outputs someone subscribes to and whose switch is on: nothing else is computed."""
        wanted = set()
        for name in FRAME_OUTPUTS:
            publisher, switch = self._outputs.get(name), OUTPUTS[name].switch
            if publisher is not None and (not switch or self._value(switch)) and publisher.get_subscription_count():
                wanted.add(name)
        return wanted

    def _publish_outputs(self, frame: LatestFrame, queries: QuerySet, label_values: tuple[int, ...],
                         republish: bool = False) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        started = time.perf_counter()
        wanted = self._wanted()
        result = pipeline.describe(frame.observed, queries, wanted, label_values)
        for name, msg in frame_messages(result, frame.header, wanted).items():
            self._outputs[name].publish(msg)
        stage_ms = {name: 1000.0 * s for name, s in result.seconds.items()}
        stage_ms["outputs"] = 1000.0 * (time.perf_counter() - started)  # text + painting + messages
        if republish:  # new queries on the same frame: its receipt-to-output latency stays the frame's own
            stage_ms["total_since_receipt"] = self._stage_ms.get("total_since_receipt", 0.0)
        else:
            stage_ms["total_since_receipt"] = 1000.0 * (time.monotonic() - frame.received)
        self._stage_ms = stage_ms

    # -- ~/query, ~/find, ~/forget and ~/clear_memory ------------------------------------------
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

    def _on_query(self, request: Query.Request, response: Query.Response) -> Query.Response:
        def answer() -> None:
            with self._lock:
                frame = self._latest
            answer_query(self._pipeline, frame, request, response, self._parse_queries)
        return self._gated("query", response, answer)

    def _on_find(self, request: Find.Request, response: Find.Response) -> Find.Response:
        return self._gated("find", response, lambda: answer_find(
            self._engine, self._objects.memory, request, response, self._parse_queries, self._objects.persistence))

    def _on_forget(self, request: Forget.Request, response: Forget.Response) -> Forget.Response:
        # gated: the store is opened at configure and closed at cleanup
        self._gated("forget", response, lambda: answer_forget(self._objects.memory, self._objects.persistence,
                                                              request, response))
        self.get_logger().info(f"~/forget: {response.message}")
        return response

    def _on_clear_memory(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        answer_clear_memory(self._objects, response)
        self.get_logger().info(f"~/clear_memory: {response.message}")
        return response

    # -- problems and diagnostics ---------------------------------------------------------------
    def _problem(self, key: str, message: str) -> None:
        if self._problems.report(key, message):
            self.get_logger().warning(message + " (further repeats are counted in /diagnostics, not logged)")

    def _on_worker_error(self, error: BaseException, kind: str) -> None:
        reason = f"{type(error).__name__}: {error}"
        self._problem(f"worker-{kind}-{type(error).__name__}-{str(error)[:60]}",
                      f"processing failed ({kind}): {reason}; continuing with the next frame")

    def _duplicate_name(self) -> str:
        """This node's full name when another node in the graph has it too ('' otherwise); said once in the log.

        Checked at activation and with every /diagnostics: ROS 2 does not stop a second node of the same
        name, whose outputs then mix with this one's (its own tools only warn, as this does)."""
        duplicate = self.get_fully_qualified_name() if other_nodes_named_like(self) else ""
        if duplicate and not self._duplicate_said:
            self.get_logger().error(f"another node named {duplicate} is running: every output is published twice and "
                                    f"services reach only one of the two (rename or stop one)")
        self._duplicate_said = bool(duplicate)
        return duplicate

    def _on_incompatible_image_qos(self, info: QoSRequestedIncompatibleQoSInfo) -> None:
        """A publisher on `image` that this subscription can never hear: say so instead of waiting silently."""
        policy, self._health.qos_problem = incompatible_image_qos(info, self._value("image_reliability"))
        self._problem(f"qos-{policy}", self._health.qos_problem)

    def _publish_diagnostics(self) -> None:
        state = self.state_label()
        device = str(self._engine.device) if self._engine is not None else "none"
        deferred = [f"{name} (at {WHEN[when]})" for name, when in self._deferred_pending().items()]
        with self._lock:
            latest = self._latest
        prompts = latest.observed.regions.prompts if latest is not None else None  # region-prompt counts
        values = {
            "state": state,
            "device": device,
            "model": self._engine.config.model_id if self._engine is not None else "",
            "queries": str(len(self._in_force)),
            **({"host_stage": "overlapped" if host.overlap else "inline"}
               if (host := self._host) is not None else {}),
            **self._health.values(),
            "problems": str(self._problems.total),
            "last_problem": self._problems.last,
            "pending_reconfigure": ", ".join(self._pending_reconfigure),
            "pending_parameters": ", ".join(deferred),
            "callback_errors": str(self._callback_errors.window.total),
            "service_calls_refused": str(self._gate.refused),
            **matched_endpoints(self._inputs[0] if self._inputs else None, self._outputs),
            **self._objects.diagnostics(),
            **(prompts.diagnostics() if prompts is not None else {}),
            **(self._depth_input.rates() if self._depth_input is not None else {}),
            **{f"latency_ms_{name}": f"{ms:.1f}" for name, ms in self._stage_ms.items()},
            **device_memory(device),
        }
        level, message = self._health.assess(state, self._problems.last, (*self._pending_reconfigure, *deferred),
                                             callback_errors=len(self._callback_errors.window.recent()),
                                             rate_cap_hz=float(self._value("max_rate_hz")) if self._active else 0.0,
                                             duplicate_name=self._duplicate_name())
        level, message = store_level(self._objects.persistence, level, message)
        self._diagnostics.publish(status_message(
            f"{self.get_name()}: TextRegion", self.get_fully_qualified_name(), level, message, values,
            self.get_clock().now().to_msg()))
