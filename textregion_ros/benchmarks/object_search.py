"""Cost of the object layer: tracking + memory per frame, and searching the memory by text.

Run it on the machine you care about and read the tables; nothing here asserts a time.

    python textregion_ros/benchmarks/object_search.py                         # CPU, defaults below
    python textregion_ros/benchmarks/object_search.py --device cuda --json /tmp/object_search.json
    python textregion_ros/benchmarks/object_search.py --regions 8,256 --frames 20 --threads 1

(a) Per frame, for R regions: soft masks (0..3 like the engine's clamped SAM2 logits, zero outside)
    of R elliptic blobs that drift and bounce at the working resolution (640x480 by default), as a
    torch tensor on --device; tokens D = 512 (a fixed token per blob plus a little noise each frame);
    3D centres for 80 % of the regions. Timed separately: Tracker.update and ObjectMemory.observe
    (with the tracks' tokens and an Boxes3D, as the node calls them). Mean and median over
    --frames frames after --warmup untimed ones. "mask grid" times, on its own, the part of update
    that subsamples and thresholds the masks (memory-bound on the CPU: it touches every grid row).
(b) ObjectMemory.find over memories of N objects, with a numpy scorer standing in for the text
    scoring: softmax(100 * tokens @ text.T) over 5 classes plus a background column, class = argmax,
    -1 where background wins. Median over --calls calls of: the scorer alone, find keeping the best
    10, and find returning every match.

--json PATH writes every number with the CPU model, versions, thread count and load averages.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

try:
    import textregion_ros.objects  # noqa: F401  (installed, or run from a colcon/pip install)
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import benchmark_device, cpu_model, positive_ints, synchronize
from textregion_ros.objects import FrameObservation, ObjectMemory, Tracker, TrackingSettings
from textregion_ros.spatial import Boxes3D
from textregion_ros.objects.association import grid_stride, masks_on_grid, pack_masks

DEFAULT_REGIONS = "8,32,64,128,256"
DEFAULT_MEMORIES = "100,1000,10000"
TOKEN_DIM = 512
CLASSES = 5
LOGIT_SCALE = 100.0  # CLIP-style temperature: random tokens still give a confident argmax
AREA_FRACTIONS = (0.002, 0.03)  # log-uniform blob areas, as fractions of the image
VALID_3D = 0.8


# -- command line ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", type=positive_ints, default=positive_ints(DEFAULT_REGIONS),
                        help=f"region counts R per frame (default {DEFAULT_REGIONS})")
    parser.add_argument("--size", default="640x480", help="working resolution WxH of the masks (default 640x480)")
    parser.add_argument("--frames", type=int, default=50, help="timed frames per R (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames first (default 3)")
    parser.add_argument("--memories", type=positive_ints, default=positive_ints(DEFAULT_MEMORIES),
                        help=f"remembered object counts N for find (default {DEFAULT_MEMORIES})")
    parser.add_argument("--calls", type=int, default=200, help="find calls per N (default 200)")
    parser.add_argument("--device", default="cpu", help="where the masks live: cpu or cuda[:N] (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser


def unit_rows(values: np.ndarray) -> np.ndarray:
    return (values / np.linalg.norm(values, axis=1, keepdims=True)).astype(np.float32)


# -- (a) synthetic moving blobs ------------------------------------------------------------------------
class BlobScene:
    """R elliptic blobs drifting and bouncing in a W x H frame; the mask buffer is reused per frame."""

    def __init__(self, count: int, width: int, height: int, device: torch.device, rng: np.random.Generator) -> None:
        self.count, self.width, self.height, self.rng = count, width, height, rng
        areas = np.exp(rng.uniform(*np.log(AREA_FRACTIONS), count)) * width * height
        aspect = rng.uniform(0.5, 2.0, count)
        self.radii = np.stack([np.sqrt(areas * aspect / np.pi), np.sqrt(areas / aspect / np.pi)], axis=1)
        self.centres = rng.uniform([0, 0], [width, height], (count, 2))
        self.velocity = rng.uniform(-6.0, 6.0, (count, 2))  # pixels per frame
        self.points = rng.uniform([-1.5, -1.0, 1.0], [1.5, 1.0, 4.0], (count, 3))
        self.tokens = unit_rows(rng.normal(size=(count, TOKEN_DIM)))
        self.masks = torch.zeros((count, height, width), dtype=torch.float32, device=device)
        self.windows: list[Optional[tuple[int, int, int, int]]] = [None] * count

    def step(self, frame: int, stamp_ns: int) -> tuple[FrameObservation, Boxes3D]:
        self.centres += self.velocity
        size = np.array([self.width, self.height], dtype=float)
        bounce = (self.centres < 0) | (self.centres >= size)
        self.velocity[bounce] *= -1.0
        self.centres = np.clip(self.centres, 0, size - 1)
        self.points += self.rng.normal(0.0, 0.01, self.points.shape)
        boxes = np.stack([self._draw(i) for i in range(self.count)])
        tokens = unit_rows(self.tokens + self.rng.normal(0.0, 0.02, self.tokens.shape))
        valid = self.rng.random(self.count) < VALID_3D
        centres = np.where(valid[:, None], self.points, np.nan)
        observation = FrameObservation(stamp_ns=stamp_ns, tokens=torch.from_numpy(tokens), masks=self.masks,
                                       boxes=boxes, centres_3d=centres)
        spatial = Boxes3D(centres=centres, box_centres=centres, sizes=np.full((self.count, 3), 0.2),
                             orientations=np.tile([0.0, 0.0, 0.0, 1.0], (self.count, 1)), valid=valid,
                             frame_id="map", stamp_ns=stamp_ns)
        return observation, spatial

    def _draw(self, i: int) -> np.ndarray:
        """Blob i at its new place (its old window cleared); returns its exclusive box."""
        if self.windows[i] is not None:
            x1, y1, x2, y2 = self.windows[i]
            self.masks[i, y1:y2, x1:x2] = 0.0
        (cx, cy), (rx, ry) = self.centres[i], self.radii[i]
        x1, x2 = max(0, int(cx - rx)), min(self.width, int(cx + rx) + 1)
        y1, y2 = max(0, int(cy - ry)), min(self.height, int(cy + ry) + 1)
        yy, xx = np.mgrid[y1:y2, x1:x2]
        value = 3.0 * np.clip(1.0 - ((xx - cx) / rx) ** 2 - ((yy - cy) / ry) ** 2, 0.0, 1.0)
        self.masks[i, y1:y2, x1:x2] = torch.from_numpy(value.astype(np.float32))
        self.windows[i] = (x1, y1, x2, y2)
        inside = value > 0
        if not inside.any():
            return np.zeros(4)
        rows, cols = np.nonzero(inside.any(axis=1))[0], np.nonzero(inside.any(axis=0))[0]
        return np.array([x1 + cols[0], y1 + rows[0], x1 + cols[-1] + 1, y1 + rows[-1] + 1], dtype=float)


@dataclass
class FrameRow:
    regions: int
    update_mean_ms: float
    update_median_ms: float
    observe_mean_ms: float
    observe_median_ms: float
    grid_median_ms: float  # of which: the masks onto the association grid (measured on its own)
    open_tracks: int
    remembered: int


def time_frames(count: int, width: int, height: int, args: argparse.Namespace, device: torch.device) -> FrameRow:
    scene = BlobScene(count, width, height, device, np.random.default_rng(args.seed + count))
    tracker, memory = Tracker(TrackingSettings()), ObjectMemory()
    update_ms, observe_ms, grid_ms = [], [], []
    stride = grid_stride(height, width, TrackingSettings().mask_grid)
    for frame in range(args.warmup + args.frames):
        stamp = frame * 100_000_000  # 10 Hz
        observation, spatial = scene.step(frame, stamp)
        synchronize(device)
        start = time.perf_counter()
        ids = tracker.update(observation)
        middle = time.perf_counter()
        memory.observe(stamp, "camera", ids, tracker.last_track_tokens, observation.boxes, spatial)
        end = time.perf_counter()
        pack_masks(masks_on_grid(observation.masks, stride))
        synchronize(device)
        grid_end = time.perf_counter()
        if frame >= args.warmup:
            update_ms.append((middle - start) * 1e3)
            observe_ms.append((end - middle) * 1e3)
            grid_ms.append((grid_end - end) * 1e3)
    return FrameRow(count, statistics.fmean(update_ms), statistics.median(update_ms), statistics.fmean(observe_ms),
                    statistics.median(observe_ms), statistics.median(grid_ms), len(tracker.open_tracks), len(memory))


# -- (b) find over a filled memory ------------------------------------------------------------------------
def text_scorer(rng: np.random.Generator) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """tokens -> (argmax class, -1 for background; its softmax probability) over 5 classes + background."""
    text = unit_rows(rng.normal(size=(CLASSES + 1, TOKEN_DIM)))

    def score(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits = LOGIT_SCALE * (tokens @ text.T)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        best = probabilities.argmax(axis=1)
        return np.where(best == CLASSES, -1, best), probabilities[np.arange(tokens.shape[0]), best]

    return score


@dataclass
class FindRow:
    objects: int
    scorer_ms: float
    find_top10_ms: float
    find_all_ms: float
    matches: int


def filled_memory(count: int, rng: np.random.Generator) -> ObjectMemory:
    memory = ObjectMemory(memory_s=600.0, memory_size=count)
    per_frame = 256
    for start in range(0, count, per_frame):
        ids = np.arange(start + 1, min(count, start + per_frame) + 1, dtype=np.uint32)
        tokens = unit_rows(rng.normal(size=(ids.shape[0], TOKEN_DIM)))
        boxes = np.tile([10.0, 10.0, 50.0, 50.0], (ids.shape[0], 1))
        memory.observe(start * 1_000_000, "camera", ids, tokens, boxes)
    return memory


def median_ms(call: Callable[[], Any], calls: int) -> float:
    call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def time_find(count: int, args: argparse.Namespace) -> FindRow:
    rng = np.random.default_rng(args.seed + 7 * count)
    memory, score = filled_memory(count, rng), text_scorer(rng)
    handed: list[np.ndarray] = []
    memory.find(lambda tokens: (handed.append(tokens.copy()) or score(tokens)))  # the matrix find hands over
    tokens = handed[0]
    return FindRow(count, median_ms(lambda: score(tokens), args.calls),
                   median_ms(lambda: memory.find(score, max_results=10), args.calls),
                   median_ms(lambda: memory.find(score), args.calls), len(memory.find(score)))


# -- output -----------------------------------------------------------------------------------------------
def print_frames(rows: Sequence[FrameRow], size: str) -> None:
    print(f"(a) per frame, {size} masks, D = {TOKEN_DIM}: Tracker.update and ObjectMemory.observe (ms)")
    print(f"{'R':>5} {'update mean':>12} {'median':>8} {'x R=' + str(rows[0].regions):>8} {'us/region':>10} "
          f"{'mask grid':>10} {'share':>6} {'observe mean':>13} {'median':>8} {'tracks':>7} {'memory':>7}")
    base = rows[0].update_median_ms
    for row in rows:
        print(f"{row.regions:>5} {row.update_mean_ms:>12.2f} {row.update_median_ms:>8.2f} "
              f"{row.update_median_ms / base:>8.1f} {1e3 * row.update_median_ms / row.regions:>10.1f} "
              f"{row.grid_median_ms:>10.2f} {row.grid_median_ms / row.update_median_ms:>6.0%} "
              f"{row.observe_mean_ms:>13.3f} {row.observe_median_ms:>8.3f} {row.open_tracks:>7} {row.remembered:>7}")


def print_find(rows: Sequence[FindRow], calls: int) -> None:
    print(f"\n(b) ObjectMemory.find, median of {calls} calls (ms); "
          f"scorer = softmax over {CLASSES} classes + background")
    print(f"{'N':>7} {'scorer':>8} {'find top10':>11} {'overhead':>9} {'x N=' + str(rows[0].objects):>8} "
          f"{'find all':>9} {'matches':>8} {'us/match':>9}")
    base = rows[0].find_top10_ms
    for row in rows:
        print(f"{row.objects:>7} {row.scorer_ms:>8.3f} {row.find_top10_ms:>11.3f} "
              f"{row.find_top10_ms - row.scorer_ms:>9.3f} {row.find_top10_ms / base:>8.1f} {row.find_all_ms:>9.2f} "
              f"{row.matches:>8} {1e3 * (row.find_all_ms - row.find_top10_ms) / max(1, row.matches - 10):>9.2f}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    device = benchmark_device(args.device, args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    load_start = list(os.getloadavg())
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads; masks on {device}; "
          f"numpy {np.__version__}, torch {torch.__version__}")
    print(f"1-min load average at start {load_start[0]:.2f} (other work inflates CPU timings)\n")
    frame_rows = [time_frames(count, width, height, args, device) for count in args.regions]
    print_frames(frame_rows, args.size)
    find_rows = [time_find(count, args) for count in args.memories]
    print_find(find_rows, args.calls)
    load_end = list(os.getloadavg())
    print(f"\n1-min load average at end {load_end[0]:.2f}")
    if args.json:
        results = {
            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": str(device), "numpy": np.__version__, "torch": torch.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "size": args.size,
            "frames": args.frames, "calls": args.calls, "tracking_settings": asdict(TrackingSettings()),
            "load_average_start": load_start, "load_average_end": load_end,
            "frame_rows": [asdict(r) for r in frame_rows], "find_rows": [asdict(r) for r in find_rows],
        }
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
