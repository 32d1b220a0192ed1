"""~/find: which remembered objects match some phrases, where and when they were last seen.

Scores the averaged tokens of the object memory with the engine's text scoring (the segmentation's
softmax over the request's queries plus the background): text encoder only, no image-model work.
A function of its own so the node keeps only the wiring; the answer says why when there is none.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Callable, Optional

from std_msgs.msg import Header
from textregion_msgs.msg import FoundObject
from textregion_msgs.srv import Find

from ..engine import QuerySet, TextRegionEngine
from ..objects import TrackedObjects, ObjectMemory, Remembered3D, RememberedObject
from ..objects.persistent_memory import PersistentMemory
from ..objects.store_records import StoredObject
from .conversions import bounding_boxes, detection_2d, stamp, unit_score
from ..runtime.query_switch import request_set
from .query_service import NOT_CONFIGURED, unit_interval_problem
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
                response: Find.Response, parse: Callable[[list[str]], QuerySet],
                persistence: Optional[PersistentMemory] = None) -> Find.Response:
    """Fill `response` for `request`: the matching remembered objects, best first; success=false
    with the reason otherwise. Never raises.

    With a store (`persistence`), the live memory's objects and the stored index's (earlier boots, other
    robots) are scored alike and merged; an object the live memory holds is answered from it only."""
    response.success = False
    max_age_s = float(request.max_age_s)
    if engine is None or memory is None:
        response.message = NOT_CONFIGURED
        return response
    reason = unit_interval_problem("min_score", request.min_score) or max_age_problem(max_age_s)
    parsed, reason = (None, reason) if reason else request_set(request.queries, parse)
    if parsed is None:
        response.message = reason
        return response
    stored = persistence is not None and len(persistence.index) > 0
    if memory.memory_s == 0.0 and not stored:
        response.message = "the object memory is off (memory_s = 0)"
        return response
    if memory.latest_stamp_ns is None and not stored:
        response.message = "no processed frame yet: nothing is remembered (publish an image first)"
        return response
    robots, map_id = [str(r) for r in request.robot_ids], str(request.map_id)
    try:  # the phrases are encoded before the memory is locked: frames never wait on a text forward
        scorer = engine.token_scorer(parsed)
        found = []
        if memory.latest_stamp_ns is not None:
            found = memory.find(scorer, max_age_s=max_age_s, min_score=float(request.min_score),
                                max_results=0 if persistence is not None else int(request.max_results))
        answers = _live_answers(found, parsed, persistence, robots, map_id)
        if persistence is not None:
            answers += _stored_answers(persistence, scorer, parsed, memory, max_age_s, float(request.min_score),
                                       robots, map_id, int(request.max_results))
    except Exception:  # report, never crash the service; the details go to the log, not to a client
        _LOG.exception("~/find failed")
        response.message = "find failed on an internal error (the node's log has the details)"
        return response
    answers.sort(key=lambda item: (-item[0], -item[1]))  # score, then most recent first
    if int(request.max_results):
        answers = answers[:int(request.max_results)]
    response.objects = [msg for _, _, msg in answers]
    response.success = True
    total = len(memory) + (len(persistence.index) if persistence is not None else 0)
    response.message = f"{len(answers)} of {total} remembered objects match {len(parsed)} queries"
    return response


def _live_answers(found: list[RememberedObject], parsed: QuerySet, persistence: Optional[PersistentMemory],
                  robots: list[str], map_id: str) -> list[tuple[float, int, FoundObject]]:
    """The live memory's answers, named by robot, session and map when the node has a store."""
    answers = []
    robot = persistence.settings.robot_id if persistence is not None else ""
    if robots and robot not in robots:
        return []
    for item in found:
        item_map = persistence.settings.map_id if (persistence is not None and item.spatial is not None) else ""
        if map_id and item_map != map_id:
            continue
        msg = found_object(item, parsed.classes[item.class_index])
        if persistence is not None:
            msg.robot_id, msg.session_id, msg.map_id = robot, persistence.session_id, item_map
        answers.append((msg.score, item.last_seen_ns, msg))
    return answers


def _stored_answers(persistence: PersistentMemory, scorer, parsed: QuerySet, memory: ObjectMemory, max_age_s: float,
                    min_score: float, robots: list[str], map_id: str,
                    max_results: int) -> list[tuple[float, int, FoundObject]]:
    """The stored index's answers, leaving out the records this session's live tracks write."""
    reference = memory.latest_stamp_ns if memory.latest_stamp_ns is not None else time.time_ns()
    remembered = memory.track_ids()  # the live memory answers for these; forgotten there, the index does
    live = {key for track, key in persistence.live_keys().items() if track in remembered}
    hits = persistence.index.search(scorer, reference, max_age_s, min_score, robots, map_id, exclude=live,
                                    max_results=max_results)
    return [(unit_score(hit.score), hit.obj.last_seen_ns, stored_object(hit.obj, parsed.classes[hit.class_index],
                                                                         hit.score)) for hit in hits]


def stored_object(obj: StoredObject, query: str, score: float) -> FoundObject:
    """One FoundObject from a stored record (never visible now: another boot or another robot saw it)."""
    spatial = None
    if obj.has_3d:
        spatial = Remembered3D(obj.centre, obj.box_centre, obj.size, obj.orientation, obj.region_3d, obj.stamp_3d_ns)
    item = RememberedObject(int(obj.track_id), 0, score, obj.first_seen_ns, obj.last_seen_ns, obj.sightings, False,
                            obj.box, obj.box_frame, obj.box_stamp_ns, spatial)
    msg = found_object(item, query)
    msg.robot_id, msg.session_id, msg.map_id = obj.robot_id, obj.session_id, obj.map_id
    return msg


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



def answer_forget(memory: ObjectMemory, persistence: Optional[PersistentMemory], request, response):
    """~/forget: the objects of one robot (one session, some track ids) leave RAM and the store."""
    tracks = [int(t) for t in request.track_ids]
    robot = str(request.robot_id)
    session = str(request.session_id)
    own_robot = persistence.settings.robot_id if persistence is not None else robot
    robot = robot or own_robot
    forgotten = 0
    own_session = persistence.session_id if persistence is not None else ""
    if robot == own_robot and (not session or session == own_session):  # this session's live tracks
        if tracks:
            forgotten += memory.forget(tracks)
        else:
            forgotten += len(memory)
            memory.clear()
    if persistence is not None:
        forgotten += persistence.forget(robot, session, tuple(tracks))  # the index (live rows excluded) and the store
    response.success = True
    response.forgotten = forgotten
    which = f"track ids {tracks}" if tracks else "every object"
    response.message = (f"forgot {forgotten} objects in RAM ({which} of robot {robot!r}"
                        f"{f', session {session!r}' if session else ''})"
                        + ("; the store deletes them at the next flush" if persistence is not None else ""))
    return response


def answer_clear_memory(objects: TrackedObjects, response):
    """~/clear_memory: every object leaves RAM (the live memory and the loaded store index); the store
    keeps them (~/forget deletes)."""
    forgotten = len(objects.memory)
    objects.memory.clear()
    if objects.persistence is not None:
        forgotten += objects.persistence.index.remove(lambda stored: True)
    response.success, response.message = True, f"forgot {forgotten} objects"
    return response
