"""TextRegionNode: camera images + text queries in; labels, confidence, LabelInfo, detections,
overlay and region tokens out. A thin lifecycle adapter over textregion_ros.perception (the frame pipeline):
lifecycle and wiring here. The queries: runtime/query_switch.py (QuerySwitch: the parse rule, the
queries in force, the text thread and the switch between frames); the engine: runtime/models.py;
frames: ros/frame_loop.py (the frame worker and the host stage); publishers and the latest frame:
ros/frame_outputs.py; services and the queries topic: ros/node_services.py; parameter changes:
ros/parameter_routing.py; problems and /diagnostics: ros/diagnostics.py (NodeReport).

Lifecycle: configure loads the models, activate subscribes and enables the publishers,
deactivate unsubscribes (the frame in flight ends first, counted as dropped), cleanup frees the models
(and GPU memory). The services live as long as the node: a call while the models are not loaded is
refused with the reason, and cleanup waits for the calls already running (runtime/work_gate.py). With
`autostart` (default) the node configures and activates itself, so `ros2 run textregion_ros textregion_node`
works.

Threads: ROS callbacks only hand frames and queries over; the frame loop's worker runs the models on
the newest frame. ~/query is answered from the latest frame's cached region tokens in its own reentrant
callback group, concurrently with frame processing and with other ~/query calls.
"""
from __future__ import annotations

import threading
from typing import Any, Optional

from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import String

from .. import params as params_module
from ..engine import EngineError, QueryError
from ..objects import TrackedObjects
from ..objects.persistent_memory import start_persistence
from ..params import ENGINE_PARAMETERS
from ..perception import FramePipeline, PipelineSettings
from ..runtime.health import FrameHealth, device_memory
from ..runtime.host_stage import overlap_for
from ..runtime.models import Models
from ..runtime.query_switch import QuerySwitch
from ..runtime.work_gate import LOADING, NOT_CONFIGURED, RELEASING, WorkGate
from ..tooling.params_files import NODE_NAME
from .compressed_input import input_topic
from .depth_input import DepthInput, TfOutputTransform
from .diagnostics import NodeReport, matched_endpoints
from .frame_loop import FrameLoop
from .frame_outputs import FrameOutputs
from .input_qos import QUERIES_INPUT, image_input_qos, incompatible_image_qos
from .log_bridge import route_library_logging
from .node_services import NodeServices
from .parameter_routing import ParameterRouting
from .parameters import WHEN, declare_parameters, engine_config


class TextRegionNode(LifecycleNode):
    """The lifecycle node: wires the frame loop, the query switch, the services and the parameters together."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._inputs: list[Any] = []
        # the one set of frame counters (the frame worker ticks it) and the verdict on them
        self._health = FrameHealth()
        # Frames in a callback group of their own (depth + camera_info are polled: ros/polled_input.py).
        self._image_group = MutuallyExclusiveCallbackGroup()
        # Services live as long as the node; the gate lets calls use the models only while they are loaded,
        # and a transition that frees them waits for the calls inside (runtime/work_gate.py).
        self._gate = WorkGate()
        self._transition_lock = threading.RLock()  # configure / cleanup / shutdown, one at a time
        self._shutting_down = threading.Event()
        self._report = NodeReport(self, self._health)  # problems, callback errors, /diagnostics
        self._problem = self._report.problem
        logger = self.get_logger()
        self._models = Models(logger.info, logger.warning, logger.error)  # the engine, from configure to cleanup
        route_library_logging(self)  # the tracker's and memory's warnings reach /rosout
        declare_parameters(self)
        self._params = ParameterRouting(self)
        self._value = self._params.value
        # tracks and memory live as long as the node (track ids are never reused); cleanup empties them
        self._objects = self._params.built(TrackedObjects.from_parameters, TrackedObjects.PARAMETERS,
                                           "tracking and memory")
        # rebuilt only when one of its parameters changes
        self._settings = self._params.built(PipelineSettings.from_parameters, PipelineSettings.PARAMETERS, "depth")
        self._queries = QuerySwitch(self._value, self._report.worker_error, self.get_logger().info)
        self._outputs = FrameOutputs(self, self._value)
        self._loop = FrameLoop(self._outputs, self._queries, self._health, self._problem, self._report.worker_error,
                               lambda: self._settings.depth_sync_tolerance_s)
        self._route_parameters()
        self._calls = NodeServices(self, self._gate, self._queries, self._outputs, self._objects,
                                   lambda: (self._models.engine, self._loop.pipeline), self._problem)
        self._diagnostics_timer = self.create_timer(1.0, self._publish_diagnostics)
        self._autostart_timer = None
        if self.get_parameter("autostart").value:
            self._autostart_timer = self.create_timer(0.05, self._autostart)

    # -- parameters -----------------------------------------------------------------------------
    def _route_parameters(self) -> None:
        """What each parameter change reaches; between-frames jobs: a frame never sees two settings."""
        routing = self._params
        routing.route({"queries"}, lambda: self._queries.apply(self._value("queries")))
        routing.route({"max_rate_hz"}, self._rate_changed)
        routing.route(TrackedObjects.PARAMETERS, lambda: self._objects.configure(self._params.values()))
        routing.route(PipelineSettings.PARAMETERS, self._settings_changed)
        routing.route({"stable_class_ids"}, self._queries.relabel)
        routing.route({p.name for p in ENGINE_PARAMETERS}, self._engine_config_changed)
        routing.start(self._queries.change_problem)

    def set_parameters_atomically(self, parameter_list: list[Parameter]) -> SetParametersResult:
        """rclpy's, with refusals in the user's terms (rclpy's parameter services call this for every set)."""
        return self._params.set_atomically(parameter_list, super().set_parameters_atomically)

    def _rate_changed(self) -> None:
        worker = self._loop.worker
        if worker is not None:
            worker.set_max_rate(self._value("max_rate_hz"))

    def _settings_changed(self) -> None:
        self._settings = settings = PipelineSettings.from_parameters(self._params.values())
        self._loop.between_frames("pipeline_settings", lambda: self._loop.pipeline and
                                  self._loop.pipeline.configure(settings))

    def _engine_config_changed(self) -> None:
        config = engine_config(self._params.values())
        self._loop.between_frames("apply_config", lambda: self._models.apply(config) and self._loop.republish())

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
        self._report.callback_errors.failed(error)

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
        output_transform = None
        if self._value("target_frame"):
            try:
                output_transform = TfOutputTransform(self, self._value("target_frame"))
            except RuntimeError as error:
                self.get_logger().error(f"configure failed: {error}")
                return TransitionCallbackReturn.FAILURE
        try:
            config = engine_config(self._params.values())
        except EngineError as error:
            self.get_logger().error(f"configure failed: {error}")
            return TransitionCallbackReturn.FAILURE
        if not self._models.load(config):
            return TransitionCallbackReturn.FAILURE
        engine = self._models.engine
        self._objects.persistence = start_persistence(self._params.values(), self.get_namespace(), config)
        self._params.take_in(params_module.CONFIGURE)
        self._outputs.create()
        self._loop.start(FramePipeline(engine, self._settings, self._objects), output_transform,
                         overlap_for(self._value("overlap_host_stage"), str(engine.device)),
                         self._value("max_rate_hz"))
        self._queries.start(self._models.prepare, self._loop.between_frames, self._loop.queries_switched)
        try:
            self._queries.switch_to(self._queries.parse(self._value("queries")))
        except QueryError as error:
            self.get_logger().warning(f"starting without queries: {error}")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._shutting_down.is_set() or self._loop.worker is None:
            return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)
        self._params.take_in(params_module.ACTIVATE)
        self._report.duplicate_name()  # said at once when activating beside a namesake
        self._loop.active = True
        self._inputs = [
            self.create_subscription(
                *input_topic(self, "image", self._value("image_transport")), self._loop.on_image,
                image_input_qos(self._value("image_reliability")), callback_group=self._image_group,
                event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_image_qos)),
            self.create_subscription(String, "queries", self._calls.on_queries_topic, QUERIES_INPUT),
        ]
        if self._value("use_depth"):
            self._loop.depth_input = DepthInput(self, self._value("image_transport"))
        self._loop.between_frames("label_info", self._loop.publish_label_info)  # LabelInfo: always from the worker
        self.get_logger().info(
            f"active: listening on {self.resolve_topic_name('image')}, {len(self._queries)} queries")
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        return super().on_deactivate(state)

    def _unsubscribe(self) -> None:
        """No new frames; the frame in flight ends (counted as dropped) before its inputs go."""
        self._loop.active = False
        self._health.qos_problem = ""
        for subscription in self._inputs:
            self.destroy_subscription(subscription)
        self._inputs = []
        self._loop.wait_until_idle()
        depth, self._loop.depth_input = self._loop.depth_input, None
        if depth is not None:
            depth.close()

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
        self._queries.stop()
        self._loop.stop()
        self._queries.clear()
        self._outputs.destroy()
        self._objects.reset()  # open tracks close and the memory empties; track ids keep counting
        if self._objects.persistence is not None:  # the last flush, then the store closes
            self._objects.persistence.stop()
            self._objects.persistence = None
        self._models.release()
        self._gate.refuse(NOT_CONFIGURED)

    # -- problems and diagnostics ---------------------------------------------------------------
    def _on_incompatible_image_qos(self, info: QoSRequestedIncompatibleQoSInfo) -> None:
        """A publisher on `image` that this subscription can never hear: say so instead of waiting silently."""
        policy, self._health.qos_problem = incompatible_image_qos(info, self._value("image_reliability"))
        self._problem(f"qos-{policy}", self._health.qos_problem)

    def _publish_diagnostics(self) -> None:
        state, engine = self.state_label(), self._models.engine
        device = str(engine.device) if engine is not None else "none"
        deferred = [f"{name} (at {WHEN[when]})" for name, when in self._params.deferred_pending().items()]
        values = {"state": state, "device": device, "model": engine.config.model_id if engine is not None else "",
                  "queries": str(len(self._queries)), **self._loop.diagnostics(),
                  "pending_reconfigure": ", ".join(self._models.pending_reconfigure),
                  "pending_parameters": ", ".join(deferred),
                  **matched_endpoints(self._inputs[0] if self._inputs else None, self._outputs.publishers),
                  **self._objects.diagnostics(), **self._outputs.diagnostics(), **device_memory(device)}
        rate_cap_hz = float(self._value("max_rate_hz")) if self._loop.active else 0.0
        self._report.publish(state, values, (*self._models.pending_reconfigure, *deferred), rate_cap_hz,
                             self._objects.persistence, self._gate.refused)
