"""One image through the engine for the offline tools, and the end-of-run report."""
from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..engine import EngineConfig, EngineError, QuerySet, Regions, Segmentation, TextRegionEngine
from ..engine.errors import ConfigError, WeightsUnavailableError
from ..engine.results import Detection
from ..outputs import result_files
from .settings import UsageError

log = logging.getLogger("textregion")


def build_engine(config: EngineConfig) -> TextRegionEngine:
    """TextRegionEngine for `config`; UsageError naming the missing file or bad setting."""
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


@dataclass
class FrameResult:
    """Everything one image produced (segmentation is None without queries)."""

    regions: Regions
    segmentation: Optional[Segmentation]
    detections: list[Detection]
    seconds: float


def analyse(engine: TextRegionEngine, rgb: np.ndarray, queries: QuerySet) -> FrameResult:
    """Regions, segmentation and grounding of one HxWx3 uint8 image, as the node computes them."""
    started = time.perf_counter()
    regions = engine.regions(rgb)
    segmentation, detections = None, []
    if len(queries):
        segmentation = engine.segment(regions, queries)
        detections = engine.ground(regions, queries, segmentation=segmentation)
    return FrameResult(regions, segmentation, detections, time.perf_counter() - started)


def detection_records(result: FrameResult) -> list[dict[str, Any]]:
    """JSON records of the detections; area = the region's mask area, as RegionTokens.areas holds it."""
    areas = result.regions.areas.tolist()
    return [result_files.detection_record(d.query, d.class_index, d.score, d.box, d.instance_id,
                                          int(areas[d.region_index]))
            for d in result.detections]


def print_summary(command: str, noun: str, done: int, total: int, seconds: list[float], wall: float, per_class: Counter,
                  classes: Sequence[str], failures: list[tuple[str, str]], out: Path) -> None:
    """The closing lines of a run: counts, time per item, detections per class, failures."""
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    print(f"{command}: {done}/{total} {noun}s in {wall:.1f} s ({mean:.2f} s per {noun} in the engine)")
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
