"""Persistent track ids for the engine's regions, frame after frame (ROS-free: numpy, torch, scipy).

Each frame's regions are matched one-to-one to the open tracks by a single optimal assignment
(scipy's linear_sum_assignment) on a similarity that mixes what each cue is good at:

- mask IoU on a coarse grid: precise where the object barely moved, useless after a jump;
- token cosine: tells apart objects that overlap (two people crossing) and survives a jump;
- 3D distance (when both sides have a centre): re-identifies an object whose image box moved far,
  e.g. when the camera turned.

Pairs are only scored when they are plausible at all (box IoU gate, or the 3D gate), so the cost
grows with the overlap in the scene rather than with R x T. Tracks close when unseen for longer than
max_age_s, measured on the observation stamps (a replayed bag behaves like the live robot).
Stamps that step back further than max_age_s close every track (a new timeline); a smaller step
back keeps them, and a track's first/last seen are then the earliest/latest stamp it was seen at
(min/max), so first_seen <= last_seen holds whatever order the frames come in.
"""
from __future__ import annotations

import logging
import types
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import torch

from ..engine.sync_audit import budgeted_sync
from ..settings_rows import TableSettings
from .association import (
    ArrayLike, PackedMasks, assign, box_iou_matrix, distance_matrix, grid_stride, masks_on_grid,
    normalise_rows, pack_masks, pair_intersections,
)
from .columns import Column, Columns

logger = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
MAX_TRACK_ID = np.iinfo(np.uint32).max
TOKEN_CHUNK_BYTES = 1 << 20  # gathered candidate-pair tokens per chunk (see association.PAIR_CHUNK_BYTES)

@dataclass(frozen=True)
class TrackingSettings(TableSettings):
    """How regions are matched to tracks and how long an unseen track stays open.

    Each field is a row of the table (params.py; ROWS names it): its type, range and default are the
    row's (settings_rows.py checks them), so the node, the CLI and a library caller accept the same
    values. Why the defaults:
    3 s bridges a short occlusion or a missed detection at any frame rate without keeping
    ghosts around; an IoU gate of 0.1 admits an object that moved a good part of its size between
    frames; min_similarity 0.5 with equal mask and token weights needs e.g. a fair mask overlap plus
    a similar token, so an overlapping object with an unrelated (orthogonal) token never takes over a
    track; 3D closeness weighs half as much, since another object put at the same place is close too
    (benchmarks/tracking_quality.py: at weight 1 a third of such replacements kept the old id, at 0.5
    almost none, with fewer id changes of moving objects as well); 0.5 m is about the size of the
    tabletop / indoor objects the node is used for; a 128-cell grid
    keeps mask IoU precise to a few pixels at 640x480 while costing ~200 64-bit words per mask.
    """

    max_age_s: float = 3.0
    box_iou_gate: float = 0.1
    min_similarity: float = 0.5
    weight_mask_iou: float = 1.0
    weight_token: float = 1.0
    weight_3d: float = 0.5
    max_distance_m: float = 0.5
    mask_grid: int = 128

    ROWS = {"max_age_s": "track_max_age_s", "box_iou_gate": "track_box_iou_gate",
            "min_similarity": "track_min_similarity", "weight_mask_iou": "track_weight_mask_iou",
            "weight_token": "track_weight_token", "weight_3d": "track_weight_3d",
            "max_distance_m": "track_max_distance_m", "mask_grid": "track_mask_grid"}


# ROS parameter name -> TrackingSettings field.
PARAMETER_FIELDS = {parameter: name for name, parameter in TrackingSettings.ROWS.items()}


@dataclass
class RegionSightings:
    """One frame's regions as the engine produced them (R rows everywhere, in region order)."""

    stamp_ns: int
    tokens: ArrayLike  # [R,D] L2-normalised region tokens
    masks: ArrayLike  # [R,h,w] bool or soft; > 0 = inside
    boxes: ArrayLike  # [R,4] x1, y1, x2, y2 image pixels (x2, y2 exclusive)
    centres_3d: Optional[np.ndarray] = None  # [R,3] metres, NaN rows = no 3D


@dataclass(frozen=True)
class Track:
    """A snapshot of one open track (copies: changing them changes nothing in the tracker)."""

    track_id: int
    token: np.ndarray  # [D] float32 renormalised mean of the matched regions' tokens
    sightings: int
    first_seen_ns: int
    last_seen_ns: int
    box: np.ndarray  # [4] last box, x1, y1, x2, y2
    centre_3d: Optional[np.ndarray]  # [3] last known 3D centre, None if never known


def _as_numpy(value: ArrayLike, dtype: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        with budgeted_sync(value.device):  # the tracker's host copies (tokens; boxes unless the caller's)
            value = value.detach().cpu()
        if value.dtype in (torch.float16, torch.bfloat16):  # numpy has no bfloat16
            value = value.float()
        value = value.numpy()
    return np.asarray(value, dtype=dtype)


# The open tracks' columns, one row per track, declared once (a new per-track field is one line here).
TRACK_COLUMNS: dict[str, Column] = {
    "ids": Column(np.uint32),
    "token_sums": Column(np.float64, (None,)),  # [D] sum of the matched regions' tokens
    "tokens": Column(np.float32, (None,)),  # [D] the sum renormalised
    "sightings": Column(np.int64),
    "first_seen": Column(np.int64),
    "last_seen": Column(np.int64),
    "boxes": Column(np.float64, (4,)),  # last box
    "centres": Column(np.float64, (3,), np.nan),  # last known 3D centre, NaN = never known
    "mask_words": Column(np.uint64, (None,)),  # last mask on the grid, packed (association.PackedMasks)
    "mask_areas": Column(np.int64),
    "mask_known": Column(bool, (), False),  # False: the grid changed since (the mask term sits out)
}


class _TrackTable(Columns):
    """The open tracks as parallel arrays (one row per track, in opening order), so association is array work."""

    def __init__(self) -> None:
        super().__init__(TRACK_COLUMNS)
        self.grid_shape: tuple[int, int] = (0, 0)  # the grid of mask_words

    @property
    def token_dim(self) -> int:
        return self.trailing_shape("tokens")[0]

    def forget_masks(self, grid_shape: tuple[int, int]) -> None:
        """The grid changed (mask size or mask_grid): old masks cannot be compared any more."""
        self.grid_shape = grid_shape
        self.reshape("mask_words", PackedMasks.empty(grid_shape).words.shape[1:])
        self["mask_areas"][:] = 0
        self["mask_known"][:] = False

    def refresh(self, rows: np.ndarray, tokens: np.ndarray, masks: PackedMasks, regions: np.ndarray,
                boxes: np.ndarray, centres: np.ndarray, stamp_ns: int) -> None:
        """Matched tracks `rows` take in their regions `regions` of this frame."""
        if rows.shape[0] == 0:
            return
        self["token_sums"][rows] += tokens[regions]
        self["tokens"][rows] = normalise_rows(self["token_sums"][rows])
        self["sightings"][rows] += 1
        # the span of the stamps seen (a small step back keeps the track: see the module docstring)
        self["first_seen"][rows] = np.minimum(self["first_seen"][rows], stamp_ns)
        self["last_seen"][rows] = np.maximum(self["last_seen"][rows], stamp_ns)
        self["boxes"][rows] = boxes[regions]
        new_centres = centres[regions]
        known = np.isfinite(new_centres).all(axis=1)
        self["centres"][rows[known]] = new_centres[known]
        self["mask_words"][rows] = masks.words[regions]
        self["mask_areas"][rows] = masks.areas[regions]
        self["mask_known"][rows] = True

    def open(self, ids: np.ndarray, tokens: np.ndarray, masks: PackedMasks, regions: np.ndarray,
             boxes: np.ndarray, centres: np.ndarray, stamp_ns: int) -> None:
        """New tracks `ids` opened by the unmatched regions `regions` (masks on the table's grid)."""
        self.append({"ids": ids, "token_sums": tokens[regions], "tokens": tokens[regions], "sightings": 1,
                     "first_seen": stamp_ns, "last_seen": stamp_ns, "boxes": boxes[regions],
                     "centres": centres[regions], "mask_words": masks.words[regions],
                     "mask_areas": masks.areas[regions], "mask_known": True}, regions.shape[0])


class Tracker:
    """Gives each region of each frame a track id (uint32, from 1, never reused by this tracker).

    Not thread-safe: one thread (the node's frame thread) calls update(). `settings` may be replaced
    between frames; a new mask_grid or mask size only makes the old track masks incomparable (the
    mask term sits out until the track is seen again).
    """

    def __init__(self, settings: TrackingSettings = TrackingSettings()) -> None:
        self.settings = settings
        self._table = _TrackTable()
        self._next_id = 1
        self._last_stamp: Optional[int] = None
        self._snapshot: Optional[Mapping[int, Track]] = None
        self.closed_ids: tuple[int, ...] = ()  # ids closed by the latest update() or reset()
        self.last_track_tokens = np.zeros((0, 0), dtype=np.float32)  # [R,D] tokens of the latest frame's tracks

    @property
    def settings(self) -> TrackingSettings:
        return self._settings

    @settings.setter
    def settings(self, value: TrackingSettings) -> None:
        if not isinstance(value, TrackingSettings):
            raise TypeError(f"settings must be TrackingSettings, got {type(value).__name__}")
        self._settings = value

    @property
    def open_tracks(self) -> Mapping[int, Track]:
        """Read-only view: track id -> Track for every open track (built once per update)."""
        if self._snapshot is None:
            table = self._table
            tracks = {}
            rows = table.take(slice(None))  # copies: changing a Track changes nothing here
            for row in range(len(table)):
                centre = rows["centres"][row]
                tracks[int(rows["ids"][row])] = Track(
                    track_id=int(rows["ids"][row]), token=rows["tokens"][row],
                    sightings=int(rows["sightings"][row]), first_seen_ns=int(rows["first_seen"][row]),
                    last_seen_ns=int(rows["last_seen"][row]), box=rows["boxes"][row],
                    centre_3d=centre if np.isfinite(centre).all() else None)
            self._snapshot = types.MappingProxyType(tracks)
        return self._snapshot

    @property
    def open_count(self) -> int:
        """Number of open tracks (cheap, for diagnostics read from another thread)."""
        return len(self._table)

    def reset(self) -> tuple[int, ...]:
        """Close every open track (ids keep counting up); returns the closed ids."""
        self.closed_ids = tuple(self._table["ids"].tolist())
        self._table.clear()
        self._last_stamp = None
        self._snapshot = None
        return self.closed_ids

    def update(self, observation: RegionSightings) -> np.ndarray:
        """Track ids [R] uint32 of this frame's regions, in region order."""
        stamp = int(observation.stamp_ns)
        tokens, boxes, centres = self._inputs(observation)  # all checks before any state changes
        count = tokens.shape[0]
        masks = self._packed_masks(observation.masks, count) if count else None
        self._snapshot = None
        closed = self._close_stale(stamp)
        self._last_stamp = stamp
        if masks is None:
            self.closed_ids = tuple(closed)
            self.last_track_tokens = np.zeros((0, self._table.token_dim), dtype=np.float32)
            return np.zeros(0, dtype=np.uint32)
        if len(self._table) and self._table.token_dim != tokens.shape[1]:
            logger.warning("token size changed from %d to %d (another model?): closing all %d tracks",
                           self._table.token_dim, tokens.shape[1], len(self._table))
            closed.extend(self._table["ids"].tolist())
            self._table.clear()
        if masks.grid_shape != self._table.grid_shape:
            self._table.forget_masks(masks.grid_shape)
        regions, rows = self._associate(tokens, boxes, centres, masks)
        ids = np.zeros(count, dtype=np.uint32)
        ids[regions] = self._table["ids"][rows]
        self._table.refresh(rows, tokens, masks, regions, boxes, centres, stamp)
        unmatched = np.setdiff1d(np.arange(count), regions)
        new_ids = self._new_ids(unmatched.shape[0])
        ids[unmatched] = new_ids
        self._table.open(new_ids, tokens, masks, unmatched, boxes, centres, stamp)
        track_tokens = np.empty_like(tokens)
        track_tokens[regions] = self._table["tokens"][rows]
        track_tokens[unmatched] = tokens[unmatched]
        self.last_track_tokens = track_tokens
        self.closed_ids = tuple(closed)
        return ids

    # -- steps of update -----------------------------------------------------------------------------
    @staticmethod
    def _inputs(observation: RegionSightings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Tokens (renormalised float32), boxes and centres as numpy, shapes checked."""
        tokens = _as_numpy(observation.tokens, np.float32)
        if tokens.size == 0 and tokens.ndim != 2:  # an empty frame given as a flat empty array
            tokens = tokens.reshape(0, 0)
        if tokens.ndim != 2:
            raise ValueError(f"tokens must be [R,D], got shape {tokens.shape}")
        count = tokens.shape[0]
        boxes = _as_numpy(observation.boxes, np.float64)
        if count == 0 and boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.shape != (count, 4):
            raise ValueError(f"boxes must be [{count},4], got shape {boxes.shape}")
        if observation.centres_3d is None:
            centres = np.full((count, 3), np.nan)
        else:
            centres = _as_numpy(observation.centres_3d, np.float64).reshape(-1, 3)
            if centres.shape != (count, 3):
                raise ValueError(f"centres_3d must be [{count},3], got shape {centres.shape}")
        return normalise_rows(tokens), boxes, centres

    def _packed_masks(self, masks: ArrayLike, count: int) -> PackedMasks:
        shape = tuple(masks.shape)
        if len(shape) != 3 or shape[0] != count:
            raise ValueError(f"masks must be [{count},h,w], got shape {shape}")
        stride = grid_stride(shape[1], shape[2], int(self.settings.mask_grid))
        return pack_masks(masks_on_grid(masks, stride))

    def _close_stale(self, stamp: int) -> list[int]:
        """Close tracks unseen for more than max_age_s; all of them if time jumped back that far."""
        table = self._table
        max_age_ns = int(round(self.settings.max_age_s * NS_PER_S))
        if self._last_stamp is not None and stamp < self._last_stamp - max_age_ns and len(table):
            logger.warning("observation stamps went back %.3f s (bag restart? sim reset?): closing all %d tracks",
                           (self._last_stamp - stamp) / NS_PER_S, len(table))
            stale = np.ones(len(table), dtype=bool)
        else:
            stale = stamp - table["last_seen"] > max_age_ns
        closed = table["ids"][stale].tolist()
        if closed:
            logger.debug("closing tracks %s", closed)
            table.compact(~stale)
        return closed

    def _new_ids(self, count: int) -> np.ndarray:
        if self._next_id + count - 1 > MAX_TRACK_ID:
            raise OverflowError("this tracker ran out of uint32 track ids; create a new Tracker")
        ids = np.arange(self._next_id, self._next_id + count, dtype=np.uint32)
        self._next_id += count
        return ids

    def _associate(self, tokens: np.ndarray, boxes: np.ndarray, centres: np.ndarray,
                   masks: PackedMasks) -> tuple[np.ndarray, np.ndarray]:
        """Matched (region indices, track rows) of one optimal assignment over admissible pairs."""
        table, s = self._table, self.settings
        if len(table) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy()
        distances = distance_matrix(centres, table["centres"])  # NaN where either side has no 3D
        with np.errstate(invalid="ignore"):
            candidates = (box_iou_matrix(boxes, table["boxes"]) >= s.box_iou_gate) | (distances <= s.max_distance_m)
        regions, rows = np.nonzero(candidates)
        similarity = self._pair_similarity(regions, rows, tokens, masks, distances[regions, rows])
        admissible = similarity >= s.min_similarity
        return assign(regions[admissible], rows[admissible], 1.0 - similarity[admissible])

    def _pair_similarity(self, regions: np.ndarray, rows: np.ndarray, tokens: np.ndarray, masks: PackedMasks,
                         distances: np.ndarray) -> np.ndarray:
        """Weighted mean of the terms each candidate pair has: mask IoU, token cosine, 3D closeness."""
        table, s = self._table, self.settings
        inter = pair_intersections(masks.words, table["mask_words"], regions, rows)
        union = masks.areas[regions] + table["mask_areas"][rows] - inter
        mask_iou = np.divide(inter, union, out=np.zeros(inter.shape, dtype=np.float64), where=union > 0)
        has_mask = table["mask_known"][rows]
        cosine = np.clip(_pair_dots(tokens, table["tokens"], regions, rows), 0.0, 1.0)
        has_3d = np.isfinite(distances)
        closeness = np.where(has_3d, np.clip(1.0 - np.nan_to_num(distances) / s.max_distance_m, 0.0, 1.0), 0.0)
        total = s.weight_mask_iou * mask_iou * has_mask + s.weight_token * cosine + s.weight_3d * closeness
        weight = s.weight_mask_iou * has_mask + s.weight_token + s.weight_3d * has_3d
        return np.divide(total, weight, out=np.zeros(total.shape, dtype=np.float64), where=weight > 0)


def _pair_dots(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """a[rows[p]] . b[cols[p]] for every pair, gathered in bounded chunks."""
    count = rows.shape[0]
    out = np.zeros(count, dtype=np.float64)
    chunk = max(1, TOKEN_CHUNK_BYTES // max(1, a.shape[1] * 4 * 2))
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        out[start:stop] = np.einsum("pd,pd->p", a[rows[start:stop]], b[cols[start:stop]])
    return out
