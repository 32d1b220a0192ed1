"""`textregion bag`: a rosbag2 (MCAP or sqlite3) in, a new MCAP bag with the node's topics out.

Each frame goes through the node's own pipeline (perception/) and message conversion
(ros/bag_frames.py -> ros/frame_messages.py), one set of tracks for the whole bag; offered with the
node's QoS, stamped with the source image's header at the source message's bag time, plus a copy
of the image topic, so the output replays alone in RViz or Foxglove.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ..engine import EngineError
from ..engine.region_prompts import PromptRecord
from ..outputs import result_files
from .frames import build_engine, build_pipeline, print_summary
from .settings import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_OK, UsageError, query_set, settings_from_args

log = logging.getLogger("textregion")

# A colour frame waits until the bag is this much past it (plus the sync tolerance) for a depth
# image recorded after it (aligned depth is computed, so it usually arrives later).
PAIRING_SLACK_S = 0.5
REPO_ROOT = Path(__file__).resolve().parents[3]
INTERFACE_FALLBACKS = {"vision_msgs": REPO_ROOT / "vendor" / "vision_msgs" / "msg",
                       "textregion_msgs": REPO_ROOT / "textregion_msgs" / "msg"}


def interface_dir(package: str) -> Path:
    """Folder of `package`'s .msg files: the installed share dir, else this source checkout."""
    try:
        from ament_index_python.packages import get_package_share_directory

        directory = Path(get_package_share_directory(package)) / "msg"
        if any(directory.glob("*.msg")):
            return directory
    except (ImportError, LookupError, ValueError, KeyError):  # no ament index (AMENT_PREFIX_PATH unset)
        pass
    fallback = INTERFACE_FALLBACKS[package]
    if any(fallback.glob("*.msg")):
        return fallback
    raise UsageError(f"cannot find the message definitions of {package} (not installed in AMENT_PREFIX_PATH and "
                     f"not in {fallback}); source the ROS environment (textregion-env.sh) first")


def bag_typestore() -> Any:
    """rosbags typestore of ROS 2 Jazzy plus vision_msgs and textregion_msgs, for the MCAP schemas.

    Their type hashes (RIHS01) equal the ones rosidl generates, so players and Foxglove match
    the recorded types with the live ones.
    """
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    typestore = get_typestore(Stores.ROS2_JAZZY)
    types: dict[str, Any] = {}
    for package in ("vision_msgs", "textregion_msgs"):
        for path in sorted(interface_dir(package).glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{package}/msg/{path.stem}"))
    typestore.register(types)
    return typestore


def bag_qos(output: Any) -> Any:
    """The node's publisher QoS of `output` (ros/frame_messages.OUTPUTS) as rosbags offers it."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    infinite = QosTime(9223372036, 854775807)  # what rosbag2 on Jazzy writes for "not set"
    durability = QosDurability.TRANSIENT_LOCAL if output.latched else QosDurability.VOLATILE
    return Qos(QosHistory.KEEP_LAST, output.depth, QosReliability.RELIABLE, durability,
               infinite, infinite, QosLiveliness.AUTOMATIC, infinite, False)


def _normalise_topic(prefix: str, name: str) -> str:
    return "/" + "/".join(part for part in (prefix.strip("/"), name) if part)


def run_bag(args: argparse.Namespace) -> int:
    """Process every `--every`-th image of the topic and write the node's outputs for it."""
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ..objects import TrackedObjects
    from ..ros.bag_frames import CAMERA_INFO_TYPE, COMPRESSED_TYPE, IMAGE_TYPE, OUTPUT_TYPES, BagFrames
    from ..ros.frame_messages import FRAME_OUTPUTS, OUTPUTS, SPATIAL_OUTPUTS

    if args.every < 1:
        raise UsageError(f"--every must be >= 1, got {args.every}")
    if bool(args.depth_topic) != bool(args.camera_info_topic):
        raise UsageError("--depth-topic and --camera-info-topic go together (3D needs both)")
    settings = settings_from_args(args)
    queries = query_set(settings.queries, required=False)
    if not len(queries):
        log.warning("no queries: writing region tokens, label_info and the plain image as overlay only")
    source, out = Path(args.input).expanduser(), Path(args.out).expanduser()
    if out.exists():
        raise UsageError(f"{out} exists already; rosbag2 bags are never overwritten: choose a new --out")
    # the node's switches (publish_overlay, ...) decide which outputs are written
    wanted = [name for name in FRAME_OUTPUTS if not OUTPUTS[name].switch or settings.node[OUTPUTS[name].switch]]
    wait_ns = int((settings.node["depth_sync_tolerance_s"] + PAIRING_SLACK_S) * 1e9)

    try:
        reader = Reader(source)
        reader.open()
    except Exception as error:  # rosbags raises several types for missing or unreadable bags
        raise UsageError(f"cannot open the bag {str(source)!r}: {error}") from None
    try:
        connections = [c for c in reader.connections if c.topic == args.image_topic]
        if not connections:
            images = sorted({c.topic for c in reader.connections if c.msgtype in (IMAGE_TYPE, COMPRESSED_TYPE)})
            raise UsageError(f"the bag has no topic {args.image_topic!r}; its image topics: "
                             f"{', '.join(images) if images else 'none'}")
        types = {c.msgtype for c in connections}
        if not types <= {IMAGE_TYPE, COMPRESSED_TYPE} or len(types) != 1:
            raise UsageError(f"{args.image_topic} holds {', '.join(sorted(types))}; expected {IMAGE_TYPE} or "
                             f"{COMPRESSED_TYPE}")
        input_type = types.pop()
        if any(getattr(c.ext, "serialization_format", "cdr") != "cdr" for c in connections):
            raise UsageError(f"{args.image_topic} is not CDR-serialised")
        bag_frames = BagFrames(input_type, with_depth=bool(args.depth_topic))
        total = sum(c.msgcount for c in connections)
        to_process = len(range(0, total, args.every))

        typestore = bag_typestore()
        # one set of tracks for the whole bag, as the live node keeps them
        pipeline = build_pipeline(build_engine(settings.config), settings.node,
                                  TrackedObjects.from_parameters(settings.node))
        writer = Writer(out, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
        try:
            writer.open()
        except Exception as error:
            raise UsageError(f"cannot create the output bag {str(out)!r}: {error}") from None
        written: Counter[str] = Counter()
        failures: list[tuple[str, str]] = []
        per_class: Counter[str] = Counter()
        seconds: list[float] = []
        prompt_records: list[PromptRecord] = []  # one per processed frame, in the bag's order
        started = time.monotonic()
        interrupted = False
        try:
            source_qos = list(connections[0].ext.offered_qos_profiles) if connections[0].ext else []
            image_out = writer.add_connection(args.image_topic, input_type, typestore=typestore,
                                              offered_qos_profiles=source_qos)
            extra, copies, feed = [], {}, {}
            if args.depth_topic:
                for topic, kind, add in ((args.depth_topic, IMAGE_TYPE, bag_frames.add_depth),
                                         (args.camera_info_topic, CAMERA_INFO_TYPE, bag_frames.set_camera_info)):
                    found = [c for c in reader.connections if c.topic == topic and c.msgtype == kind]
                    if not found:
                        raise UsageError(f"the bag has no {kind} topic {topic!r}")
                    extra += found
                    copies[topic] = writer.add_connection(topic, kind, typestore=typestore,
                                                          offered_qos_profiles=list(found[0].ext.offered_qos_profiles)
                                                          if found[0].ext else [])
                    feed[topic] = add
            else:
                wanted = [name for name in wanted if name not in SPATIAL_OUTPUTS]
            topics = {name: _normalise_topic(args.topic_prefix, name) for name in [*wanted, "label_info"]}
            outs = {name: writer.add_connection(topics[name], OUTPUT_TYPES[name], typestore=typestore,
                                                offered_qos_profiles=[bag_qos(OUTPUTS[name])])
                    for name in topics}

            def put(name: str, timestamp: int, data: bytes) -> None:
                writer.write(outs[name], timestamp, data)
                written[topics[name]] += 1

            label_info_sent = False
            image_index = 0
            pending: list[tuple[int, int, bytes]] = []  # colour frames waiting for their depth image

            def process(index: int, timestamp: int, raw: bytes) -> None:
                nonlocal label_info_sent
                where = f"message {index} (t={timestamp} ns)"
                try:
                    frame_started = time.perf_counter()
                    header, frame = bag_frames.frame(raw)
                    observed = pipeline.observe(frame)
                    if observed.problem_3d is not None:
                        failures.append((where, f"no 3D: {observed.problem_3d}"))
                    result = pipeline.describe(observed, queries, wanted)
                    messages = bag_frames.messages(result, header, wanted)
                except (ValueError, EngineError, RuntimeError) as error:
                    failures.append((where, str(error)))
                    tqdm.write(f"skipped {where}: {error}", file=sys.stderr)
                    bar.update(1)
                    return
                seconds.append(time.perf_counter() - frame_started)
                prompt_records.append(observed.regions.prompts)
                if not label_info_sent:
                    put("label_info", timestamp, bag_frames.label_info(queries.classes, header,
                                                                       settings.config.prob_threshold))
                    label_info_sent = True
                for name, data in messages.items():
                    put(name, timestamp, data)
                if "detections" in messages:
                    per_class.update(d.query for d in result.detections)
                bar.update(1)

            with logging_redirect_tqdm(), tqdm(total=to_process, unit="frame", desc="bag", disable=None,
                                               dynamic_ncols=True) as bar:
                for connection, timestamp, raw in reader.messages(connections=[*connections, *extra]):
                    copy = copies.get(connection.topic)
                    if copy is not None:  # depth and camera_info: copied, and fed to the pairing
                        writer.write(copy, timestamp, raw)
                        written[connection.topic] += 1
                        feed[connection.topic](raw)
                    else:
                        writer.write(image_out, timestamp, raw)  # replays alone: the camera stream is in the bag
                        written[args.image_topic] += 1
                        if image_index % args.every == 0:
                            pending.append((image_index, timestamp, raw))
                        image_index += 1
                    # a colour frame is processed once the bag is past the depth that may still pair with it
                    while pending and (bag_frames.pairing is None or timestamp - pending[0][1] > wait_ns):
                        process(*pending.pop(0))
                for item in pending:
                    process(*item)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            writer.close()  # an interrupted run still leaves a valid, playable bag
    finally:
        reader.close()

    print(f"wrote {out}: " + ", ".join(f"{topic} ({count})" for topic, count in written.items()))
    prompts_file = out.parent / f"{out.name}_prompts.json"  # beside the bag: its folder is rosbag2's
    result_files.write_json(prompts_file, {"frames": [r.as_dict() for r in prompt_records]})
    print_summary("bag", "frame", len(seconds), to_process, seconds, time.monotonic() - started, per_class,
                  queries.classes, failures, out, prompt_records)
    if interrupted:
        print("interrupted: the bag holds the frames processed so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if failures else EXIT_OK
