"""The offline tools' engine and pipeline (the node's own, perception/), their detection records, and
the end-of-run report."""
from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from ..engine import EngineConfig, EngineError, TextRegionEngine
from ..engine.errors import ConfigError, WeightsUnavailableError
from ..engine.region_prompts import PromptRecord
from ..objects import TrackedObjects
from ..outputs import result_files
from ..perception import FramePipeline, FrameResult, PipelineSettings
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


def build_pipeline(engine: TextRegionEngine, node_values: Mapping[str, Any],
                   objects: Optional[TrackedObjects] = None) -> FramePipeline:
    """The node's pipeline over `engine` with the settings' parameter values; UsageError on a bad rule."""
    try:
        return FramePipeline(engine, PipelineSettings.from_parameters(node_values), objects)
    except ValueError as error:
        raise UsageError(f"depth settings: {error}") from None


def detection_records(result: FrameResult) -> list[dict[str, Any]]:
    """JSON records of the detections; area = the region's mask area, as RegionTokens.areas holds it."""
    areas = result.regions.areas.tolist()
    return [result_files.detection_record(d.query, d.class_index, d.score, d.box, d.instance_id,
                                          int(areas[d.region_index]))
            for d in result.detections]


def prompt_summary(records: Sequence[PromptRecord]) -> str:
    """One line over a run's region-prompt records: keyframes (by reason) and prompts decoded per frame."""
    if not records:
        return "region prompts: no frames"
    keyframes = Counter(r.reason for r in records if r.keyframe)
    reasons = ", ".join(f"{reason} {count}" for reason, count in keyframes.items())
    mean = sum(r.decoded for r in records) / len(records)
    others = [r.decoded for r in records if not r.keyframe]
    steady = f", {sum(others) / len(others):.1f} on the others" if others else ""
    return (f"region prompts ({records[-1].mode}): {sum(keyframes.values())}/{len(records)} keyframes"
            f"{' (' + reasons + ')' if reasons else ''}; {mean:.1f} prompts decoded per frame{steady}, "
            f"{sum(r.skipped for r in records)} skipped")


def print_summary(command: str, noun: str, done: int, total: int, seconds: list[float], wall: float, per_class: Counter,
                  classes: Sequence[str], failures: list[tuple[str, str]], out: Path,
                  prompts: Optional[Sequence[PromptRecord]] = None) -> None:
    """The closing lines of a run: counts, time per item, region prompts, detections per class, failures."""
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    print(f"{command}: {done}/{total} {noun}s in {wall:.1f} s ({mean:.2f} s per {noun} in the engine)")
    if prompts is not None:
        print(prompt_summary(prompts))
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
