"""`textregion`: the TextRegion engine on image files and rosbags, without a running ROS graph.

    textregion segment IMAGE|DIR ... --queries "mug, table; desk" --out OUT [--recursive]
    textregion bag IN --image-topic /camera/image_raw --queries "mug, chair" --out OUT.bag [--every N]
    textregion download            (also installed as `textregion-download`)

Every command reads the same settings as the node: `--config` takes a ROS 2 params file such as
config/textregion.yaml, `-p name=value` sets any engine field, and the common fields have flags
of their own. Precedence: node defaults < --config < -p < dedicated flags (--device, ...).

Exit status: 0 success; 1 some inputs failed (each was reported and skipped); 2 bad usage,
config or missing weights (one message, no traceback); 130 interrupted.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np
import yaml

from .outputs import encodings, result_files
from .engine import EngineConfig, EngineError, QueryError, QuerySet, parse_queries, split_query_text
from .engine.errors import ConfigError, WeightsUnavailableError

log = logging.getLogger("textregion")

NODE_NAME = "textregion"
PARAMS_KEY = "ros__parameters"
WILDCARD_SECTIONS = ("/**", "**", "/*", "*")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif")
EXIT_OK, EXIT_FAILURES, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# Node-only parameters (ros/parameters.py) the offline tools read or knowingly ignore.
NODE_ONLY_PARAMETERS = frozenset({
    "queries", "max_queries", "max_rate_hz", "image_reliability", "publish_overlay", "publish_region_tokens",
    "publish_confidence", "autostart",
})
FLAG_FIELDS = (  # (flag, EngineConfig field)
    ("device", "device"), ("backbone", "backbone"), ("model", "model"), ("weights", "weights"),
    ("sam2_weights", "sam2_weights"), ("sam2_model", "sam2_model"), ("points_per_side", "points_per_side"),
    ("cache_dir", "cache_dir"),
)


class UsageError(Exception):
    """Bad options, config or inputs: reported as one message, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Settings: params file + -p + flags -> EngineConfig and queries
# ---------------------------------------------------------------------------------------------
@dataclass
class Settings:
    """What a command runs with: the engine config, the queries and the node-only parameters."""

    config: EngineConfig
    queries: list[str]
    node: dict[str, Any] = field(default_factory=dict)  # node-only parameters from --config
    sources: list[str] = field(default_factory=list)  # where settings came from, for the record


def read_params_file(path: Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The parameters a node called `node_name` would get from a ROS 2 params file.

    Like rcl: wildcard sections (`/**`, `/*`) apply to every node, then the node's own section
    (`textregion`, `/textregion` or `/some/namespace/textregion`) overrides them. A file with a
    single section under another node name is used as it is (the CLI has no node name to match).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read the config file {str(path)!r}: {error.strerror or error}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise UsageError(f"config file {str(path)!r} is not valid YAML: {error}") from None
    sections = list(_param_sections(document, ""))
    if not sections:
        raise UsageError(
            f"config file {str(path)!r} has no '{PARAMS_KEY}' section (expected a ROS 2 params file: "
            f"'/**:' or '{node_name}:' then '{PARAMS_KEY}:' then the parameters)")
    matching = [(name, params) for name, params in sections if _section_matches(name, node_name)]
    if not matching:
        if len(sections) > 1:
            names = ", ".join(repr(name) for name, _ in sections)
            raise UsageError(f"config file {str(path)!r} has sections {names} but none for '/**' or "
                             f"'{node_name}'")
        matching = sections
    wildcard = [params for name, params in matching if name.strip("/") in ("**", "*")]
    specific = [params for name, params in matching if name.strip("/") not in ("**", "*")]
    merged: dict[str, Any] = {}
    for params in wildcard + specific:
        merged.update(params)
    return merged


def _param_sections(node: Any, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(node path, parameters) for every `ros__parameters` block, namespaces nested or not."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        name = f"{prefix}/{str(key).strip('/')}" if prefix else str(key)
        if key == PARAMS_KEY:
            if isinstance(value, dict):
                yield prefix or "/**", value
            continue
        yield from _param_sections(value, name)


def _section_matches(name: str, node_name: str) -> bool:
    if name.strip("/") in ("**", "*"):
        return True
    last = name.rstrip("/").rsplit("/", 1)[-1]
    return last == node_name or name.strip("/") == node_name


_FIELD_TYPES = {f.name: type(f.default) for f in dataclasses.fields(EngineConfig)}


def coerce_field(name: str, value: Any, source: str) -> Any:
    """`value` as EngineConfig.`name` expects it, or UsageError saying what was wrong where."""
    if name not in _FIELD_TYPES:
        raise UsageError(f"{source}: {name!r} is not an engine setting; known: {', '.join(sorted(_FIELD_TYPES))}")
    kind = _FIELD_TYPES[name]
    bad = UsageError(f"{source}: {name} must be {_KIND_WORDS.get(kind, kind.__name__)}, got {value!r}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise bad
    if kind is str:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        raise bad
    if kind is tuple:  # scale: [long, short]
        if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        raise bad
    return value


_KIND_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
               tuple: "a list of two integers, e.g. [1024, 512]"}


def parse_assignment(text: str) -> tuple[str, Any]:
    """'-p name=value' -> (name, value); the value is YAML (numbers, true/false, [a, b]).

    String fields keep the text as typed, so `-p weights=2024.pt` stays a file name.
    """
    name, sep, raw = text.partition("=")
    if not sep and ":=" not in text:
        raise UsageError(f"-p {text!r}: expected name=value, e.g. -p points_per_side=8")
    name = name.strip().removesuffix(":")  # accept the ROS spelling name:=value too
    if name in _FIELD_TYPES and _FIELD_TYPES[name] is str:
        return name, raw.strip()
    try:
        return name, yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise UsageError(f"-p {text!r}: the value is not valid YAML") from None


def split_queries(text: str) -> list[str]:
    """--queries "mug, table; desk" -> ['mug', 'table; desk'] (empty items from stray commas dropped)."""
    return [query for query in split_query_text(text) if query]


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Node defaults < --config < -p < flags. UsageError for anything the engine would reject."""
    values: dict[str, Any] = {}
    node: dict[str, Any] = {}
    queries: list[str] = []
    sources = ["node defaults"]
    if getattr(args, "config", None):
        params = read_params_file(Path(args.config))
        sources.append(f"config {args.config}")
        for name, value in params.items():
            if name in _FIELD_TYPES:
                values[name] = coerce_field(name, value, f"config file {args.config}")
            elif name == "queries":
                if value is None:
                    value = []
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
                    raise UsageError(f"config file {args.config}: queries must be a list of strings, got {value!r}")
                queries = [q for q in value if q.strip()]  # [""] is ROS's spelling of "no queries"
            elif name in NODE_ONLY_PARAMETERS:
                node[name] = value
            else:
                log.warning("config file %s: ignoring unknown parameter %r", args.config, name)
    for text in getattr(args, "param", None) or []:
        name, value = parse_assignment(text)
        values[name] = coerce_field(name, value, f"-p {text}")
        sources.append(f"-p {text}")
    for flag, name in FLAG_FIELDS:
        value = getattr(args, flag, None)
        if value is not None:
            values[name] = coerce_field(name, value, f"--{flag.replace('_', '-')}")
            sources.append(f"--{flag.replace('_', '-')} {value}")
    if getattr(args, "queries", None) is not None:
        queries = split_queries(args.queries)
        sources.append("--queries")
    try:
        config = EngineConfig.from_mapping(values)
    except (ConfigError, TypeError, ValueError) as error:
        raise UsageError(str(error)) from None
    return Settings(config, queries, node, sources)


def query_set(queries: list[str], required: bool) -> QuerySet:
    """Validated queries; UsageError for none (when required), empty synonyms or duplicates."""
    if not queries and required:
        raise UsageError('no queries: pass --queries "mug, table; desk" or set `queries` in the --config file')
    try:
        return parse_queries(queries)
    except QueryError as error:
        raise UsageError(f"bad queries: {error}") from None


def build_engine(config: EngineConfig) -> Any:
    """TextRegionEngine for `config`; UsageError naming the missing file or bad setting."""
    from .engine import TextRegionEngine

    started = time.monotonic()
    try:
        engine = TextRegionEngine(config)
    except (ConfigError, WeightsUnavailableError) as error:
        raise UsageError(str(error)) from None
    except EngineError as error:
        raise UsageError(f"cannot build the models: {error}") from None
    except (RuntimeError, OSError, ValueError) as error:  # e.g. CUDA unavailable or out of memory
        raise UsageError(f"cannot build the models ({config.model_id} + SAM2 {config.sam2_model} on "
                         f"{config.device}): {type(error).__name__}: {error}") from None
    log.info("models ready in %.1f s on %s", time.monotonic() - started, engine.device)
    return engine


# ---------------------------------------------------------------------------------------------
# One frame through the engine
# ---------------------------------------------------------------------------------------------
@dataclass
class FrameResult:
    """Everything one frame produced (segmentation is None without queries)."""

    regions: Any
    segmentation: Any
    detections: list
    seconds: float


def analyse(engine: Any, rgb: np.ndarray, queries: QuerySet) -> FrameResult:
    """Regions, segmentation and grounding of one HxWx3 uint8 image, as the node computes them."""
    started = time.perf_counter()
    regions = engine.regions(np.ascontiguousarray(rgb))
    segmentation, detections = None, []
    if len(queries):
        segmentation = engine.segment(regions, queries)
        detections = engine.ground(regions, queries, segmentation=segmentation)
    return FrameResult(regions, segmentation, detections, time.perf_counter() - started)


def detection_records(result: FrameResult) -> list[dict[str, Any]]:
    """JSON records of the detections; area = the region's mask area, as RegionTokens.areas holds it."""
    areas = result.regions.areas.tolist()
    return [result_files.detection_record(d.query, d.class_index, d.score, d.box, d.instance_id, int(areas[d.region_index]))
            for d in result.detections]


# ---------------------------------------------------------------------------------------------
# textregion segment
# ---------------------------------------------------------------------------------------------
def read_image(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB of an image file, EXIF orientation applied; ValueError when unreadable."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode not in ("RGB", "L", "RGBA", "P", "LA", "CMYK", "YCbCr", "RGBX"):
                # 16-bit and float greys: scale to 8 bits instead of clipping
                array = np.asarray(image, dtype=np.float32)
                peak = float(array.max()) if array.size else 0.0
                grey = np.clip(array * (255.0 / peak) if peak > 0 else array, 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
            return np.array(image.convert("RGB"))  # a writable copy (the engine wraps it without copying)
    except FileNotFoundError:
        raise ValueError("no such file") from None
    except UnidentifiedImageError:
        raise ValueError("not an image Pillow can read") from None
    except Image.DecompressionBombError as error:
        raise ValueError(str(error)) from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt files
        raise ValueError(f"cannot decode the image (truncated or corrupt file): {error}") from None


def collect_images(inputs: Sequence[str], recursive: bool) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files named or found in folders (sorted), and (input, reason) for unusable inputs.

    A file named explicitly is always tried (and reported if unreadable); in folders only files
    with an image suffix are taken.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            found = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append((text, "folder holds no images" + ("" if recursive else " (try --recursive)")))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append((text, "no such file or folder"))
    unique = list(dict.fromkeys(files))
    return unique, problems


def _unique_stem(path: Path, used: set[str]) -> str:
    stem, number = path.stem, 2
    candidate = stem
    while candidate in used:
        candidate, number = f"{stem}_{number}", number + 1
    used.add(candidate)
    return candidate


def run_segment(args: argparse.Namespace) -> int:
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    settings = settings_from_args(args)
    queries = query_set(settings.queries, required=True)
    files, problems = collect_images(args.inputs, args.recursive)
    out = Path(args.out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the output folder {str(out)!r}: {error.strerror or error}") from None
    failures: list[tuple[str, str]] = list(problems)
    for source, reason in problems:
        print(f"skipped {source}: {reason}", file=sys.stderr)
    if not files:
        raise UsageError("no images to segment" + (f" ({len(problems)} input(s) unusable)" if problems else ""))

    engine = build_engine(settings.config)
    result_files.write_json(out / "labels.json", result_files.class_map(queries.classes))
    per_class: Counter[str] = Counter()
    seconds: list[float] = []
    records: list[dict[str, Any]] = []
    used: set[str] = set()
    from .outputs.overlay import draw_overlay  # numpy + Pillow only (no rclpy)

    started = time.monotonic()
    with logging_redirect_tqdm(), tqdm(files, unit="img", desc="segment", disable=None, dynamic_ncols=True) as bar:
        for path in bar:
            bar.set_postfix_str(path.name[-30:], refresh=False)
            try:
                rgb = read_image(path)
                result = analyse(engine, rgb, queries)
            except (ValueError, EngineError) as error:
                failures.append((str(path), str(error)))
                tqdm.write(f"skipped {path}: {error}", file=sys.stderr)
                continue
            except RuntimeError as error:  # e.g. out of memory on a huge image: report, go on
                failures.append((str(path), f"{type(error).__name__}: {error}"))
                tqdm.write(f"failed on {path}: {type(error).__name__}: {error}", file=sys.stderr)
                continue
            stem = _unique_stem(path, used)
            detections = detection_records(result)
            try:
                result_files.save_png(encodings.label_array(result.segmentation.labels, len(queries)),
                                 out / f"{stem}_labels.png")
                result_files.save_png(encodings.confidence_array(result.segmentation.confidence),
                                 out / f"{stem}_confidence.png")
                result_files.save_png(draw_overlay(rgb, result.segmentation.labels, queries.classes, result.detections),
                                 out / f"{stem}_overlay.png")
                result_files.write_json(out / f"{stem}_detections.json", result_files.detections_document(
                    str(path), rgb.shape[:2], queries.classes, detections,
                    {"regions": len(result.regions), "seconds": round(result.seconds, 3),
                     "model": settings.config.model_id}))
            except OSError as error:
                failures.append((str(path), f"cannot write outputs: {error}"))
                tqdm.write(f"failed to write the outputs of {path}: {error}", file=sys.stderr)
                continue
            seconds.append(result.seconds)
            per_class.update(d["query"] for d in detections)
            records.append({"image": str(path), "stem": stem, "detections": len(detections),
                            "seconds": round(result.seconds, 3)})

    result_files.write_json(out / "summary.json", {
        "config": _config_record(settings.config), "queries": list(queries.classes),
        "images": records, "failures": [{"input": s, "reason": r} for s, r in failures],
    })
    _print_summary("segment", len(seconds), len(files) + len(problems), seconds, time.monotonic() - started,
                   per_class, queries.classes, failures, out)
    return EXIT_FAILURES if failures else EXIT_OK


def _config_record(config: EngineConfig) -> dict[str, Any]:
    record = dataclasses.asdict(config)
    record["scale"] = list(config.scale)
    return record


def _print_summary(command: str, done: int, total: int, seconds: list[float], wall: float, per_class: Counter,
                   classes: Sequence[str], failures: list[tuple[str, str]], out: Path) -> None:
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    noun = "images" if command == "segment" else "frames"
    print(f"{command}: {done}/{total} {noun} in {wall:.1f} s ({mean:.2f} s per {noun[:-1]} in the engine)")
    if classes:
        counts = ", ".join(f"{name}: {per_class.get(name, 0)}" for name in classes)
        print(f"detections per class: {counts}")
    if failures:
        print(f"failures ({len(failures)}):")
        for source, reason in failures:
            print(f"  {source}: {reason}")
    else:
        print("failures: none")
    print(f"outputs in {out}")


# ---------------------------------------------------------------------------------------------
# textregion bag
# ---------------------------------------------------------------------------------------------
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
OUTPUT_TYPES = {
    "detections": "vision_msgs/msg/Detection2DArray",
    "labels": IMAGE_TYPE,
    "confidence": IMAGE_TYPE,
    "overlay": IMAGE_TYPE,
    "label_info": "vision_msgs/msg/LabelInfo",
    "region_tokens": "textregion_msgs/msg/RegionTokens",
}
# The node's publisher QoS (ros/node.py): latched label_info, reliable results and images.
OUTPUT_QOS = {"label_info": ("transient_local", 1), "detections": ("volatile", 10), "region_tokens": ("volatile", 10),
              "labels": ("volatile", 2), "confidence": ("volatile", 2), "overlay": ("volatile", 2)}
REPO_ROOT = Path(__file__).resolve().parents[2]
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


def qos_profile(durability: str, depth: int) -> Any:
    """A rosbags Qos: reliable, keep-last `depth`, the given durability, infinite deadlines."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    infinite = QosTime(9223372036, 854775807)  # what rosbag2 on Jazzy writes for "not set"
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE, QosDurability[durability.upper()],
               infinite, infinite, QosLiveliness.AUTOMATIC, infinite, False)


def decode_compressed(msg: Any) -> np.ndarray:
    """HxWx3 RGB of a sensor_msgs/CompressedImage (JPEG/PNG, as image_transport writes it)."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(bytes(msg.data))) as image:
            return np.array(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot decode the compressed image (format {msg.format!r}): {error}") from None


def _normalise_topic(prefix: str, name: str) -> str:
    return "/" + "/".join(part for part in (prefix.strip("/"), name) if part)


def run_bag(args: argparse.Namespace) -> int:
    from rclpy.serialization import deserialize_message, serialize_message
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import Header
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .ros import conversions
    from .ros.image_conversions import imgmsg_to_numpy, numpy_to_imgmsg
    from .outputs.overlay import draw_overlay

    if args.every < 1:
        raise UsageError(f"--every must be >= 1, got {args.every}")
    settings = settings_from_args(args)
    queries = query_set(settings.queries, required=False)
    if not len(queries):
        log.warning("no queries: writing region tokens, label_info and the plain image as overlay only")
    source, out = Path(args.input).expanduser(), Path(args.out).expanduser()
    if out.exists():
        raise UsageError(f"{out} exists already; rosbag2 bags are never overwritten: choose a new --out")
    switches = {}
    for name in ("overlay", "region_tokens", "confidence"):
        value = settings.node.get(f"publish_{name}", True)
        if not isinstance(value, bool):
            raise UsageError(f"config file {args.config}: publish_{name} must be true or false, got {value!r}")
        switches[name] = value
    wanted = [name for name in OUTPUT_TYPES if switches.get(name, True)]

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
        message_class = Image if input_type == IMAGE_TYPE else CompressedImage
        total = sum(c.msgcount for c in connections)
        to_process = len(range(0, total, args.every))

        typestore = bag_typestore()
        engine = build_engine(settings.config)
        writer = Writer(out, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP)
        try:
            writer.open()
        except Exception as error:
            raise UsageError(f"cannot create the output bag {str(out)!r}: {error}") from None
        written: Counter[str] = Counter()
        failures: list[tuple[str, str]] = []
        per_class: Counter[str] = Counter()
        seconds: list[float] = []
        started = time.monotonic()
        interrupted = False
        try:
            source_qos = list(connections[0].ext.offered_qos_profiles) if connections[0].ext else []
            image_out = writer.add_connection(args.image_topic, input_type, typestore=typestore,
                                              offered_qos_profiles=source_qos)
            topics = {name: _normalise_topic(args.topic_prefix, name) for name in wanted}
            outs = {name: writer.add_connection(topics[name], OUTPUT_TYPES[name], typestore=typestore,
                                                offered_qos_profiles=[qos_profile(*OUTPUT_QOS[name])])
                    for name in wanted}

            def put(name: str, timestamp: int, msg: Any) -> None:
                writer.write(outs[name], timestamp, serialize_message(msg))
                written[topics[name]] += 1

            label_info_sent = False
            with logging_redirect_tqdm(), tqdm(total=to_process, unit="frame", desc="bag", disable=None,
                                               dynamic_ncols=True) as bar:
                for index, (connection, timestamp, raw) in enumerate(reader.messages(connections=connections)):
                    writer.write(image_out, timestamp, raw)  # replays alone: the camera stream is in the bag
                    written[args.image_topic] += 1
                    if index % args.every:
                        continue
                    where = f"message {index} (t={timestamp} ns)"
                    try:
                        msg = deserialize_message(bytes(raw), message_class)
                        rgb = imgmsg_to_numpy(msg, "rgb8") if input_type == IMAGE_TYPE else decode_compressed(msg)
                        if rgb.size == 0:
                            raise ValueError(f"empty image ({rgb.shape[0]}x{rgb.shape[1]})")
                        result = analyse(engine, rgb, queries)
                    except (ValueError, EngineError, RuntimeError) as error:
                        failures.append((where, str(error)))
                        tqdm.write(f"skipped {where}: {error}", file=sys.stderr)
                        bar.update(1)
                        continue
                    header = conversions.copy_header(msg.header)
                    if not label_info_sent:
                        put("label_info", timestamp, conversions.label_info(
                            queries.classes, Header(stamp=header.stamp, frame_id=header.frame_id),
                            settings.config.prob_threshold))
                        label_info_sent = True
                    if "region_tokens" in outs:
                        put("region_tokens", timestamp, conversions.region_tokens_to_msg(result.regions, header))
                    if len(queries):
                        segmentation = result.segmentation
                        put("detections", timestamp, conversions.detections_to_msg(result.detections, header))
                        put("labels", timestamp, conversions.labels_to_image(segmentation.labels, len(queries), header))
                        if "confidence" in outs:
                            put("confidence", timestamp, conversions.confidence_to_image(segmentation.confidence,
                                                                                         header))
                        if "overlay" in outs:
                            overlay = draw_overlay(rgb, segmentation.labels, queries.classes, result.detections)
                            put("overlay", timestamp, numpy_to_imgmsg(overlay, "rgb8", header))
                        per_class.update(d.query for d in result.detections)
                    elif "overlay" in outs:
                        put("overlay", timestamp, numpy_to_imgmsg(rgb, "rgb8", header))
                    seconds.append(result.seconds)
                    bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            writer.close()  # an interrupted run still leaves a valid, playable bag
    finally:
        reader.close()

    print(f"wrote {out}: " + ", ".join(f"{topic} ({count})" for topic, count in written.items()))
    _print_summary("bag", len(seconds), to_process, seconds, time.monotonic() - started, per_class,
                   queries.classes, failures, out)
    if interrupted:
        print("interrupted: the bag holds the frames processed so far", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if failures else EXIT_OK


# ---------------------------------------------------------------------------------------------
# textregion download
# ---------------------------------------------------------------------------------------------
@dataclass
class WeightFile:
    """One file a config needs: where it is, or where it would come from."""

    what: str
    urls: list[str]  # download alternatives (empty for local files)
    path: Optional[Path] = None
    fetch: Optional[Callable[[bool], Path]] = None  # fetch(download) -> path (raises when unavailable)
    problem: str = ""
    note: str = ""  # what else to set when this file is passed by path


def cache_location(config: EngineConfig) -> str:
    """The folder downloaded weights go to for `config` (its cache_dir, else the HF hub cache)."""
    if config.cache_dir:
        return str(Path(config.cache_dir).expanduser())
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def weight_files(config: EngineConfig) -> list[WeightFile]:
    """The files `config` loads: open_clip checkpoint, SAM2 checkpoint, Hugging Face tokenizer.

    Random weights need none; local paths are checked, not fetched. UsageError for settings that
    name no loadable model (unknown model or tag, SAM2 id for another model).
    """
    import open_clip

    from .engine.backbones.loading import open_clip_checkpoint
    from .engine.sam2_loading import SAM2_HUB_CHECKPOINTS, sam2_checkpoint_path
    from .engine.weights import OPEN_CLIP_FILES, RANDOM, TOKENIZER_FILES, HubFile, cached_or_download, looks_like_path

    files: list[WeightFile] = []
    what = f"open_clip {config.model} ({config.weights})"
    if config.model not in open_clip.list_models():
        raise UsageError(f"unknown open_clip model {config.model!r}")
    if config.weights == RANDOM:
        pass
    elif looks_like_path(config.weights) or Path(config.weights).expanduser().exists():
        path = Path(config.weights).expanduser()
        files.append(WeightFile(what, [], path if path.is_file() else None,
                                problem="" if path.is_file() else f"weights file {str(path)!r} does not exist"))
    else:
        tags = open_clip.list_pretrained_tags_by_model(config.model)
        if config.weights not in tags:
            raise UsageError(f"weights {config.weights!r} is not a file and not a pretrained tag of {config.model} "
                             f"(tags: {', '.join(tags)})")
        pretrained = open_clip.get_pretrained_cfg(config.model, config.weights)
        repo = (pretrained.get("hf_hub") or "").strip("/")
        if repo:
            urls = [HubFile(repo, name).url for name in OPEN_CLIP_FILES]
        else:
            urls = [str(pretrained.get("url"))]
        note = ""
        if pretrained.get("quick_gelu") and f"{config.model}-quickgelu" in open_clip.list_models():
            # a tag loads with QuickGELU; a bare file does not: the model name has to say so
            note = f"model:={config.model}-quickgelu with these OpenAI weights as a file"
        files.append(WeightFile(what, urls, fetch=lambda download: open_clip_checkpoint(config, download)[0],
                                note=note))

    sam2_what = f"SAM2 {config.sam2_model}"
    if config.sam2_weights == RANDOM:
        pass
    elif config.sam2_weights in SAM2_HUB_CHECKPOINTS:
        hub_model, filename = SAM2_HUB_CHECKPOINTS[config.sam2_weights]
        if hub_model != config.sam2_model:
            raise UsageError(f"sam2_weights {config.sam2_weights!r} holds {hub_model}, but sam2_model is "
                             f"{config.sam2_model!r}")
        files.append(WeightFile(sam2_what, [HubFile(config.sam2_weights, filename).url],
                                fetch=lambda download: sam2_checkpoint_path(config, download)))
    else:
        path = Path(config.sam2_weights).expanduser()
        if not path.is_file() and not looks_like_path(config.sam2_weights):
            raise UsageError(f"sam2_weights {config.sam2_weights!r} is neither an existing file, a known hub id "
                             f"({', '.join(SAM2_HUB_CHECKPOINTS)}) nor 'random'")
        files.append(WeightFile(sam2_what, [], path if path.is_file() else None,
                                problem="" if path.is_file() else f"SAM2 checkpoint {str(path)!r} does not exist"))

    hub_tokenizer = open_clip.get_model_config(config.model).get("text_cfg", {}).get("hf_tokenizer_name")
    if hub_tokenizer and not config.tokenizer:
        for name in TOKENIZER_FILES:
            hub_file = HubFile(hub_tokenizer, name)
            files.append(WeightFile(
                f"tokenizer of {config.model} ({name})", [hub_file.url],
                fetch=lambda download, f=hub_file: cached_or_download((f,), f"tokenizer {f.filename}",
                                                                      config.cache_dir, download)))
    elif hub_tokenizer:
        directory = Path(config.tokenizer).expanduser()
        missing = [name for name in TOKENIZER_FILES if not (directory / name).is_file()]
        files.append(WeightFile(f"tokenizer of {config.model}", [], directory if not missing else None,
                                problem=f"tokenizer directory {str(directory)!r} lacks {missing}" if missing else ""))
    return files


def locate_cached(files: list[WeightFile]) -> None:
    """Fill in `path` for every file already on this machine (no network)."""
    for item in files:
        if item.path is None and item.fetch is not None:
            try:
                item.path = item.fetch(False)
            except WeightsUnavailableError:
                pass


def offline_paragraph(config: EngineConfig, missing: list[WeightFile], reason: str) -> str:
    """One paragraph: what to download, where to put it, and the way to run without it."""
    needed = "; ".join(f"{item.what}: {' or '.join(item.urls)}" for item in missing)
    cache = cache_location(config)
    paths = []
    for item in missing:
        if item.what.startswith("open_clip"):
            paths.append("weights:=/path/to/open_clip_model.safetensors" + (f" ({item.note})" if item.note else ""))
    if any(item.what.startswith("SAM2") for item in missing):
        paths.append(f"sam2_weights:=/path/to/{missing_name(missing, 'SAM2', 'sam2.1_hiera_tiny.pt')}")
    if any(item.what.startswith("tokenizer") for item in missing):
        paths.append("tokenizer:=/folder/with/tokenizer.json+tokenizer_config.json")
    return (
        f"{reason} The weights this configuration needs are not on this machine: {needed}. "
        f"Either run `textregion-download` (with the same --config / flags) on a machine with network and copy "
        f"its cache folder ({cache}) to the same place on this machine (or elsewhere, and name the copy with "
        f"the cache_dir parameter, --cache-dir or HF_HUB_CACHE), or download the files yourself and pass their "
        f"paths as the "
        f"parameters {' and '.join(paths)} (textregion: --weights / --sam2-weights / -p name=value). For a smoke "
        f"test without any download, weights=random and sam2_weights=random build the same models with random "
        f"weights (every label is then meaningless)."
    )


def missing_name(missing: list[WeightFile], prefix: str, default: str) -> str:
    """File name of the first missing item whose description starts with `prefix`."""
    for item in missing:
        if item.what.startswith(prefix) and item.urls:
            return item.urls[0].rsplit("/", 1)[-1]
    return default


def fetch_weights(config: EngineConfig, announce: Callable[[str], None] = print) -> tuple[list[WeightFile], str]:
    """Make every file `config` needs available: cached, downloaded, or listed as missing.

    Returns (files, problem). `problem` is "" when all are present, else the one paragraph to
    show (what to download, where to put it).
    """
    from .engine.weights import hub_endpoint, hub_reachable

    files = weight_files(config)
    broken = [item for item in files if item.problem]
    if broken:
        return files, " ".join(f"{item.problem}." for item in broken) + (
            " Fix the path (weights / sam2_weights / tokenizer), or run `textregion-download` to fetch the "
            "default files into the cache.")
    locate_cached(files)
    missing = [item for item in files if item.path is None]
    if not missing:
        return files, ""
    if not hub_reachable():
        return files, offline_paragraph(config, missing, f"The Hugging Face hub ({hub_endpoint()}) cannot be reached "
                                                         "from this machine (or HF_HUB_OFFLINE is set).")
    failed: list[WeightFile] = []
    for item in missing:
        announce(f"downloading {item.what} ...")
        try:
            item.path = item.fetch(True) if item.fetch else None
        except (WeightsUnavailableError, OSError) as error:
            log.error("%s", error)
            failed.append(item)
    if failed:
        return files, offline_paragraph(config, failed, "Downloading failed (see the errors above).")
    return files, ""


def run_download(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    config = settings.config
    files, problem = fetch_weights(config)
    if problem:
        print(f"textregion-download: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not files:
        print("nothing to download: this configuration uses random weights (weights=random, sam2_weights=random)")
        return EXIT_OK
    print(f"weights ready (cache: {cache_location(config)}):")
    for item in files:
        print(f"  {item.what}: {item.path}")
    print("The node, `textregion` and the demo find cached files by themselves. For a robot without network, "
          "copy the cache folder above to the same place there (or elsewhere, and name the copy with the "
          "cache_dir parameter or HF_HUB_CACHE).")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Argument parsing and entry points
# ---------------------------------------------------------------------------------------------
def _add_shared(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models and settings (node defaults < --config < -p < these flags)")
    group.add_argument("--config", metavar="FILE",
                       help="ROS 2 params file, e.g. config/textregion.yaml ('/**' or 'textregion' section)")
    group.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                       help="any engine setting, value in YAML (e.g. -p scale=[1024,512] -p fuse_masks=false); "
                            "repeatable")
    group.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    group.add_argument("--backbone", help="clip, siglip2 or pe")
    group.add_argument("--model", help="open_clip model name, e.g. ViT-B-16, PE-Core-T-16-384")
    group.add_argument("--weights", help="open_clip pretrained tag, checkpoint file, or random")
    group.add_argument("--sam2-model", dest="sam2_model", help="sam2.1_hiera_t/s/b+/l")
    group.add_argument("--sam2-weights", dest="sam2_weights", help="SAM2 checkpoint file, hub id, or random")
    group.add_argument("--points-per-side", dest="points_per_side", type=int, help="SAM2 point grid size")
    group.add_argument("--cache-dir", dest="cache_dir", help="weights cache folder (default: the Hugging Face cache)")
    group.add_argument("-v", "--verbose", action="store_true", help="log the engine's progress")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textregion",
        description="Open-vocabulary segmentation (SAM2 + TextRegion) on image files and rosbags, offline.",
        epilog="Exit status: 0 ok, 1 some inputs failed (reported, skipped), 2 bad usage/config/weights.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    segment = commands.add_parser(
        "segment", help="segment image files or folders",
        description="Per image: <stem>_labels.png (255/65535 = unlabeled), <stem>_confidence.png, "
                    "<stem>_overlay.png, <stem>_detections.json; plus labels.json (class index -> query) "
                    "and summary.json in --out.")
    segment.add_argument("inputs", nargs="+", metavar="IMAGE|DIR")
    segment.add_argument("--queries", help='comma-separated classes, synonyms with ";": "mug, table; desk"')
    segment.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    segment.add_argument("--recursive", action="store_true", help="also search sub-folders")
    _add_shared(segment)
    segment.set_defaults(run=run_segment)

    bag = commands.add_parser(
        "bag", help="run on a rosbag2 (MCAP or sqlite3) and write the node's topics to a new MCAP bag",
        description="Writes <prefix>/detections, labels, confidence, overlay, label_info and region_tokens, "
                    "stamped like the source images, plus a copy of the image topic.")
    bag.add_argument("input", metavar="IN", help="rosbag2 folder, .mcap or .db3 file")
    bag.add_argument("--image-topic", required=True, help="sensor_msgs/Image or CompressedImage topic")
    bag.add_argument("--queries", help='comma-separated classes, synonyms with ";"')
    bag.add_argument("--out", required=True, metavar="OUT", help="output bag folder (must not exist)")
    bag.add_argument("--every", type=int, default=1, metavar="N", help="process every N-th image (default 1)")
    bag.add_argument("--topic-prefix", default="/" + NODE_NAME, help="output topic namespace (default /textregion)")
    _add_shared(bag)
    bag.set_defaults(run=run_bag)

    download = commands.add_parser(
        "download", help="fetch the weights a configuration needs into the cache",
        description="Fetch the checkpoints the configuration names (default: CLIP ViT-B-16 openai + SAM2.1 "
                    "hiera-tiny) into the Hugging Face cache and print where they are.")
    _add_shared(download)
    download.set_defaults(run=run_download)
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("textregion").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    _setup_logging(args.verbose)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"textregion {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def download_main(argv: Optional[Sequence[str]] = None) -> int:
    """`textregion-download [options]` = `textregion download [options]`."""
    return main(["download", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
