"""Cost of the 3D stage (spatial.locate) per frame, and how it grows with the region count.

Run it on the machine you care about and read the table; nothing here asserts a time.

    python textregion_ros/benchmarks/spatial_stage.py                      # CPU, 640x480 and 1280x720
    python textregion_ros/benchmarks/spatial_stage.py --device cuda --json /tmp/spatial_stage.json
    python textregion_ros/benchmarks/spatial_stage.py --threads 1 --regions 8,64,256 --repeats 3

The scene per image size: a registered depth image at the colour resolution (a floor plane tilted
away from the camera, a wall, boxes in front of it, 2 mm noise, 5 % holes) and R random soft blob
masks (elliptic, values 0..3 like the engine's clamped SAM2 logits, area log-uniform between 0.2 %
and 15 % of the image, overlapping freely) at the masks' resolution: by default the engine's working
resolution (Regions.masks: long side at most 1024 px, so 1280x720 masks are 1024x576 and locate
nearest-resamples the depth), or the colour resolution with --mask-resolution image.

What is timed is one locate() call as the node makes it: soft masks already on the device, the
depth a numpy array (moved to the device inside), results back as numpy. One warm-up pass, then
--repeats passes, each over every R in turn (a slow spell on a shared machine hits every R). Per
image size: median and min per R, the selected points (pixels with mask > 0.5 and valid depth,
summed over the masks: the work really scales with them), and least-squares lines over the medians,
time = fixed + per_region * R and time = fixed + per_point * P, with R^2.

--json PATH writes every number with the device, CPU model, torch version, thread count, load
averages and the date.
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
from typing import Any, Optional, Sequence

import numpy as np
import torch

try:
    import textregion_ros.spatial  # noqa: F401  (installed, or run from a colcon/pip install)
except ImportError:  # run from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_common import LinearFit, benchmark_device, cpu_model, linear_fit, positive_ints, synchronize
from textregion_ros.engine.mask_fusion import working_size
from textregion_ros.spatial import DepthSettings, Intrinsics, locate

DEFAULT_SIZES = "640x480,1280x720"
DEFAULT_REGIONS = "8,16,32,64,128,256"
AREA_FRACTIONS = (0.002, 0.15)  # log-uniform blob areas, as fractions of the image
MASK_CHUNK = 16  # masks generated this many at a time (bounds the generator's temporaries)


# -- command line ----------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'640x480,1280x720' -> [(640, 480), (1280, 720)] as (width, height)."""
    sizes = []
    for item in text.split(","):
        values = positive_ints(item, "x")
        if len(values) != 2:
            raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {item!r}")
        sizes.append((values[0], values[1]))
    return sizes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"colour image sizes WxH, comma-separated (default {DEFAULT_SIZES})")
    parser.add_argument("--regions", type=lambda t: sorted(set(positive_ints(t))),
                        default=positive_ints(DEFAULT_REGIONS), help=f"region counts R (default {DEFAULT_REGIONS})")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over every R (default 5)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--mask-resolution", choices=("work", "image"), default="work",
                        help="masks at the engine's working resolution (default) or at the colour resolution")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    return parser


# -- environment -----------------------------------------------------------------------------------


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads"


# -- synthetic scene ---------------------------------------------------------------------------------
def camera_for(width: int, height: int) -> Intrinsics:
    """A typical RGB-D colour camera: about 70 degrees horizontal field of view, centred."""
    focal = 0.7 * width
    return Intrinsics(fx=focal, fy=focal, cx=(width - 1) / 2.0, cy=(height - 1) / 2.0, width=width, height=height)


def depth_scene(camera: Intrinsics, rng: np.random.Generator) -> np.ndarray:
    """float32 metres [H, W], NaN holes: a floor 1 m below the camera, a wall at 4 m, eight boxes."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    ray_x, ray_y = (u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy
    depth = np.full(u.shape, 4.0)
    floor = np.where(ray_y > 0, 1.0 / np.maximum(ray_y, 1e-9), np.inf)  # y = 1 m plane
    depth = np.minimum(depth, floor)
    for _ in range(8):
        z = rng.uniform(1.0, 3.5)
        x0, y0 = rng.uniform(-1.2, 1.0), rng.uniform(-0.6, 0.6)
        inside = (ray_x * z >= x0) & (ray_x * z <= x0 + rng.uniform(0.1, 0.6)) & \
                 (ray_y * z >= y0) & (ray_y * z <= min(y0 + rng.uniform(0.1, 0.6), 1.0))
        depth = np.where(inside, np.minimum(depth, z), depth)
    depth += rng.normal(0.0, 0.002, depth.shape)
    depth[rng.random(depth.shape) < 0.05] = np.nan
    return depth.astype(np.float32)


def blob_masks(count: int, height: int, width: int, device: torch.device, generator: torch.Generator) -> torch.Tensor:
    """[count, H, W] float32 soft masks in [0, 3]: ellipses with soft edges, areas log-uniform in
    AREA_FRACTIONS of the image, made MASK_CHUNK at a time."""
    rows = torch.arange(height, dtype=torch.float32, device=device)[None, :, None]
    cols = torch.arange(width, dtype=torch.float32, device=device)[None, None, :]
    masks = torch.empty(count, height, width, device=device)
    log_low, log_high = np.log(AREA_FRACTIONS[0]), np.log(AREA_FRACTIONS[1])

    def uniform(n: int, low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(n, generator=generator)).to(device)[:, None, None]

    for start in range(0, count, MASK_CHUNK):  # setup, not the timed path
        n = min(MASK_CHUNK, count - start)
        area = torch.exp(uniform(n, log_low, log_high)) * height * width
        aspect = torch.exp(uniform(n, -0.7, 0.7))
        radius_u = torch.sqrt(area * aspect / np.pi)
        radius_v = torch.sqrt(area / aspect / np.pi)
        centre_u, centre_v = uniform(n, 0, width), uniform(n, 0, height)
        distance = ((cols - centre_u) / radius_u) ** 2 + ((rows - centre_v) / radius_v) ** 2
        masks[start:start + n] = ((1.15 - distance) * 8.0).clamp_(0.0, 3.0)
    return masks


# -- timing and fitting ----------------------------------------------------------------------------------
@dataclass
class Row:
    width: int
    height: int
    mask_width: int
    mask_height: int
    regions: int
    points: int
    valid: int
    median_s: float
    min_s: float
    times_s: list[float]


def time_size(width: int, height: int, counts: Sequence[int], args: argparse.Namespace,
              device: torch.device) -> list[Row]:
    """Every R at one image size: warm-up, then --repeats passes over all R."""
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    camera = camera_for(width, height)
    depth = depth_scene(camera, rng)
    mask_height, mask_width = working_size((height, width)) if args.mask_resolution == "work" else (height, width)
    masks = blob_masks(max(counts), mask_height, mask_width, device, generator)
    settings = DepthSettings()
    times: dict[int, list[float]] = {r: [] for r in counts}
    results = {}
    for repeat in range(args.repeats + 1):
        for count in counts:
            subset = masks[:count]  # a view: no copy
            synchronize(device)
            start = time.perf_counter()
            located = locate(subset, depth, camera, settings)
            synchronize(device)
            elapsed = time.perf_counter() - start
            if repeat == 0:
                results[count] = located  # the warm-up pass
            else:
                times[count].append(elapsed)
    rows = []
    for count in counts:
        located = results[count]
        rows.append(Row(width, height, mask_width, mask_height, count, int(located.candidates.sum()),
                        int(located.valid.sum()), statistics.median(times[count]), min(times[count]), times[count]))
    del masks
    return rows


# -- tables ----------------------------------------------------------------------------------------
def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned plain text: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def print_results(rows: Sequence[Row], fits: dict[str, LinearFit], point_fits: dict[str, LinearFit]) -> None:
    table = []
    for row in rows:
        table.append([f"{row.width}x{row.height}", f"{row.mask_width}x{row.mask_height}", str(row.regions),
                      f"{row.points / 1e6:.2f}", f"{row.valid}", f"{row.median_s * 1e3:.1f}",
                      f"{row.min_s * 1e3:.1f}", f"{row.median_s / row.regions * 1e3:.2f}"])
    print(format_table(["image", "masks", "R", "points (M)", "valid", "median ms", "min ms", "ms / region"], table))
    print("\nleast squares over R, per image size: time = fixed + per_region * R")
    print(format_table(["image", "fixed ms", "per region ms", "R^2"],
                       [[size, f"{fit.fixed_s * 1e3:.1f}", f"{fit.per_region_s * 1e3:.3f}", f"{fit.r_squared:.4f}"]
                        for size, fit in fits.items()]))
    print("\nthe same medians against the selected points P: time = fixed + per_point * P")
    print(format_table(["image", "fixed ms", "per 1000 points ms", "R^2"],
                       [[size, f"{fit.fixed_s * 1e3:.1f}", f"{fit.per_region_s * 1e6:.3f}", f"{fit.r_squared:.4f}"]
                        for size, fit in point_fits.items()]))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    device = benchmark_device(args.device, args.threads)
    load_start = list(os.getloadavg())
    print(f"device: {device} ({device_name(device)}), torch {torch.__version__}")
    print(f"1-min load average at start {load_start[0]:.2f} on {os.cpu_count()} CPUs (other work inflates CPU timings)")
    print(f"masks at the {'working' if args.mask_resolution == 'work' else 'colour'} resolution, "
          f"depth at the colour resolution; {args.repeats} timed passes after one warm-up\n")
    rows: list[Row] = []
    fits: dict[str, LinearFit] = {}
    point_fits: dict[str, LinearFit] = {}  # per_region_s holds seconds per point here
    for width, height in args.sizes:
        size_rows = time_size(width, height, args.regions, args, device)
        rows.extend(size_rows)
        fits[f"{width}x{height}"] = linear_fit([r.regions for r in size_rows], [r.median_s for r in size_rows])
        point_fits[f"{width}x{height}"] = linear_fit([r.points for r in size_rows], [r.median_s for r in size_rows])
    print_results(rows, fits, point_fits)
    load_end = list(os.getloadavg())
    print(f"\n1-min load average at end {load_end[0]:.2f}")
    if args.json:
        results: dict[str, Any] = {
            "device": str(device), "device_name": device_name(device), "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "mask_resolution": args.mask_resolution,
            "repeats": args.repeats, "settings": asdict(DepthSettings()), "load_average_start": load_start,
            "load_average_end": load_end, "rows": [asdict(r) for r in rows],
            "fits": {size: asdict(fit) for size, fit in fits.items()},
            "point_fits": {size: {"per_point_s": fit.per_region_s, "fixed_s": fit.fixed_s, "r_squared": fit.r_squared}
                           for size, fit in point_fits.items()},
        }
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
