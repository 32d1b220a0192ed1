"""~/find: which remembered objects match some phrases, where and when they were last seen.

Scores the averaged tokens of the object memory with the engine's text scoring (the segmentation's
softmax over the request's queries plus the background): text encoder only, no image-model work.
A function of its own so the node keeps only the wiring; the answer says why when there is none.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Optional

from std_msgs.msg import Header
from textregion_msgs.msg import FoundObject
from textregion_msgs.srv import Find

from ..engine import QuerySet, TextRegionEngine
from ..objects import ObjectMemory, RememberedObject
from .conversions import bounding_boxes, detection_2d, stamp, unit_score
from .query_service import NOT_CONFIGURED, request_queries, unit_interval_problem
from .spatial_messages import detection_3d

_LOG = logging.getLogger(__name__)
# Longest max_age_s accepted: 100 years. Stamps are int64 nanoseconds (about +-292 years), so any
# larger age is "all of memory" anyway, and one near 1e308 s overflows when turned into nanoseconds.
MAX_AGE_S = 100 * 365.25 * 86400.0


def max_age_problem(value: float) -> str:
    """Why a request's max_age_s is unusable ('' when it is 0 or a number of seconds up to MAX_AGE_S)."""
    if not math.isfinite(float(value)) or not 0.0 <= float(value) <= MAX_AGE_S:
        return (f"max_age_s must be 0 (all of memory) or a positive number of seconds up to {MAX_AGE_S:.0f} "
                f"(100 years), got {value}")
    return ""


def answer_find(engine: Optional[TextRegionEngine], memory: Optional[ObjectMemory], request: Find.Request,
                response: Find.Response, parse: Callable[[list[str]], QuerySet]) -> Find.Response:
    """Fill `response` for `request`: the matching remembered objects, best first; success=false
    with the reason otherwise. Never raises."""
    response.success = False
    max_age_s = float(request.max_age_s)
    if engine is None or memory is None:
        response.message = NOT_CONFIGURED
        return response
    reason = unit_interval_problem("min_score", request.min_score) or max_age_problem(max_age_s)
    parsed, reason = (None, reason) if reason else request_queries(request.queries, parse)
    if parsed is None:
        response.message = reason
        return response
    if memory.memory_s == 0.0:
        response.message = "the object memory is off (memory_s = 0)"
        return response
    if memory.latest_stamp_ns is None:
        response.message = "no processed frame yet: nothing is remembered (publish an image first)"
        return response
    try:  # the phrases are encoded before the memory is locked: frames never wait on a text forward
        found = memory.find(engine.token_scorer(parsed), max_age_s=max_age_s,
                            min_score=float(request.min_score), max_results=int(request.max_results))
    except Exception:  # report, never crash the service; the details go to the log, not to a client
        _LOG.exception("~/find failed")
        response.message = "find failed on an internal error (the node's log has the details)"
        return response
    response.objects = [found_object(item, parsed.classes[item.class_index]) for item in found]
    response.success = True
    response.message = (f"{len(found)} of {len(memory)} remembered objects match {len(parsed)} queries")
    return response


def found_object(item: RememberedObject, query: str) -> FoundObject:
    """One FoundObject: the object's record, its last 2D sighting and, when known, its last 3D one."""
    msg = FoundObject()
    msg.query = query
    msg.score = unit_score(item.score)
    msg.track_id = int(item.track_id)
    msg.first_seen, msg.last_seen = stamp(item.first_seen_ns), stamp(item.last_seen_ns)
    msg.sightings = int(item.sightings)
    msg.visible_now = bool(item.visible_now)
    box = bounding_boxes([item.box])[0]
    msg.detection = detection_2d(Header(stamp=stamp(item.stamp_ns), frame_id=item.frame_id), str(item.track_id),
                                 query, msg.score, box)
    place = item.spatial
    if place is not None:
        msg.has_3d = True
        msg.detection_3d = detection_3d(Header(stamp=stamp(place.stamp_ns), frame_id=place.frame_id),
                                        str(item.track_id), query, msg.score, place.centre, place.box_centre,
                                        place.size, place.orientation)
    return msg

