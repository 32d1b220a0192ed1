"""Synthetic scenes the benchmarks run on: test images (a photograph, or a gradient with shapes),
low-res SAM2 logits with nested parts and ties, moving blobs with tokens and 3D points for the tracker
and the memory, and a depth scene with soft masks for the 3D stage. Each is seeded, so a figure can
be measured again on the same input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

from textregion_ros.engine.rescale import resize_linear_uint8
from textregion_ros.objects import RegionSightings
from textregion_ros.spatial import Boxes3D, Intrinsics

PHOTO = Path(__file__).resolve().parents[1] / "textregion_ros" / "data" / "astronaut.jpg"
TOKEN_DIM = 512  # the moving blobs' tokens (PE-Core-T and ViT-B-16 both give 512 values)
VALID_3D = 0.8  # the share of blobs with a 3D point in a frame
AREA_FRACTIONS = (0.002, 0.03)  # moving blobs: log-uniform areas, as fractions of the image
MASK_AREA_FRACTIONS = (0.002, 0.15)  # the 3D stage's soft masks: log-uniform areas, as fractions of the image
MASK_CHUNK = 16  # soft masks generated this many at a time (bounds the generator's temporaries)


# -- images --------------------------------------------------------------------------------------------
def skimage_photograph() -> Optional[tuple[np.ndarray, str]]:
    """A real photograph from scikit-image when it is installed."""
    try:
        from skimage import data
    except ImportError:
        return None
    for name in ("astronaut", "chelsea"):
        try:
            return np.ascontiguousarray(getattr(data, name)()[..., :3]), f"skimage.data.{name}()"
        except Exception:  # data files may be missing from a trimmed install
            continue
    return None


def synthetic_image(width: int, height: int, seed: int) -> np.ndarray:
    """A gradient with a few solid discs and rectangles, HxWx3 uint8."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xs / max(width - 1, 1), ys / max(height - 1, 1)
    image = np.stack([60 + 120 * u, 80 + 100 * v, 170 - 90 * u * v], axis=-1)
    colours = [(220, 40, 40), (40, 180, 60), (240, 210, 40), (50, 70, 210), (200, 90, 200), (30, 30, 30)]
    for index, colour in enumerate(colours):
        cx, cy = rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height
        rx, ry = rng.uniform(0.06, 0.18) * width, rng.uniform(0.06, 0.18) * height
        if index % 2 == 0:
            inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0
        else:
            inside = (np.abs(xs - cx) <= rx) & (np.abs(ys - cy) <= ry)
        image[inside] = colour
    return image.clip(0, 255).astype(np.uint8)


def benchmark_image(width: int, height: int, seed: int) -> tuple[np.ndarray, str]:
    found = skimage_photograph()
    if found is None:
        return synthetic_image(width, height, seed), "synthetic (gradient + shapes; scikit-image not installed)"
    rgb, source = found
    return resize_linear_uint8(torch.from_numpy(rgb), (height, width)).numpy(), source


def astronaut(long_side: int) -> np.ndarray:
    """The package's bundled photograph, its long side scaled to `long_side`."""
    image = Image.open(PHOTO).convert("RGB")
    factor = long_side / max(image.size)
    return np.asarray(image.resize((round(image.size[0] * factor), round(image.size[1] * factor))))


# -- SAM2 proposals ------------------------------------------------------------------------------------
def synthetic_logits(count: int, size: int, seed: int) -> np.ndarray:
    """[R,size,size] float32 low-res logits: rectangles, nested parts of earlier ones, exact ties, a few empty."""
    rng = np.random.default_rng(seed)
    logits = np.full((count, size, size), -10.0, np.float32)
    for k in range(count):
        kind = rng.integers(0, 4)
        if kind == 0 and k:
            parent = np.argwhere(logits[rng.integers(0, k)] > 0)
            if len(parent):
                (y1, x1), (y2, x2) = parent.min(0), parent.max(0)
                dy, dx = (y2 - y1) // 4, (x2 - x1) // 4
                logits[k, y1 + dy:y2 - dy + 1, x1 + dx:x2 - dx + 1] = 3.0
        elif kind == 1 and k:
            logits[k] = logits[rng.integers(0, k)]
        elif kind != 2 or k % 7 != 3:
            y, x = rng.integers(0, size - 2, 2)
            h, w = rng.integers(2, size // 2, 2)
            logits[k, y:y + h, x:x + w] = rng.uniform(0.5, 3.5)
    return logits


def candidates(count: int, size: int, seed: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """(logits, predicted IoU, stability, granularity) of `count` synthetic candidates, as the decoder gives them."""
    logits = torch.from_numpy(synthetic_logits(count, size, seed)).to(device)
    iou = torch.from_numpy(np.random.default_rng(seed + 1).uniform(0.6, 1.0, count).astype(np.float32)).to(device)
    return logits, iou, torch.ones_like(iou), (torch.arange(count) % 3).to(device)


# -- moving blobs (tracker, memory) ----------------------------------------------------------------------
def unit_rows(values: np.ndarray) -> np.ndarray:
    return (values / np.linalg.norm(values, axis=1, keepdims=True)).astype(np.float32)


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

    def step(self, frame: int, stamp_ns: int) -> tuple[RegionSightings, Boxes3D]:
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
        observation = RegionSightings(stamp_ns=stamp_ns, tokens=torch.from_numpy(tokens), masks=self.masks,
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


# -- depth and masks (3D stage) --------------------------------------------------------------------------
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
    MASK_AREA_FRACTIONS of the image, made MASK_CHUNK at a time."""
    rows = torch.arange(height, dtype=torch.float32, device=device)[None, :, None]
    cols = torch.arange(width, dtype=torch.float32, device=device)[None, None, :]
    masks = torch.empty(count, height, width, device=device)
    log_low, log_high = np.log(MASK_AREA_FRACTIONS[0]), np.log(MASK_AREA_FRACTIONS[1])

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
