"""`textregion`: the TextRegion engine on image files and rosbags, without a running ROS graph.

    textregion segment IMAGE|DIR ... --queries "mug, table; desk" --out OUT [--recursive]
    textregion bag IN --image-topic /camera/image_raw --queries "mug, chair" --out OUT.bag [--every N]
    textregion download            (also installed as `textregion-download`)
    textregion memory [--store FILE|URL] list|find "<phrase>"|forget|export|import|prune   (an object store)

Every command reads the same settings as the node: `--config` takes a ROS 2 params file such as
config/textregion.yaml, `-p name=value` sets any parameter, and the common parameters have flags
of their own (those marked `cli_flag` in textregion_ros.params). Precedence: defaults < --config
< -p < dedicated flags (--device, ...).

Exit status: 0 success; 1 some inputs failed (each was reported and skipped); 2 bad usage,
config or missing weights (one message, no traceback); 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional, Sequence

from .. import params
from ..tooling.params_files import NODE_NAME
from .settings import EXIT_INTERRUPTED, EXIT_USAGE, FLAG_PARAMETERS, UsageError

_FLAG_TYPES = {params.INTEGER: int, params.DOUBLE: float, params.STRING: str}


def _add_shared(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models and settings (defaults < --config < -p < these flags)")
    group.add_argument("--config", metavar="FILE",
                       help="ROS 2 params file, e.g. config/textregion.yaml ('/**' or 'textregion' section)")
    group.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                       help="any parameter, value in YAML (e.g. -p scale=[1024,512] -p fuse_masks=false); "
                            "repeatable")
    for parameter in FLAG_PARAMETERS:
        allowed = f" ({parameter.constraints()})" if parameter.constraints() else ""
        group.add_argument("--" + parameter.name.replace("_", "-"), dest=parameter.name,
                           type=_FLAG_TYPES[parameter.kind], help=parameter.description + allowed)
    group.add_argument("-v", "--verbose", action="store_true", help="log the engine's progress")


def build_parser() -> argparse.ArgumentParser:
    """The `textregion` command line: one subcommand per front end, their shared flags from the parameter table."""
    from .bag import run_bag
    from .download import run_download
    from .segment import run_segment

    parser = argparse.ArgumentParser(
        prog="textregion",
        description="Open-vocabulary segmentation (SAM2 + TextRegion) on image files and rosbags, offline.",
        epilog="Exit status: 0 ok, 1 some inputs failed (reported, skipped), 2 bad usage/config/weights.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    queries_help = 'comma-separated classes, synonyms with ";": "mug, table; desk" (an empty item is an error)'

    segment = commands.add_parser(
        "segment", help="segment image files or folders",
        description="Per image: <stem>_labels.png (255/65535 = unlabeled), <stem>_confidence.png, "
                    "<stem>_overlay.png, <stem>_detections.json; plus labels.json (class index -> query) "
                    "and summary.json in --out.")
    segment.add_argument("inputs", nargs="+", metavar="IMAGE|DIR")
    segment.add_argument("--queries", help=queries_help)
    segment.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    segment.add_argument("--recursive", action="store_true", help="also search sub-folders")
    segment.add_argument("--depth", metavar="DIR", help="registered depth per image, matched by file stem: "
                         "<stem>.png (16-bit mm) or <stem>.npy (float m); adds 3D to the detections JSON")
    segment.add_argument("--intrinsics", metavar="FX,FY,CX,CY", help="the colour camera's pinhole intrinsics "
                         "(pixels), with --depth")
    _add_shared(segment)
    segment.set_defaults(run=run_segment)

    bag = commands.add_parser(
        "bag", help="run on a rosbag2 (MCAP or sqlite3) and write the node's topics to a new MCAP bag",
        description="Writes <prefix>/detections, labels, confidence, overlay, label_info and region_tokens, "
                    "stamped like the source images, plus a copy of the image topic.")
    bag.add_argument("input", metavar="IN", help="rosbag2 folder, .mcap or .db3 file")
    bag.add_argument("--image-topic", required=True, help="sensor_msgs/Image or CompressedImage topic")
    bag.add_argument("--queries", help=queries_help)
    bag.add_argument("--out", required=True, metavar="OUT", help="output bag folder (must not exist)")
    bag.add_argument("--every", type=int, default=1, metavar="N", help="process every N-th image (default 1)")
    bag.add_argument("--depth-topic", help="registered depth (sensor_msgs/Image 16UC1 / 32FC1): adds "
                     "<prefix>/detections_3d and <prefix>/markers")
    bag.add_argument("--camera-info-topic", help="the colour camera's sensor_msgs/CameraInfo, with --depth-topic")
    bag.add_argument("--topic-prefix", default="/" + NODE_NAME, help="output topic namespace (default /textregion)")
    _add_shared(bag)
    bag.set_defaults(run=run_bag)

    download = commands.add_parser(
        "download", help="fetch the weights a configuration needs into the cache",
        description="Fetch the checkpoints the configuration names (default: CLIP ViT-B-16 openai + SAM2.1 "
                    "hiera-tiny) into the Hugging Face cache and print where they are.")
    _add_shared(download)
    download.set_defaults(run=run_download)

    from .memory import add_memory_parser
    add_memory_parser(commands, _add_shared)
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("textregion").setLevel(logging.INFO if verbose else logging.WARNING)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of `textregion`: the exit status says how it ended (0, usage error, interrupted, failed)."""
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
