"""The one parameter table: every setting of the node and the engine, written once.

Each row holds a parameter's name, type, default, range or choices, description, when a change
takes effect, and whether the engine (EngineConfig) or only the node reads it. Everything else
derives from this table: the settings dataclasses and their validation (settings_rows.py:
EngineConfig, TrackingSettings, DepthSettings, ...; a test checks their fields against the rows), the ROS parameter
descriptors (ros/parameters.py), the CLI's flags and `-p` coercion (cli/settings.py), and the
generated `config/textregion.yaml` and docs/parameters.md's table (scripts/update_parameter_docs.py;
a test fails when either differs). ROS-free on purpose: the engine and the offline tools import it.

A new parameter is one row here (plus the code that reads it).
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

# When a change takes effect.
START, CONFIGURE, ACTIVATE, RUN_TIME = "start", "configure", "activate", "run time"
APPLIES = (START, CONFIGURE, ACTIVATE, RUN_TIME)
# Value types, named as ROS names them (rcl_interfaces/ParameterType).
BOOL, INTEGER, DOUBLE, STRING = "bool", "integer", "double", "string"
INTEGER_ARRAY, STRING_ARRAY = "integer_array", "string_array"

BACKBONES = ("clip", "siglip2", "pe")
RESIZE_MODES = ("multi_resolution", "resize")
GROUNDING_MODES = ("all", "best")
SAM2_MODELS = (
    "sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l",
    "sam2_hiera_t", "sam2_hiera_s", "sam2_hiera_b+", "sam2_hiera_l",
)
RELIABILITIES = ("best_effort", "reliable")
IMAGE_TRANSPORTS = ("raw", "compressed")
COMPILE_SETTINGS = ("auto", "on", "off")
OVERLAP_SETTINGS = ("auto", "on", "off")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")

Check = Callable[[Any], Optional[str]]  # extra rule: the reason a value is bad, or None


@dataclass(frozen=True)
class Parameter:
    """One row of the table. `minimum`/`maximum` bound numbers and each element of an integer array;
    `step` makes an integer range `minimum + k * step` (as ROS integer ranges do)."""

    name: str
    kind: str
    default: Any
    description: str
    applies: str = RUN_TIME
    engine: bool = True  # an EngineConfig field; False = read by the node (and some offline tools) only
    group: str = ""  # section of the generated params file
    choices: tuple[str, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    step: Optional[int] = None
    rule: str = ""  # the extra rule in words (descriptor and parameter docs), when `check` is set
    check: Optional[Check] = None
    cli_flag: bool = False  # the offline CLI has a dedicated --flag for it
    redact: Optional[Callable[[Any], str]] = None  # how a value is shown in messages (hides a password)

    def constraints(self) -> str:
        """The allowed values in words, for descriptors, the parameter docs and error messages."""
        parts = []
        if self.choices:
            parts.append(" | ".join(self.choices))
        if self.minimum is not None or self.maximum is not None:
            low = _number(self.minimum) if self.minimum is not None else "-inf"
            high = _number(self.maximum) if self.maximum is not None else "inf"
            each = "each " if self.kind == INTEGER_ARRAY else ""
            parts.append(f"{each}from {low} to {high}" + (f" in steps of {self.step}" if self.step else ""))
        if self.rule:
            parts.append(self.rule)
        return "; ".join(parts)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _not_blank(what: str) -> Check:
    return lambda value: None if str(value).strip() else f"must name {what}"


def _device(value: Any) -> Optional[str]:
    return None if _DEVICE_PATTERN.match(str(value)) else "must be auto, cpu, cuda or cuda:N"


def _scale(value: Any) -> Optional[str]:
    if len(value) != 2 or value[0] < value[1]:
        return "must be [long side, short side] with long >= short"
    return None


def _crop_size(value: Any) -> Optional[str]:
    return None if value == 0 or value >= 32 else "must be 0 (the model's size) or at least 32"


def _background_phrases(value: Any) -> Optional[str]:
    phrases = str(value).split(";")
    if str(value).strip() and any(not phrase.strip() for phrase in phrases):
        return "has an empty phrase (two ';' in a row or at an end)"
    return None


_STORE = "object memory across reboots and robots"


def _memory_store(value: Any) -> Optional[str]:
    from .objects.store_records import store_problem  # ROS-free, database-free
    return store_problem(value)


def _redacted_store(value: Any) -> str:
    from .objects.store_records import redact_url
    return repr(redact_url(str(value)))


_MODELS, _MASKS, _TOKENS, _OUTPUTS, _QUERIES, _NODE, _SPATIAL, _OBJECTS = (
    "models", "masks", "region tokens", "segmentation and grounding", "queries", "node", "3D (depth)",
    "region tracks and object memory")
_PROMPTS = "region prompts"
REGION_PROMPT_MODES = ("grid", "tracks")

PARAMETERS: tuple[Parameter, ...] = (
    # --- models: a change rebuilds them at the next configure ---
    Parameter("backbone", STRING, "clip", "Image-text model family.", CONFIGURE, group=_MODELS, choices=BACKBONES,
              cli_flag=True),
    Parameter("model", STRING, "ViT-B-16",
              "open_clip model name, e.g. ViT-B-16, ViT-B-16-SigLIP2-256, PE-Core-T-16-384.", CONFIGURE,
              group=_MODELS, rule="not empty", check=_not_blank("an open_clip model"), cli_flag=True),
    Parameter("weights", STRING, "openai", "open_clip pretrained tag, a local checkpoint file, or random (tests only).",
              CONFIGURE, group=_MODELS, rule="not empty", check=_not_blank("a pretrained tag, a file or random"),
              cli_flag=True),
    Parameter("sam2_model", STRING, "sam2.1_hiera_t", "SAM2 config name.", CONFIGURE, group=_MODELS,
              choices=SAM2_MODELS, cli_flag=True),
    Parameter("sam2_weights", STRING, "facebook/sam2.1-hiera-tiny",
              "Local SAM2 checkpoint, a Hugging Face hub id, or random (tests only).", CONFIGURE, group=_MODELS,
              rule="not empty", check=_not_blank("a file, a hub id or random"), cli_flag=True),
    Parameter("sam2_image_size", INTEGER, 1024, "SAM2 input size in pixels (smaller only for CPU tests).", CONFIGURE,
              group=_MODELS, minimum=64, maximum=4096, step=32),
    Parameter("device", STRING, "auto",
              "Where the models run: auto = CUDA if available, else the CPU (with a warning).", CONFIGURE,
              group=_MODELS, rule="auto, cpu, cuda or cuda:N", check=_device, cli_flag=True),
    Parameter("compile", STRING, "auto",
              "torch.compile the SAM2 encoder, the SAM2 decoder's point batch and the image encoder's view batch "
              "at configure (the views of a 640x480 frame; another view count compiles at its first frame); auto "
              "= on for CUDA, off on the CPU. The first configure takes minutes, later ones read inductor's cache "
              "(TORCHINDUCTOR_CACHE_DIR, default /tmp/torchinductor_$USER). A failed compile runs that stage eager "
              "with a warning.", CONFIGURE, group=_MODELS, choices=COMPILE_SETTINGS),
    Parameter("crop_size", INTEGER, 0, "Encoder input size; 0 = 336 for CLIP, the native size for SigLIP2/PE.",
              CONFIGURE, group=_MODELS, minimum=0, maximum=2048, rule="0 or at least 32", check=_crop_size),
    Parameter("clip_pool_mlp", BOOL, False, "Add the last CLIP block's MLP to region tokens.", CONFIGURE,
              group=_MODELS),
    Parameter("tokenizer", STRING, "",
              "Local directory with tokenizer.json + tokenizer_config.json (SigLIP2 offline); empty = download by "
              "name.", CONFIGURE, group=_MODELS),
    Parameter("cache_dir", STRING, "", "Weights cache directory; empty = the Hugging Face cache.", CONFIGURE,
              group=_MODELS, cli_flag=True),
    Parameter("precision", STRING, "auto",
              "Autocast dtype of the image-text model: auto = measured per backbone on CUDA (fp16 for CLIP, fp32 "
              "for SigLIP2/PE), fp32 on the CPU (no fast fp16 there); fp16/bf16 must be runnable on the device "
              "(else configure fails). SAM2 runs in bf16 on CUDA unless fp32.", CONFIGURE, group=_MODELS,
              choices=PRECISIONS),
    # --- masks ---
    Parameter("points_per_side", INTEGER, 16, "SAM2 point grid is points_per_side x points_per_side.",
              group=_MASKS, minimum=1, maximum=128, cli_flag=True),
    Parameter("points_per_batch", INTEGER, 2048, "Grid points per SAM2 mask-decoder batch.", group=_MASKS,
              minimum=1, maximum=65536),
    Parameter("pred_iou_thresh", DOUBLE, 0.6, "Drop masks whose predicted IoU is not above this (0 = off).",
              group=_MASKS, minimum=0.0, maximum=1.0),
    Parameter("stability_score_thresh", DOUBLE, 0.6, "Drop masks whose stability score is below this (0 = off).",
              group=_MASKS, minimum=0.0, maximum=1.0),
    Parameter("box_nms_thresh", DOUBLE, 0.9, "Box NMS IoU over all mask granularities.", group=_MASKS,
              minimum=0.0, maximum=1.0),
    Parameter("min_mask_area", INTEGER, 100,
              "Drop masks whose area on the 256 x 256 low-res grid is at or below this (after box NMS).",
              group=_MASKS, minimum=0, maximum=65536),
    Parameter("fuse_masks", BOOL, True, "Fuse nested masks into object-level regions.", group=_MASKS),
    Parameter("fuse_mask_threshold", DOUBLE, 0.8, "Containment above which nested masks fuse.", group=_MASKS,
              minimum=0.0, maximum=1.0),
    # --- region tokens ---
    Parameter("resize_mode", STRING, "multi_resolution",
              "multi_resolution (global view + tiles) or resize (global view only, fastest).", group=_TOKENS,
              choices=RESIZE_MODES),
    Parameter("scale", INTEGER_ARRAY, [2016, 672],
              "[long side, short side] bound of the aspect-keeping rescale before tiling; a robot will usually "
              "pick smaller.", group=_TOKENS, minimum=16, maximum=16384, rule="[long, short] with long >= short",
              check=_scale),
    Parameter("remove_global_patches", BOOL, True, "Drop image-global tokens from region pooling.", group=_TOKENS),
    Parameter("global_patch_threshold", DOUBLE, 0.07,
              "belong - outside similarity below which a token counts as global.", group=_TOKENS,
              minimum=-1.0, maximum=1.0),
    # --- segmentation and grounding ---
    Parameter("logit_scale", DOUBLE, 50.0, "Softmax temperature of the segmentation.", group=_OUTPUTS,
              minimum=0.001, maximum=1000.0),
    Parameter("prob_threshold", DOUBLE, 0.0,
              "Pixels whose best class probability is below this are unlabeled (VOC-style: 0.4).", group=_OUTPUTS,
              minimum=0.0, maximum=1.0),
    Parameter("grounding_mode", STRING, "all", "all = one detection per matching region; best = one per query.",
              group=_OUTPUTS, choices=GROUNDING_MODES),
    Parameter("background_queries", STRING, "object; things; stuff; texture",
              "Synonyms of one hidden background class appended to every softmax (the segmentation, ~/query, "
              "~/find): pixels and regions it wins are unlabeled and never detections, so a lone query no "
              "longer labels everything. '' = none (the reference method).", group=_OUTPUTS,
              rule="'' or ';'-separated phrases, none empty", check=_background_phrases),
    Parameter("stable_class_ids", BOOL, True,
              "A class keeps its label value (~/labels, ~/label_info) for the node's lifetime, whatever the "
              "query order; false = the class's index in the current queries.", engine=False, group=_OUTPUTS),
    # --- queries (node) ---
    Parameter("queries", STRING_ARRAY, [""],
              "Queries, one class each; 'a; b' = synonyms of one class. [''] = none (a params file cannot hold an "
              "empty string array); an empty entry beside others is rejected.", engine=False, group=_QUERIES),
    Parameter("max_query_chars", INTEGER, 200,
              "Longest query accepted, in characters (the text models read 64-77 tokens anyway, and tokenizing "
              "grows with the square of a word's length).", engine=False, group=_QUERIES, minimum=1,
              maximum=10000),
    Parameter("max_queries", INTEGER, 256, "Most queries accepted at once (text encoding cost grows with them).",
              engine=False, group=_QUERIES, minimum=1, maximum=65535),
    # --- node ---
    Parameter("max_rate_hz", DOUBLE, 0.0, "Most frames processed per second; 0 = as fast as frames arrive.",
              engine=False, group=_NODE, minimum=0.0, maximum=1000.0),
    Parameter("image_reliability", STRING, "best_effort", "QoS reliability of the image subscription.", ACTIVATE,
              engine=False, group=_NODE, choices=RELIABILITIES),
    Parameter("image_transport", STRING, "raw",
              "raw: subscribe to `image` (and `depth`); compressed: to `image/compressed` (JPEG/PNG) and "
              "`depth/compressedDepth` (PNG), as image_transport publishes them, decoded only for processed "
              "frames.", ACTIVATE, engine=False, group=_NODE, choices=IMAGE_TRANSPORTS),
    Parameter("publish_overlay", BOOL, True, "Publish ~/overlay (colour overlay for RViz).", engine=False,
              group=_NODE),
    Parameter("publish_region_tokens", BOOL, True, "Publish ~/region_tokens.", engine=False, group=_NODE),
    Parameter("publish_confidence", BOOL, True, "Publish ~/confidence.", engine=False, group=_NODE),
    Parameter("autostart", BOOL, True, "Configure and activate on start.", START, engine=False, group=_NODE),
    Parameter("overlap_host_stage", STRING, "auto",
              "Run a frame's host work (describe, overlay, messages, publishing) on a second thread while the "
              "engine works on the next frame. auto = on when the engine runs on CUDA, off on a CPU (there the "
              "models' threads already use every core: overlap only moves cores around).", CONFIGURE,
              engine=False, group=_NODE, choices=OVERLAP_SETTINGS),
    # --- 3D from a registered depth image + camera_info ---
    Parameter("use_depth", BOOL, False,
              "Subscribe to `depth` (16UC1 mm / 32FC1 m, registered to the colour image) and `camera_info`, and "
              "publish ~/detections_3d and ~/markers.", ACTIVATE, engine=False, group=_SPATIAL),
    Parameter("depth_sync_tolerance_s", DOUBLE, 0.05,
              "Largest stamp difference between a colour frame and the depth image paired with it.",
              engine=False, group=_SPATIAL, minimum=0.0, maximum=10.0),
    Parameter("min_depth_m", DOUBLE, 0.1, "Depth readings nearer than this are ignored.", engine=False,
              group=_SPATIAL, minimum=0.0, maximum=1000.0),
    Parameter("max_depth_m", DOUBLE, 10.0, "Depth readings farther than this are ignored.", engine=False,
              group=_SPATIAL, minimum=0.0, maximum=1000.0),
    Parameter("depth_outlier_k", DOUBLE, 3.0,
              "Points farther than this many scaled MADs from their mask's median depth are outliers (mask "
              "edges bleeding onto the background).", engine=False, group=_SPATIAL, minimum=0.1, maximum=100.0),
    Parameter("min_depth_points", INTEGER, 20, "Fewest inlier points a detection needs to get 3D.",
              engine=False, group=_SPATIAL, minimum=1, maximum=1000000),
    Parameter("target_frame", STRING, "",
              "Frame to publish 3D results in (through tf2, at the image stamp); empty = the camera's optical "
              "frame.", CONFIGURE, engine=False, group=_SPATIAL),
    Parameter("tf_timeout_s", DOUBLE, 0.05, "How long a tf2 lookup into target_frame may wait.", engine=False,
              group=_SPATIAL, minimum=0.0, maximum=10.0),
    # --- region tracks and object memory (node) ---
    Parameter("track_max_age_s", DOUBLE, 3.0,
              "A track unseen for longer than this (by image stamps) closes; its object can come back with its "
              "id until then.", engine=False, group=_OBJECTS, minimum=0.0, maximum=3600.0),
    Parameter("track_box_iou_gate", DOUBLE, 0.1,
              "A region and a track are compared only when their boxes overlap by at least this IoU (or, both with "
              "3D, lie within track_max_distance_m).", engine=False, group=_OBJECTS, minimum=0.0, maximum=1.0),
    Parameter("track_min_similarity", DOUBLE, 0.5,
              "Weighted mean of mask IoU, token cosine and 3D closeness below which a region never continues a "
              "track.", engine=False, group=_OBJECTS, minimum=0.0, maximum=1.0),
    Parameter("track_weight_mask_iou", DOUBLE, 1.0, "Weight of the mask IoU in the track similarity.",
              engine=False, group=_OBJECTS, minimum=0.0, maximum=100.0),
    Parameter("track_weight_token", DOUBLE, 1.0, "Weight of the region-token cosine in the track similarity.",
              engine=False, group=_OBJECTS, minimum=0.0, maximum=100.0),
    Parameter("track_weight_3d", DOUBLE, 0.5,
              "Weight of the 3D closeness, max(0, 1 - distance / track_max_distance_m), when both have 3D (half "
              "the others': being at the same place does not make another object the same one).",
              engine=False, group=_OBJECTS, minimum=0.0, maximum=100.0),
    Parameter("track_max_distance_m", DOUBLE, 0.5,
              "3D centres farther apart than this are never the same object.", engine=False, group=_OBJECTS,
              minimum=0.001, maximum=100.0),
    Parameter("track_mask_grid", INTEGER, 128,
              "Mask IoU of the association is measured on the masks subsampled to at most this many cells along "
              "the long side (128: a few pixels at object borders, about a third of the exact cost at 640x480 and "
              "1/25 of the mask bytes a GPU hands over); 0 = at the working resolution exactly.", engine=False,
              group=_OBJECTS, minimum=0, maximum=4096),
    Parameter("memory_s", DOUBLE, 600.0,
              "How long ~/find remembers an object after its last sighting (by image stamps); 0 = no memory.",
              engine=False, group=_OBJECTS, minimum=0.0, maximum=1.0e7),
    Parameter("memory_size", INTEGER, 5000, "Most objects remembered; the longest unseen are forgotten first.",
              engine=False, group=_OBJECTS, minimum=1, maximum=1000000),
    # --- region prompts: what SAM2's decoder is asked per frame ---
    Parameter("region_prompts", STRING, "grid",
              "grid = every grid point on every frame (the reference); tracks = on a non-keyframe one box per "
              "tracked region of the previous frame plus the grid points no previous region covers (keyframes "
              "decode the full grid, as grid does). Needs the frame pipeline's tracks (node, textregion bag); "
              "independent images are all keyframes.", group=_PROMPTS, choices=REGION_PROMPT_MODES),
    Parameter("max_prompts", INTEGER, 64,
              "Most prompts a tracks non-keyframe decodes: tracked boxes first, then uncovered grid points spread "
              "evenly; the rest are counted as skipped (a keyframe finds them).", group=_PROMPTS, minimum=1,
              maximum=65536),
    Parameter("keyframe_interval_s", DOUBLE, 1.0,
              "tracks: a full-grid keyframe at least this often, in image-stamp time (0 = every frame).",
              engine=False, group=_PROMPTS, minimum=0.0, maximum=3600.0),
    Parameter("keyframe_min_coverage", DOUBLE, 0.5,
              "tracks: a keyframe when the previous frame's regions cover less than this share of the grid "
              "points.", engine=False, group=_PROMPTS, minimum=0.0, maximum=1.0),
    # --- object memory across reboots and robots (node) ---
    Parameter("memory_store", STRING, "$ROS_HOME/textregion/memory.sqlite",
              "Where remembered objects outlive the process: a SQLite file path ($ROS_HOME defaults to ~/.ros), "
              "a postgresql://user:password@host/db URL shared by a fleet, or '' (RAM only).", CONFIGURE,
              engine=False, group=_STORE, rule="'' | a file path | postgresql://...", check=_memory_store,
              redact=_redacted_store),
    Parameter("robot_id", STRING, "",
              "This robot's name in the store; '' = the node's namespace, else the host name.", CONFIGURE,
              engine=False, group=_STORE),
    Parameter("map_id", STRING, "",
              "Names the map that target_frame coordinates belong to; stored with every 3D sighting, a ~/find "
              "filter, and a new track continues only records of the same map.", CONFIGURE, engine=False,
              group=_STORE),
    Parameter("memory_retention_s", DOUBLE, 0.0,
              "How long the store keeps an object after it was last seen (wall-clock; applied at configure, hourly "
              "while running and by `textregion memory prune`); 0 = forever.", CONFIGURE, engine=False,
              group=_STORE, minimum=0.0, maximum=1.0e10),
    Parameter("memory_flush_s", DOUBLE, 1.0,
              "The writer's period: changed objects go to the store in one transaction this often, and a "
              "shared store is followed as often.", CONFIGURE, engine=False, group=_STORE, minimum=0.01,
              maximum=3600.0),
    Parameter("memory_queue_size", INTEGER, 256,
              "Frames queued for the writer at most; beyond, a frame's memory update is dropped and counted "
              "(frames never wait for the database).", CONFIGURE, engine=False, group=_STORE, minimum=1,
              maximum=100000),
    Parameter("memory_retry_s", DOUBLE, 5.0,
              "How often an unreachable store is tried again (what changed meanwhile is written when it is "
              "back).", CONFIGURE, engine=False, group=_STORE, minimum=0.1, maximum=3600.0),
    Parameter("memory_continue_distance_m", DOUBLE, 0.5,
              "A new track continues a stored record of this robot and map_id when their 3D centres are at most "
              "this far apart (and their tokens similar).", CONFIGURE, engine=False, group=_STORE,
              minimum=0.0, maximum=100.0),
    Parameter("memory_continue_similarity", DOUBLE, 0.8,
              "... and their token cosine is at least this.", CONFIGURE, engine=False, group=_STORE,
              minimum=-1.0, maximum=1.0),
)

BY_NAME: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
ENGINE_PARAMETERS: tuple[Parameter, ...] = tuple(p for p in PARAMETERS if p.engine)
NODE_PARAMETERS: tuple[Parameter, ...] = tuple(p for p in PARAMETERS if not p.engine)
# Engine fields whose change needs new models (a new engine at the next configure).
RELOAD_FIELDS: frozenset[str] = frozenset(p.name for p in ENGINE_PARAMETERS if p.applies == CONFIGURE)

_KIND_WORDS = {BOOL: "true or false", INTEGER: "an integer", DOUBLE: "a number", STRING: "a string",
               INTEGER_ARRAY: "a list of integers", STRING_ARRAY: "a list of strings"}


def kind_words(parameter: Parameter) -> str:
    """What a value of this row must be, in words ("a list of integers")."""
    return _KIND_WORDS[parameter.kind]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def value_problem(parameter: Parameter, value: Any, label: str = "") -> Optional[str]:
    """Why `value` (already of the parameter's type, as ROS delivers it) is not allowed, or None.

    The message names the parameter (or `label`, when given) and the allowed values, so callers can
    pass it on as is.
    """
    problem = _value_problem(parameter, value)
    return f"{label or parameter.name} {problem}" if problem else None


def setting_problem(parameter: Parameter, value: Any, label: str = "") -> Optional[str]:
    """value_problem for a number set from Python rather than ROS (a settings dataclass field).

    Any real number (numpy's too, not bool) passes as a double and any integral one as an integer;
    then the table's range applies. The settings classes (settings_rows.TableSettings) check their
    fields this way, so each range is written once, here.
    """
    if parameter.kind in (INTEGER, DOUBLE):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            return f"{label or parameter.name} must be a finite number, got {value!r}"
        if parameter.kind == INTEGER:
            if int(value) != value:
                return f"{label or parameter.name} must be an integer, got {value!r}"
            value = int(value)
        else:
            value = float(value)
    return value_problem(parameter, value, label)


def default(name: str) -> Any:
    """The table's default of parameter `name` (a settings dataclass's field default)."""
    return BY_NAME[name].default


def _value_problem(parameter: Parameter, value: Any) -> Optional[str]:
    """value_problem's reason, without the name in front."""
    kind = parameter.kind
    typed = {
        BOOL: lambda v: isinstance(v, bool),
        INTEGER: _is_int,
        DOUBLE: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        STRING: lambda v: isinstance(v, str),
        INTEGER_ARRAY: lambda v: isinstance(v, (list, tuple)) and all(_is_int(x) for x in v),
        STRING_ARRAY: lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
    }[kind]
    if not typed(value):
        return f"must be {_KIND_WORDS[kind]}, got {value!r}"
    if kind == DOUBLE and not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if parameter.choices and value not in parameter.choices:
        return f"must be one of {', '.join(parameter.choices)}, got {value!r}"
    amounts = list(value) if kind == INTEGER_ARRAY else [value] if kind in (INTEGER, DOUBLE) else []
    for number in amounts:
        too_low = parameter.minimum is not None and number < parameter.minimum
        too_high = parameter.maximum is not None and number > parameter.maximum
        off_step = parameter.step is not None and (number - (parameter.minimum or 0)) % parameter.step != 0
        if too_low or too_high or off_step:
            return f"must be {parameter.constraints()}, got {_shown(value)}"
    if parameter.check is not None:
        reason = parameter.check(value)
        if reason:
            return f"{reason}, got {parameter.redact(value) if parameter.redact else _shown(value)}"
    return None


def _shown(value: Any) -> str:
    return repr(list(value)) if isinstance(value, tuple) else repr(value)


def coerce(parameter: Parameter, value: Any) -> Any:
    """`value` from YAML or a command line as the parameter's type, or ValueError saying what it must be.

    Integers are accepted for doubles and integral floats for integers (YAML writes `50` for
    50.0); a missing string (YAML `~`) is "". Ranges are checked by value_problem, not here.
    """
    kind = parameter.kind
    bad = ValueError(f"{parameter.name} must be {_KIND_WORDS[kind]}, got {value!r}")
    if kind == BOOL:
        if isinstance(value, bool):
            return value
    elif kind == INTEGER:
        if _is_int(value):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif kind == DOUBLE:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind == STRING:
        if isinstance(value, str):
            return value
        if value is None:
            return ""
    elif kind == INTEGER_ARRAY:
        if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
            return list(value)
    elif kind == STRING_ARRAY:
        if isinstance(value, str):
            return [value]
        if value is None:
            return []
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
    raise bad
