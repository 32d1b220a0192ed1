"""The optional depth + camera_info inputs, buffered (by the node's polled subscriptions, or from a
bag) and paired with a colour frame, and the tf2 lookups into `target_frame`: the ROS side of the
pipeline's DepthSource and OutputTransform (perception/depth_source.py).

Why here: the pairing rules (nearest stamp within a tolerance, same optical frame, a valid K), the
message decoding and the tf2 plumbing are ROS; what the 3D is (perception/region_3d.py) is not.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Optional

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.clock import ClockType
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ..perception import DepthView, No3D
from ..runtime.arrival_rate import ArrivalRate
from ..runtime.stamp_pairing import StampBuffer
from ..spatial import Intrinsics, RigidTransform, depth_in_metres
from .conversions import copy_header, stamp_ns
from .compressed_input import depth_pixels, input_topic
from .polled_input import PolledSubscription, companion_node, header_stamp_ns

DEPTH_BUFFER = 30  # a bag's buffer (fed in stamp order): about one second of a 30 Hz depth stream
# The node's depth is kept by time: from the oldest stamp a frame may still want (the frame being processed
# until it is paired, else the newest frame received, less the tolerance) on, so a slow frame keeps its depth
# however fast the stream. DDS keeps what arrived between two drains (a frame arriving, a frame paired, the
# diagnostics once a second): 2 s of a 60 Hz stream. The count is a memory bound only, reached when colour
# frames stop while depth streams: 5 s at 60 Hz.
DEPTH_HISTORY = 120
DEPTH_KEPT_MAX = 300
RECENT_S = 1.0  # depth that arrived this recently is kept whatever its stamp (a frame may follow it)
CAMERA_INFO_KEPT = 10  # only the newest is used; a few more give its arrival rate


def side_input_qos(depth: int) -> QoSProfile:
    """Sensor-data QoS (best effort, volatile) keeping the last `depth` messages: the polled buffer."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def time_of(stamp_ns: int) -> Time:
    """The ROS time of an image stamp (what Time.from_msg(header.stamp) gives)."""
    return Time(nanoseconds=int(stamp_ns), clock_type=ClockType.ROS_TIME)


class TfOutputTransform:
    """tf2 lookups into `frame` at the image stamp. tf2_ros comes with ROS from apt on a robot."""

    def __init__(self, node: Any, frame: str) -> None:
        try:
            import tf2_ros
        except ImportError:
            raise RuntimeError(f"target_frame is {frame!r} but tf2_ros cannot be imported: install "
                               "ros-<distro>-tf2-ros (or leave target_frame empty for the optical frame)") from None
        self.frame = frame
        self._buffer = tf2_ros.Buffer()
        self._listener = tf2_ros.TransformListener(self._buffer, node)

    def transform_at(self, source_frame: str, stamp_ns: int, timeout_s: float) -> RigidTransform:
        """The transform source_frame -> the target frame at the image stamp; No3D when tf2 cannot say."""
        try:
            stamped = self._buffer.lookup_transform(self.frame, source_frame, time_of(stamp_ns),
                                                    timeout=Duration(seconds=timeout_s))
        except Exception as error:  # tf2's LookupException, ExtrapolationException, ConnectivityException, ...
            raise No3D(f"no transform {source_frame} -> {self.frame} at the image stamp: {error}",
                       f"tf-{source_frame}") from None
        t, r = stamped.transform.translation, stamped.transform.rotation
        return RigidTransform((t.x, t.y, t.z), (r.x, r.y, r.z, r.w), self.frame)


class DepthPairing:
    """Buffered depth images and the latest CameraInfo; `depth_for()` pairs a colour frame with its depth.

    Used by the node (fed by its subscriptions) and by `textregion bag` (fed from the bag).
    """

    def __init__(self, size: int = DEPTH_BUFFER) -> None:
        self._depth: StampBuffer[Image] = StampBuffer(size)
        self._info: Optional[CameraInfo] = None
        self._intrinsics: Optional[tuple[tuple[float, ...], Intrinsics]] = None
        self._lock = threading.Lock()

    def add_depth(self, msg: Image) -> None:
        self._depth.add(stamp_ns(msg.header), msg)

    def set_camera_info(self, msg: CameraInfo) -> None:
        with self._lock:
            self._info = msg

    def depth_for(self, frame_stamp_ns: int, frame_id: str, tolerance_s: float) -> DepthView:
        """The depth image (metres) and intrinsics for the colour frame of this stamp; No3D saying why not."""
        depth_msg = self._depth.nearest(frame_stamp_ns, int(tolerance_s * 1e9))
        if depth_msg is not None:
            depth_msg = self._depth_message(depth_msg)
        if depth_msg is None:
            raise No3D(f"no depth image within {tolerance_s:g} s of the frame's stamp", "no-depth")
        if depth_msg.header.frame_id != frame_id:
            raise No3D(f"the depth image's frame {depth_msg.header.frame_id!r} is not the colour image's "
                       f"{frame_id!r}: the depth is not registered to the colour image (use the "
                       "camera's aligned depth, e.g. aligned_depth_to_color); no 3D is published",
                       "unregistered")
        # a raw Image says its size; a CompressedImage (compressedDepth) only once decoded
        if isinstance(depth_msg, Image) and (not depth_msg.width or not depth_msg.height):
            raise No3D(f"unusable depth image: the depth image is empty ({depth_msg.width} x {depth_msg.height} px)",
                       "depth-empty")
        intrinsics = self._current_intrinsics()
        kind = depth_msg.encoding if isinstance(depth_msg, Image) else depth_msg.format
        try:
            pixels, encoding = depth_pixels(depth_msg)  # a compressedDepth one is decoded here
            depth_m = depth_in_metres(pixels, encoding)
        except ValueError as error:
            raise No3D(f"unusable depth image: {error}", f"depth-{kind}") from None
        return DepthView(depth_m, intrinsics, encoding)

    def clear(self) -> None:
        self._depth.clear()

    def _depth_message(self, kept: Any) -> Any:
        """The depth message of a buffered item (here the message itself)."""
        return kept

    def _current_intrinsics(self) -> Intrinsics:
        with self._lock:
            info = self._info
        if info is None:
            raise No3D("no camera_info received yet", "no-camera-info")
        if info.binning_x > 1 or info.binning_y > 1 or info.roi.width or info.roi.height:
            raise No3D("camera_info has binning or a region of interest: its K describes the full sensor, "
                       "not this image (publish the binned / cropped camera's own K)", "binning-roi")
        key = (*(float(v) for v in info.k), float(info.width), float(info.height))
        if self._intrinsics is None or self._intrinsics[0] != key:
            try:
                self._intrinsics = (key, Intrinsics.from_k(list(info.k), int(info.width), int(info.height)))
            except ValueError as error:
                # One log line per kind of fault (its first words), so a K that goes from one fault to
                # another (zero K, then an impossible focal length) is said again, a repeat is not.
                raise No3D(f"camera_info has an unusable K: {error}", f"bad-k-{str(error)[:24]}") from None
        return self._intrinsics[1]


class DepthInput(DepthPairing):
    """The node's `depth` and `camera_info` inputs (best effort, like sensor-data QoS), feeding the pairing.

    A camera sends both at its frame rate, far more often than frames are processed, so no callback runs
    per message: they are polled subscriptions (polled_input.py) whose DDS history is the buffer, drained
    still serialized when a frame is processed (and by /diagnostics). Only the depth image a frame is
    paired with is deserialized and converted; camera_info only when its bytes change (K is then checked
    once, on the frame worker).
    """

    def __init__(self, node: Any, transport: str = "raw") -> None:
        super().__init__(DEPTH_KEPT_MAX)
        self._companion = companion_node(node)
        depth_type, depth_topic = input_topic(node, "depth", transport)
        self._depth_input = PolledSubscription(self._companion, depth_type, node.resolve_topic_name(depth_topic),
                                               side_input_qos(DEPTH_HISTORY))
        # stamps of the frames that still need their depth: the newest one handed to the worker, and the one
        # being processed until it is paired (pairing happens once its masks exist)
        self._waiting_ns: Optional[int] = None
        self._unpaired_ns: Optional[int] = None
        self._tolerance_ns = 0
        self._info_input = PolledSubscription(self._companion, CameraInfo, node.resolve_topic_name("camera_info"),
                                              side_input_qos(CAMERA_INFO_KEPT))
        self._depth_rate, self._info_rate = ArrivalRate(), ArrivalRate()
        self._info_bytes = b""
        self._poll_lock = threading.Lock()

    def poll(self) -> None:
        """Move what arrived since the last poll into the stamp buffer (serialized) and take the newest
        camera_info (deserialized only when it differs from the one in use)."""
        with self._poll_lock:
            taken = self._depth_input.take()
            for serialized, _ in taken:
                try:
                    self._depth.add(header_stamp_ns(serialized), serialized)
                except ValueError:  # too short to hold a header: not a depth image
                    continue
            self._depth_rate.add([received for _, received in taken])
            self._forget_unwanted()
            infos = self._info_input.take()
            self._info_rate.add([received for _, received in infos])
            if infos and infos[-1][0] != self._info_bytes:
                self._info_bytes = infos[-1][0]
                self.set_camera_info(self._info_input.deserialize(self._info_bytes))

    def frame_waiting(self, stamp_ns: int, tolerance_s: float) -> None:
        """A colour frame was handed to the worker: its depth is kept from now on (and what arrived is drained)."""
        self._waiting_ns, self._tolerance_ns = stamp_ns, int(tolerance_s * 1e9)
        self.poll()

    def frame_started(self, stamp_ns: int) -> None:
        """The worker took the frame of this stamp: its depth is kept until it is paired or the frame ends."""
        self._unpaired_ns = stamp_ns

    def frame_ended(self) -> None:
        self._unpaired_ns = None

    def _forget_unwanted(self) -> None:
        """Drop the depth no frame can still want: older than the frame being processed (until paired) and the
        newest frame received, less the tolerance, unless it arrived in the last RECENT_S (stamps that jump
        back, a bag's loop: the frame of that stamp may be on its way)."""
        anchors = [stamp for stamp in (self._unpaired_ns, self._waiting_ns) if stamp is not None]
        if anchors:
            self._depth.forget(min(anchors) - self._tolerance_ns, time.monotonic() - RECENT_S)

    def depth_for(self, frame_stamp_ns: int, frame_id: str, tolerance_s: float) -> DepthView:
        self._tolerance_ns = int(tolerance_s * 1e9)
        self.poll()
        try:
            return super().depth_for(frame_stamp_ns, frame_id, tolerance_s)
        finally:
            self._unpaired_ns = None  # paired (or not): this frame needs the buffer no longer

    def _depth_message(self, kept: Any) -> Any:
        return self._depth_input.deserialize(kept) if isinstance(kept, bytes) else kept

    def rates(self) -> dict[str, str]:
        """/diagnostics values: messages per second of each side input (from their receive times)."""
        self.poll()
        return {"depth_rate_hz": f"{self._depth_rate.rate():.1f}",
                "camera_info_rate_hz": f"{self._info_rate.rate():.1f}"}

    def camera_info_for(self, header: Header) -> Optional[CameraInfo]:
        """The latest camera_info, stamped and framed like the frame of `header` (~/camera_info: the
        intrinsics of the label image, for pipelines that register or resize it); None before any."""
        with self._lock:
            info = self._info
        if info is None:
            return None
        return CameraInfo(header=copy_header(header), height=info.height, width=info.width,
                          distortion_model=info.distortion_model, d=info.d, k=info.k, r=info.r, p=info.p,
                          binning_x=info.binning_x, binning_y=info.binning_y, roi=info.roi)

    def close(self) -> None:
        self._companion.destroy_node()
        self.clear()
