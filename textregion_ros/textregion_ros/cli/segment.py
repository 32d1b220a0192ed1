"""`textregion segment`: images or folders -> label, confidence and overlay PNGs plus detections JSON."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..engine import EngineConfig, EngineError
from ..engine.region_prompts import PromptRecord
from ..outputs import encodings, result_files
from ..perception import FrameInput
from ..runtime.compressed_image import rgb8
from .depth_files import DepthFile, depth_file, parse_intrinsics, read_depth, records_3d
from .frames import build_engine, build_pipeline, detection_records, print_summary
from .settings import EXIT_FAILURES, EXIT_OK, UsageError, query_set, settings_from_args

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm", ".gif")


def read_image(path: Path) -> np.ndarray:
    """HxWx3 uint8 RGB of an image file, EXIF orientation applied; ValueError when unreadable.

    Decoded by the node's rule (runtime/compressed_image.rgb8: greys of more than 8 bits are scaled, not
    clipped), so a file and the same bytes on the compressed input give one picture. Only regular files
    are opened: a FIFO or device named x.png would block the read forever.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if path.exists() and not path.is_file():
        raise ValueError("not a regular file (a FIFO, device or socket is never read)")
    try:
        with Image.open(path) as image:
            return rgb8(ImageOps.exif_transpose(image))
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
    """`textregion segment`: per image the label, confidence and overlay PNGs and the detections JSON."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    settings = settings_from_args(args)
    queries = query_set(settings.queries, required=True)
    depth_folder = Path(args.depth).expanduser() if getattr(args, "depth", None) else None
    intrinsics = parse_intrinsics(args.intrinsics) if getattr(args, "intrinsics", None) else None
    if (depth_folder is None) != (intrinsics is None):
        raise UsageError("--depth and --intrinsics go together (the depth folder and the colour camera's fx,fy,cx,cy)")
    if depth_folder is not None and not depth_folder.is_dir():
        raise UsageError(f"--depth {str(depth_folder)!r} is not a folder")
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

    pipeline = build_pipeline(build_engine(settings.config), settings.node)  # no tracks: independent images
    products = {"labels", "confidence", "overlay", "detections", *(("detections_3d",) if depth_folder else ())}
    result_files.write_json(out / "labels.json", result_files.class_map(queries.classes))
    per_class: Counter[str] = Counter()
    seconds: list[float] = []
    records: list[dict[str, Any]] = []
    prompt_records: list[PromptRecord] = []
    used: set[str] = set()
    started = time.monotonic()
    with logging_redirect_tqdm(), tqdm(files, unit="img", desc="segment", disable=None, dynamic_ncols=True) as bar:
        for path in bar:
            bar.set_postfix_str(path.name[-30:], refresh=False)
            try:
                image_started = time.perf_counter()
                rgb = read_image(path)
                depth = _depth_of(depth_folder, path, intrinsics, rgb.shape[:2], failures)
                observed = pipeline.observe(FrameInput(rgb, depth=depth))
                result = pipeline.describe(observed, queries, products)
                image_seconds = time.perf_counter() - image_started
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
            if observed.problem_3d is not None:  # a depth file that cannot be used: 2D only, reported
                failures.append((str(path), f"depth: {observed.problem_3d}"))
                tqdm.write(f"no 3D for {path}: {observed.problem_3d}", file=sys.stderr)
            if depth is not None:
                for record, spatial in zip(detections, records_3d(result.detections_camera_3d, len(detections))):
                    record.update(spatial)
            try:
                result_files.save_png(encodings.label_array(result.segmentation.labels, len(queries)),
                                 out / f"{stem}_labels.png")
                result_files.save_png(encodings.confidence_array(result.segmentation.confidence),
                                 out / f"{stem}_confidence.png")
                result_files.save_png(result.overlay, out / f"{stem}_overlay.png")
                result_files.write_json(out / f"{stem}_detections.json", result_files.detections_document(
                    str(path), rgb.shape[:2], queries.classes, detections,
                    {"regions": len(result.regions), "seconds": round(image_seconds, 3),
                     "model": settings.config.model_id}))
            except OSError as error:
                failures.append((str(path), f"cannot write outputs: {error}"))
                tqdm.write(f"failed to write the outputs of {path}: {error}", file=sys.stderr)
                continue
            seconds.append(image_seconds)
            per_class.update(d["query"] for d in detections)
            prompt_records.append(observed.regions.prompts)
            records.append({"image": str(path), "stem": stem, "detections": len(detections),
                            "seconds": round(image_seconds, 3), "prompts": observed.regions.prompts.as_dict()})

    result_files.write_json(out / "summary.json", {
        "config": config_record(settings.config), "queries": list(queries.classes),
        "images": records, "failures": [{"input": s, "reason": r} for s, r in failures],
    })
    print_summary("segment", "image", len(seconds), len(files) + len(problems), seconds, time.monotonic() - started,
                   per_class, queries.classes, failures, out, prompt_records)
    return EXIT_FAILURES if failures else EXIT_OK


def _depth_of(folder: Optional[Path], image: Path, intrinsics: Any, size: tuple[int, int],
              failures: list[tuple[str, str]]) -> Optional[DepthFile]:
    """The depth file of `image` as the pipeline's depth source (None without a folder or a file for it).
    An unreadable one is reported and the image keeps its 2D outputs."""
    path = depth_file(folder, image.stem) if folder is not None else None
    if path is None:
        return None
    try:
        return DepthFile(read_depth(path), intrinsics, size)
    except ValueError as error:
        failures.append((str(image), f"depth: {error}"))
        tqdm_write(f"no 3D for {image}: {error}")
        return None


def tqdm_write(message: str) -> None:
    """A log line that does not tear the progress bar (tqdm is imported only when it is drawn)."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def config_record(config: EngineConfig) -> dict[str, Any]:
    """The engine config as JSON (arrays as lists)."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in dataclasses.asdict(config).items()}
