"""How the tracking gates hold identities: id changes per 1,000 region-frames on synthetic scenes.

Nothing here asserts anything; it prints the table the defaults of track_box_iou_gate and
track_min_similarity were chosen from (the closing note of the object-search issue quotes it).

    python textregion_ros/benchmarks/tracking_quality.py
    python textregion_ros/benchmarks/tracking_quality.py --regions 64 --frames 100 --json /tmp/quality.json

The scene is object_search.py's: R elliptic blobs drifting (and bouncing, so they cross) in a 640 x 480
frame at a given speed, each with its own random token plus fresh Gaussian noise every frame (the
noise sets the cosine between two sightings of the same blob, as the view changes a real region
token), optionally a component all blobs share (their tokens then have that cosine with each other),
3D for 80 % of the regions in a fixed frame. Blob i is region i in every frame, so every
change of blob i's track id between consecutive frames is an identity error (a switch or a new
track). Rows: speed in px per frame, the cosine between different blobs, and the mean token cosine
between consecutive sightings of one blob;
columns: settings (box IoU gate / min similarity / 3D used or not).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # object_search.py's synthetic scene
from object_search import AREA_FRACTIONS, BlobScene, unit_rows

from textregion_ros.objects import Tracker, TrackingSettings

SPEEDS = (2.0, 6.0, 12.0, 24.0)
NOISES = (0.02, 0.05)  # per token dimension (D = 512): consecutive sightings at cosine ~0.83 / ~0.44
# cosine between different blobs' tokens: 0 = unrelated, 0.6 = alike as real region tokens of one
# image often are (a shared component), which is what makes a crossing hard
SHARED = (0.0, 0.6)
# chance per region and frame that another object takes its place (it should get a new id)
REPLACE_RATE = 0.02
DEFAULT = TrackingSettings()
VARIANTS = {
    "defaults": DEFAULT,
    "3D weight 1": replace(DEFAULT, weight_3d=1.0),
    "no 3D": replace(DEFAULT, weight_3d=0.0, max_distance_m=1e-3),
    "gate 0.3": replace(DEFAULT, box_iou_gate=0.3),
    "min sim 0.3": replace(DEFAULT, min_similarity=0.3),
    "min sim 0.7": replace(DEFAULT, min_similarity=0.7),
}


def id_changes(settings: TrackingSettings, count: int, frames: int, speed: float, noise: float, shared: float,
               seed: int, replace_rate: float = REPLACE_RATE) -> tuple[float, float, float]:
    """(id changes per 1,000 region-frames of the same object, % of replaced objects that wrongly kept
    the old id, mean cosine of consecutive sightings) for one scene."""
    rng = np.random.default_rng(seed)
    scene = BlobScene(count, 640, 480, torch.device("cpu"), rng)
    scene.velocity = scene.velocity / np.linalg.norm(scene.velocity, axis=1, keepdims=True) * speed
    tracker = Tracker(settings)
    common = unit_rows(rng.normal(size=(1, scene.tokens.shape[1])))
    base_tokens = unit_rows(np.sqrt(shared) * common + np.sqrt(1.0 - shared) * scene.tokens)
    previous_ids: Optional[np.ndarray] = None
    previous_tokens: Optional[np.ndarray] = None
    changes, kept_wrongly, replaced_total, cosines = 0, 0, 0, []
    for frame in range(frames):
        # another object takes a blob's place: new shape around the same centre, new token
        replaced = (rng.random(count) < replace_rate) if frame else np.zeros(count, dtype=bool)
        for index in np.flatnonzero(replaced):
            area = np.exp(rng.uniform(*np.log(AREA_FRACTIONS))) * 640 * 480
            aspect = rng.uniform(0.5, 2.0)
            scene.radii[index] = [np.sqrt(area * aspect / np.pi), np.sqrt(area / aspect / np.pi)]
            own = unit_rows(rng.normal(size=(1, base_tokens.shape[1])))
            base_tokens[index] = unit_rows(np.sqrt(shared) * common + np.sqrt(1.0 - shared) * own)[0]
        observation, _ = scene.step(frame, frame * 100_000_000)
        tokens = unit_rows(base_tokens + rng.normal(0.0, noise, base_tokens.shape))
        observation.tokens = torch.from_numpy(tokens)
        ids = tracker.update(observation)
        if previous_ids is not None:
            same = ~replaced
            changes += int((ids[same] != previous_ids[same]).sum())
            kept_wrongly += int((ids[replaced] == previous_ids[replaced]).sum())
            replaced_total += int(replaced.sum())
            cosines.append(float((tokens[same] * previous_tokens[same]).sum(axis=1).mean()))
        previous_ids, previous_tokens = ids, tokens
    same_frames = count * (frames - 1) - replaced_total
    return (1000.0 * changes / same_frames, 100.0 * kept_wrongly / max(1, replaced_total),
            float(np.mean(cosines)))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=32)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=3, help="scenes per cell (mean over them)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    print(f"per cell: id changes per 1,000 region-frames of the same object / % of replaced objects that kept "
          f"the old id (R = {args.regions}, {args.frames} frames, {REPLACE_RATE:.0%} replaced per frame, mean of "
          f"{args.seeds} scenes); 0 / 0 = no identity error")
    print(f"{'px/frame':>8} {'others':>6} {'self':>5} " + " ".join(f"{name:>12}" for name in VARIANTS))
    rows = []
    for shared in SHARED:
        for speed in SPEEDS:
            for noise in NOISES:
                cells, cosine = {}, 0.0
                for name, settings in VARIANTS.items():
                    results = [id_changes(settings, args.regions, args.frames, speed, noise, shared, seed)
                               for seed in range(args.seeds)]
                    cells[name] = [float(np.mean([r[0] for r in results])), float(np.mean([r[1] for r in results]))]
                    cosine = float(np.mean([r[2] for r in results]))
                rows.append({"speed_px": speed, "token_noise": noise, "shared": shared, "cosine": cosine, **cells})
                print(f"{speed:>8.0f} {shared:>6.1f} {cosine:>5.2f} "
                      + " ".join(f"{cells[name][0]:>6.1f}/{cells[name][1]:>3.0f}%" for name in VARIANTS))
    if args.json:
        args.json.write_text(json.dumps({"regions": args.regions, "frames": args.frames, "seeds": args.seeds,
                                         "rows": rows}, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
