"""~/query: new phrases scored on the latest frame's cached region tokens (text encoder only).

A function of its own so the node keeps only the wiring; the answer says why when there is none.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Optional

from textregion_msgs.srv import Query

from ..engine import QuerySet
from ..perception import FramePipeline
from ..runtime.query_switch import request_set
from ..runtime.work_gate import NOT_CONFIGURED  # one wording for every refusal
from . import conversions
from .frame_outputs import LatestFrame
from .spatial_messages import detections_3d_to_msg

_LOG = logging.getLogger(__name__)


def unit_interval_problem(name: str, value: float) -> str:
    """Why a request's score bound is unusable ('' when it is a number in [0, 1])."""
    if not math.isfinite(float(value)) or not 0.0 <= float(value) <= 1.0:
        return f"{name} must be in [0, 1], got {value}"
    return ""


QUERY_PRODUCTS = frozenset({"detections", "detections_3d"})


def answer_query(pipeline: Optional[FramePipeline], frame: Optional[LatestFrame], request: Query.Request,
                 response: Query.Response, parse: Callable[[list[str]], QuerySet]) -> Query.Response:
    """Fill `response` for `request` on the node's latest frame: detections,
    and their 3D when the frame had depth; success=false with the reason otherwise. Never raises."""
    response.success = False
    threshold = float(request.threshold)
    if pipeline is None:
        response.message = NOT_CONFIGURED
        return response
    if frame is None:
        response.message = "no processed frame yet: publish an image first"
        return response
    reason = unit_interval_problem("threshold", request.threshold)
    parsed, reason = (None, reason) if reason else request_set(request.queries, parse)
    if parsed is None:
        response.message = reason
        return response
    try:
        result = pipeline.describe(frame.observed, parsed, QUERY_PRODUCTS, min_score=threshold)
    except Exception:  # report, never crash the service; the details go to the log, not to a client
        _LOG.exception("~/query failed")
        response.message = "query failed on an internal error (the node's log has the details)"
        return response
    tracks, detections = result.track_ids, result.detections  # the ids the frame's own detections carried
    response.detections = conversions.detections_to_msg(detections, frame.header, tracks)
    if result.detections_output_3d is not None:
        response.detections_3d = detections_3d_to_msg(detections, result.detections_output_3d, tracks)
    response.success = True
    stamp = frame.header.stamp
    response.message = (f"{len(detections)} detections for {len(request.queries)} queries on the frame stamped "
                        f"{stamp.sec}.{stamp.nanosec:09d}")
    return response
