"""~/query: new phrases scored on the latest frame's cached region tokens (text encoder only).

A function of its own so the node keeps only the wiring; the answer says why when there is none.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

from textregion_msgs.srv import Query

from ..engine import QueryError, QuerySet, TextRegionEngine
from . import conversions
from .spatial_messages import detections_3d_to_msg, place


def answer_query(engine: Optional[TextRegionEngine], frame: Optional[Any], request: Query.Request,
                 response: Query.Response, parse: Callable[[list[str]], QuerySet]) -> Query.Response:
    """Fill `response` for `request` on `frame` (the node's ProcessedFrame): detections, and their
    3D when the frame had depth; success=false with the reason otherwise. Never raises."""
    response.success = False
    threshold = float(request.threshold)
    if engine is None:
        response.message = "the node is not configured (no models loaded)"
        return response
    if frame is None:
        response.message = "no processed frame yet: publish an image first"
        return response
    if not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        response.message = f"threshold must be in [0, 1], got {request.threshold}"
        return response
    try:
        parsed = parse(list(request.queries))
    except QueryError as error:
        response.message = str(error)
        return response
    if not len(parsed):
        response.message = "no queries given"
        return response
    try:
        detections = engine.ground(frame.regions, parsed, min_score=threshold)
    except Exception as error:  # report, never crash the service
        response.message = f"query failed: {type(error).__name__}: {error}"
        return response
    tracks = frame.track_ids  # the ids the frame's own detections carried
    response.detections = conversions.detections_to_msg(detections, frame.header, tracks)
    if frame.spatial is not None and frame.spatial.boxes is not None:
        response.detections_3d = detections_3d_to_msg(place(detections, frame.spatial.boxes), frame.spatial.header,
                                                      tracks)
    response.success = True
    stamp = frame.header.stamp
    response.message = (f"{len(detections)} detections for {len(request.queries)} queries on the frame stamped "
                        f"{stamp.sec}.{stamp.nanosec:09d}")
    return response
