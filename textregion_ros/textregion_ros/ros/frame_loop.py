"""The node's frame loop: camera images through the frame pipeline to the outputs, on the node's threads.

The frame worker (runtime/worker.py) runs the models on the newest frame (older ones are dropped and
counted) and, between frames, the jobs that change what a frame sees (a query switch, new settings,
LabelInfo); the host stage (runtime/host_stage.py) describes and publishes each observed frame, inline
or overlapped with the next frame's models (`overlap_host_stage`); jobs wait until it has published.
The loop exists between configure and cleanup and takes frames only while `active`.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional

from sensor_msgs.msg import Image

from ..engine import ImageError, QuerySet
from ..perception import FrameInput, FramePipeline
from ..runtime.health import FrameHealth
from ..runtime.host_stage import HostStage
from ..runtime.query_switch import QuerySwitch
from ..runtime.worker import DROPPED, ErrorHandler, LatestFrameWorker, Rejected
from . import conversions
from .compressed_input import InputImageError, frame_rgb
from .depth_input import DepthInput, TfOutputTransform
from .frame_outputs import FrameOutputs, LatestFrame

Problem = Callable[[str, str], None]


class FrameLoop:
    """The frame worker and the host stage of one configured node, and what each frame goes through."""

    def __init__(self, outputs: FrameOutputs, queries: QuerySwitch, health: FrameHealth, problem: Problem,
                 on_error: ErrorHandler, depth_tolerance_s: Callable[[], float]) -> None:
        """`depth_tolerance_s()`: how far apart a frame's and its depth's stamps may be (the setting in force)."""
        self._outputs, self._queries, self._health = outputs, queries, health
        self._problem, self._on_error, self._depth_tolerance_s = problem, on_error, depth_tolerance_s
        self.pipeline: Optional[FramePipeline] = None
        self.worker: Optional[LatestFrameWorker] = None  # frames, and the between-frames jobs
        self.host: Optional[HostStage] = None  # a frame's describe + messages + publishing
        self.active = False  # frames are taken and outputs published only while active
        self.depth_input: Optional[DepthInput] = None  # while active with use_depth
        self.output_transform: Optional[TfOutputTransform] = None

    def start(self, pipeline: FramePipeline, output_transform: Optional[TfOutputTransform], overlap: bool,
              max_rate_hz: float) -> None:
        """Configure: the host stage, then the worker whose jobs wait until the host stage has published."""
        self.pipeline, self.output_transform = pipeline, output_transform
        self.host = HostStage(self._finish_frame, self._on_error, self._health, overlap)
        self.host.start()
        self.worker = LatestFrameWorker(self._process_frame, self._on_error, health=self._health,
                                        before_job=self.host.drain)
        self.worker.set_max_rate(max_rate_hz)
        self.worker.start()

    def stop(self) -> None:
        """Cleanup: the worker ends, then the host stage publishes the frame it holds (counted)."""
        if self.worker is not None:
            self.worker.stop()
        if self.host is not None:
            self.host.stop()
        self.worker = self.host = None
        self.pipeline = self.output_transform = None

    def wait_until_idle(self) -> None:
        """Deactivate: the frame in flight ends (counted as dropped) before its inputs go."""
        worker = self.worker
        if worker is not None:
            worker.wait_until_idle(timeout=30.0)

    def diagnostics(self) -> dict[str, str]:
        """How the host stage runs (once configured) and the depth inputs' rates (while they are open)."""
        host, depth = self.host, self.depth_input
        return {**({"host_stage": "overlapped" if host.overlap else "inline"} if host is not None else {}),
                **(depth.rates() if depth is not None else {})}

    def between_frames(self, key: str, job: Callable[[], Any]) -> None:
        """On the worker thread, between frames: a frame never sees two settings."""
        worker = self.worker  # None once cleaned up (another thread may be releasing it)
        if worker is not None:
            worker.submit_job(key, job)

    def on_image(self, msg: Image) -> None:
        """The image subscription: hand the frame over and return at once."""
        worker, depth = self.worker, self.depth_input
        if worker is None:
            return
        if depth is not None:  # the depth this frame needs is kept from now on
            depth.frame_waiting(conversions.stamp_ns(msg.header), self._depth_tolerance_s())
        worker.submit_frame((msg, time.monotonic()))

    # -- worker thread ------------------------------------------------------------------------------------
    def _process_frame(self, item: tuple[Any, float]) -> Any:
        """The depth buffer keeps this frame's depth until it is observed; a frame that fails because a
        transition took its inputs or outputs away meanwhile counts as dropped."""
        depth = self.depth_input
        if depth is not None:
            depth.frame_started(conversions.stamp_ns(item[0].header))
        try:
            return self._frame_verdict(item)
        except Exception:
            if not self.active:  # a transition took its inputs or outputs away meanwhile: not a failure
                return DROPPED
            raise
        finally:
            if depth is not None:
                depth.frame_ended()

    def _frame_verdict(self, item: tuple[Any, float]) -> Any:
        """One frame through the pipeline, then to the host stage, which publishes its messages and
        counts it (a frame refused or dropped here is counted by the worker)."""
        msg, received = item
        started = time.monotonic()
        pipeline, depth = self.pipeline, self.depth_input
        if pipeline is None or not self.active:
            return DROPPED  # deactivated (or cleaned up) while the frame waited
        try:
            msg, rgb = frame_rgb(msg)
            observed = pipeline.observe(FrameInput(rgb, conversions.stamp_ns(msg.header), msg.header.frame_id,
                                                   depth, self.output_transform))
        except InputImageError as error:
            return self._reject(error.key, f"dropped {error}")
        except ImageError as error:  # the engine's verdict on the pixels (empty, too large): bad input
            return self._reject(str(error)[:80], f"dropped an image: {error}")
        if observed.problem_3d is not None:
            reason = observed.problem_3d
            self._health.without_3d.tick(str(reason))
            self._problem(f"3d-{reason.key}", f"no 3D for a frame: {reason}")
        if not self.active:
            return DROPPED  # deactivated while it was processed: nothing is published
        frame = LatestFrame(msg.header, received, observed)
        self._outputs.keep(frame)
        info = depth.camera_info_for(msg.header) if depth is not None else None
        # the queries change on this thread only, between frames, after the host stage is drained
        return self.host.hand_over((frame, self._queries.snapshot(), info), started)

    def _finish_frame(self, item: tuple[LatestFrame, tuple[QuerySet, tuple[int, ...]], Any]) -> Any:
        """Host stage: the frame's outputs for the queries in force when it was observed."""
        frame, (queries, label_values), info = item
        if not self.active:
            return DROPPED  # deactivated while the frame was on its way
        self._outputs.publish_frame(self.pipeline, frame, queries, label_values)
        if info is not None:
            self._outputs.publish_camera_info(info)
        return True

    def _reject(self, reason: str, message: str) -> Rejected:
        self._problem(f"image-{reason}", message)
        return Rejected(reason)

    # -- between frames -----------------------------------------------------------------------------------
    def queries_switched(self) -> None:
        """New queries (or label values) in force: their LabelInfo, then the latest frame again."""
        self.publish_label_info()
        self.republish()

    def publish_label_info(self) -> None:
        if self.active:
            self._outputs.publish_label_info(*self._queries.snapshot())

    def republish(self) -> None:
        """Outputs of the latest frame for the queries now in force: text work only."""
        frame = self._outputs.latest
        if frame is not None and self.active:
            self._outputs.publish_frame(self.pipeline, frame, *self._queries.snapshot(), republish=True)
