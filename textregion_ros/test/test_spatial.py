"""3D of regions from registered depth (spatial.py, DESIGN.md 1.8 "3D") on synthetic scenes with known K.

Every scene is rendered here by ray casting through the test's own pinhole camera, so the truth
(plane depth, box face, wall) is known exactly; the reference statistics are numpy's, per mask.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from textregion_ros.spatial import (
    BOX_QUANTILES, DepthSettings, Intrinsics, Located, depth_in_metres, locate, nearest_indices, rotation_matrix,
    transform_boxes,
)
from textregion_ros.spatial.segmented import segment_median_deviation, segment_quantiles

CAMERA = Intrinsics(fx=600.0, fy=600.0, cx=319.5, cy=239.5, width=640, height=480)
# A box whose front face (0.30 m x 0.40 m, centred on the optical axis) stands 0.5 m in front of a
# wall. Seen from the origin only the front face is visible: its side faces point away from the axis.
BOX_X = (-0.15, 0.15)
BOX_Y = (-0.20, 0.20)
FRONT_Z = 2.5
WALL_Z = 3.0
DEPTH_NOISE_M = 0.002


def pixel_grid(camera: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
    """(u, v): column and row index of every pixel, float64 [H, W]."""
    v, u = np.mgrid[0:camera.height, 0:camera.width].astype(np.float64)
    return u, v


def box_scene(camera: Intrinsics, noise_m: float = DEPTH_NOISE_M, seed: int = 0,
              wall_slope: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(depth in metres float32 [H, W], the box's silhouette bool [H, W]) seen by `camera`.

    The wall is the plane z = WALL_Z + wall_slope * x (turned about the y axis when the slope is not 0).
    """
    u, v = pixel_grid(camera)
    ray_x, ray_y = (u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy
    x, y = ray_x * FRONT_Z, ray_y * FRONT_Z
    silhouette = (x >= BOX_X[0]) & (x <= BOX_X[1]) & (y >= BOX_Y[0]) & (y <= BOX_Y[1])
    depth = np.where(silhouette, FRONT_Z, WALL_Z / (1.0 - wall_slope * ray_x))
    depth = depth + np.random.default_rng(seed).normal(0.0, noise_m, depth.shape) if noise_m else depth
    return depth.astype(np.float32), silhouette


def bleeding_mask(silhouette: np.ndarray, around: int = 4, right: int = 30) -> np.ndarray:
    """The silhouette's bounding rectangle grown by `around` pixels, and by `right` more to the right:
    a segmentation that leaks onto the wall, more on one side (as real masks do)."""
    rows, cols = np.nonzero(silhouette)
    mask = np.zeros_like(silhouette)
    mask[rows.min() - around:rows.max() + around + 1, cols.min() - around:cols.max() + right + 1] = True
    return mask


def numpy_reference(mask: np.ndarray, depth: np.ndarray, camera: Intrinsics,
                    settings: DepthSettings) -> tuple[np.ndarray, int]:
    """([3 levels, 3 axes] numpy quantiles of the mask's inliers, inlier count), one mask at a time."""
    with np.errstate(invalid="ignore"):
        selected = mask & np.isfinite(depth) & (depth >= settings.min_depth_m) & (depth <= settings.max_depth_m)
    rows, cols = np.nonzero(selected)
    z = depth[rows, cols].astype(np.float64)
    x = (cols - camera.cx) * z / camera.fx
    y = (rows - camera.cy) * z / camera.fy
    median = np.median(z)
    allowed = max(settings.outlier_k * 1.4826 * np.median(np.abs(z - median)), settings.deviation_floor_m)
    keep = np.abs(z - median) <= allowed
    points = np.stack([x, y, z], axis=1)[keep]
    return np.quantile(points, [BOX_QUANTILES[0], 0.5, BOX_QUANTILES[1]], axis=0), int(keep.sum())


def random_ellipses(count: int, camera: Intrinsics, rng: np.random.Generator) -> np.ndarray:
    """count bool masks [count, H, W]: ellipses of very different sizes, overlapping freely."""
    u, v = pixel_grid(camera)
    centre_u = rng.uniform(0, camera.width, count)[:, None, None]
    centre_v = rng.uniform(0, camera.height, count)[:, None, None]
    radius_u = rng.uniform(3, 120, count)[:, None, None]
    radius_v = rng.uniform(3, 90, count)[:, None, None]
    return ((u - centre_u) / radius_u) ** 2 + ((v - centre_v) / radius_v) ** 2 <= 1.0


# -- geometry on known scenes -----------------------------------------------------------------------
def test_plane_centres_are_the_back_projected_medians_of_the_mask_pixels():
    depth = np.full((CAMERA.height, CAMERA.width), 2.0, np.float32)
    masks = random_ellipses(6, CAMERA, np.random.default_rng(1))
    located = locate(torch.from_numpy(masks), depth, CAMERA)
    assert located.valid.all()
    for mask, centre in zip(masks, located.centres):
        rows, cols = np.nonzero(mask)
        expected_x = (np.median(cols) - CAMERA.cx) * 2.0 / CAMERA.fx
        expected_y = (np.median(rows) - CAMERA.cy) * 2.0 / CAMERA.fy
        np.testing.assert_allclose(centre, [expected_x, expected_y, 2.0], rtol=0, atol=1e-6)
    assert np.all(located.centres[:, 2] == 2.0)


def test_box_before_a_wall_gets_its_front_face_centre_and_extents():
    depth, silhouette = box_scene(CAMERA)
    located = locate(torch.from_numpy(bleeding_mask(silhouette))[None], depth, CAMERA)
    assert located.valid[0]
    np.testing.assert_allclose(located.centres[0], [0.0, 0.0, FRONT_Z], rtol=0, atol=0.01)
    np.testing.assert_allclose(located.box_min[0], [BOX_X[0], BOX_Y[0], FRONT_Z], rtol=0, atol=0.02)
    np.testing.assert_allclose(located.box_max[0], [BOX_X[1], BOX_Y[1], FRONT_Z], rtol=0, atol=0.02)
    np.testing.assert_allclose(located.sizes[0], located.box_max[0] - located.box_min[0])


def test_wall_pixels_bleeding_into_the_mask_are_rejected_as_outliers():
    depth, silhouette = box_scene(CAMERA)
    mask = bleeding_mask(silhouette)
    assert 0.25 < (mask & ~silhouette).sum() / mask.sum() < 0.5  # a lot of wall, not a majority
    located = locate(torch.from_numpy(mask)[None], depth, CAMERA)
    assert located.candidates[0] == mask.sum()
    assert located.inliers[0] == silhouette.sum()  # every wall pixel out, every box pixel in


def test_without_outlier_rejection_the_bleed_moves_the_centre_and_the_box():
    depth, silhouette = box_scene(CAMERA)
    mask = torch.from_numpy(bleeding_mask(silhouette))[None]
    raw = locate(mask, depth, CAMERA, DepthSettings(outlier_k=math.inf))
    assert raw.inliers[0] == raw.candidates[0]
    assert raw.centres[0, 0] > 0.03  # dragged 3+ cm towards the wall on the right
    assert raw.box_max[0, 2] > WALL_Z - 0.01  # the box reaches back to the wall


@pytest.mark.parametrize("floor, inliers", [(0.02, 900), (0.005, 600)])
def test_the_deviation_floor_is_the_allowed_deviation_of_a_flat_face(floor, inliers):
    """A flat, noise-free face has MAD 0: only the floor keeps its 1 cm ripple (and rejects 5 cm)."""
    depth = np.full((CAMERA.height, CAMERA.width), 2.0, np.float32)
    depth[0:12, :] = 2.01  # 300 of the mask's 1000 pixels, 1 cm behind the face
    depth[12:16, :] = 2.05  # 100 pixels 5 cm behind it; the other 600 make the median 2.0 and the MAD 0
    mask = torch.zeros(1, CAMERA.height, CAMERA.width, dtype=torch.bool)
    mask[0, 0:40, 0:25] = True
    located = locate(mask, depth, CAMERA, DepthSettings(deviation_floor_m=floor))
    assert located.candidates[0] == 1000 and located.inliers[0] == inliers


def test_holes_and_out_of_range_readings_are_ignored():
    u, v = pixel_grid(CAMERA)
    depth = (1.5 + 0.001 * u + 0.002 * v).astype(np.float32)  # a tilted plane: every pixel matters
    bad = np.zeros(depth.shape, bool)
    rng = np.random.default_rng(2)
    for value in (0.0, np.nan, np.inf, -np.inf, -1.0, 0.05, 12.0):  # holes, then out of [0.1, 10]
        where = rng.random(depth.shape) < 0.04
        depth[where] = value
        bad |= where
    metres = depth_in_metres(depth, "32FC1")
    masks = random_ellipses(5, CAMERA, np.random.default_rng(3))
    no_rejection = DepthSettings(outlier_k=math.inf)  # only the validity and range tests may exclude them
    located = locate(torch.from_numpy(masks), metres, CAMERA, no_rejection)
    clean = np.where(bad, np.float32(1.0), depth)  # any in-range value: those pixels leave the masks below
    expected = locate(torch.from_numpy(masks & ~bad), clean, CAMERA, no_rejection)
    np.testing.assert_array_equal(located.candidates, (masks & ~bad).sum(axis=(1, 2)))
    np.testing.assert_array_equal(located.centres, expected.centres)
    np.testing.assert_array_equal(located.box_min, expected.box_min)
    np.testing.assert_array_equal(located.box_max, expected.box_max)


def test_the_depth_range_is_the_settings_range():
    depth = np.full((CAMERA.height, CAMERA.width), 2.0, np.float32)
    depth[:, :320] = 0.4
    depth[:, 500:] = 4.5
    mask = torch.ones(1, CAMERA.height, CAMERA.width, dtype=torch.bool)
    located = locate(mask, depth, CAMERA, DepthSettings(min_depth_m=0.5, max_depth_m=4.0, outlier_k=math.inf))
    assert located.candidates[0] == CAMERA.height * 180
    assert located.box_min[0, 2] == 2.0 and located.box_max[0, 2] == 2.0


def test_millimetre_and_metre_depth_images_give_the_same_result():
    depth, silhouette = box_scene(CAMERA)
    millimetres = np.round(depth * 1000.0).astype(np.uint16)
    millimetres[::7, ::5] = 0  # holes
    metres = millimetres.astype(np.float32) / np.float32(1000.0)
    metres[millimetres == 0] = np.nan
    masks = torch.from_numpy(np.stack([bleeding_mask(silhouette), silhouette, ~silhouette]))
    from_mm = locate(masks, depth_in_metres(millimetres, "16UC1"), CAMERA)
    from_m = locate(masks, depth_in_metres(metres, "32FC1"), CAMERA)
    assert from_mm.valid.all()
    for field in ("centres", "box_min", "box_max", "inliers", "candidates"):
        np.testing.assert_array_equal(getattr(from_mm, field), getattr(from_m, field))


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
def test_millimetre_encodings_read_as_metres_with_zero_as_no_reading(encoding):
    metres = depth_in_metres(np.array([[0, 1, 1500, 65535]], np.uint16), encoding)
    assert metres.dtype == np.float32
    assert np.isnan(metres[0, 0])
    np.testing.assert_array_equal(metres[0, 1:], np.array([0.001, 1.5, 65.535], np.float32))


def test_metre_encoding_marks_zero_nan_and_infinities_as_no_reading():
    metres = depth_in_metres(np.array([[0.0, np.nan, np.inf, -np.inf, 2.25]], np.float32), "32FC1")
    assert np.isnan(metres[0, :4]).all() and metres[0, 4] == np.float32(2.25)


@pytest.mark.parametrize("intrinsics_at", ["colour", "depth"])
def test_half_resolution_depth_gives_the_same_centres(intrinsics_at):
    """Depth rendered at 320x240 for 640x480 masks, nearest-upsampled: centres agree with depth
    rendered at 640x480 to 1.5 mm. The resample repeats each depth over a 2x2 block, which on the
    tilted wall moves a pixel's depth by up to half a depth pixel of slope (1 mm here); a half-pixel
    error in the intrinsics' scaling (cx * sx) moves x and y by 3 mm, a one-pixel shift by 8 mm."""
    half = CAMERA.scaled_to(CAMERA.width // 2, CAMERA.height // 2)
    full_depth, silhouette = box_scene(CAMERA, noise_m=0.0, wall_slope=0.3)
    half_depth, _ = box_scene(half, noise_m=0.0, wall_slope=0.3)
    masks = torch.from_numpy(np.concatenate([np.stack([silhouette, bleeding_mask(silhouette), ~silhouette]),
                                             random_ellipses(6, CAMERA, np.random.default_rng(0))]))
    full = locate(masks, full_depth, CAMERA)
    halved = locate(masks, half_depth, CAMERA if intrinsics_at == "colour" else half)
    assert halved.valid.all()
    np.testing.assert_allclose(halved.centres, full.centres, rtol=0, atol=1.5e-3)


def test_scaled_intrinsics_keep_the_image_edges_aligned():
    """cx' = (cx + 0.5) * sx - 0.5: the image centre stays the centre, any pixel coordinate maps
    like the pixel squares do, and scaling back restores K."""
    half = CAMERA.scaled_to(320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == (300.0, 300.0, 159.5, 119.5)
    off_centre = Intrinsics(fx=500.0, fy=400.0, cx=300.0, cy=250.0, width=640, height=480).scaled_to(960, 720)
    assert (off_centre.fx, off_centre.fy, off_centre.cx, off_centre.cy) == (750.0, 600.0, 450.25, 375.25)
    back = off_centre.scaled_to(640, 480)
    np.testing.assert_allclose((back.fx, back.fy, back.cx, back.cy), (500.0, 400.0, 300.0, 250.0), rtol=1e-15)


def test_nearest_resampling_takes_the_pixel_under_each_new_pixel_centre():
    np.testing.assert_array_equal(nearest_indices(3, 6).numpy(), [0, 0, 1, 1, 2, 2])  # 2x up
    np.testing.assert_array_equal(nearest_indices(6, 3).numpy(), [1, 3, 5])  # 2x down: ties go up
    np.testing.assert_array_equal(nearest_indices(4, 3).numpy(), [0, 2, 3])  # centres 0.17, 1.5, 2.83


def test_depth_of_another_aspect_ratio_is_refused():
    masks = torch.ones(1, 480, 640, dtype=torch.bool)
    with pytest.raises(ValueError, match="depth image is 640x360"):
        locate(masks, np.ones((360, 640), np.float32), CAMERA)
    with pytest.raises(ValueError, match="intrinsics is 640x360"):
        locate(masks, np.ones((480, 640), np.float32), Intrinsics(600.0, 600.0, 319.5, 179.5, 640, 360))


def test_strided_and_permuted_inputs_give_the_same_result():
    depth, silhouette = box_scene(CAMERA)
    masks = np.stack([silhouette, bleeding_mask(silhouette)]).astype(np.float32) * 3.0
    expected = locate(torch.from_numpy(masks), depth, CAMERA)
    padded_depth = np.zeros((CAMERA.height, 2 * CAMERA.width), np.float32)
    padded_depth[:, ::2] = depth  # a strided numpy view, as an image with row padding gives
    transposed = torch.from_numpy(np.ascontiguousarray(masks.transpose(0, 2, 1))).permute(0, 2, 1)
    located = locate(transposed, padded_depth[:, ::2], CAMERA)
    np.testing.assert_array_equal(located.centres, expected.centres)
    np.testing.assert_array_equal(located.box_max, expected.box_max)


# -- validity ---------------------------------------------------------------------------------------
def test_too_few_inliers_leave_the_mask_without_3d():
    depth = np.full((CAMERA.height, CAMERA.width), 2.0, np.float32)
    depth[100, :] = np.nan
    masks = np.zeros((3, CAMERA.height, CAMERA.width), bool)
    masks[0, 10, 10:29] = True  # 19 points
    masks[1, 20, 10:30] = True  # 20 points
    masks[2, 100, :] = True  # no depth at all
    located = locate(torch.from_numpy(masks), depth, CAMERA)
    np.testing.assert_array_equal(located.valid, [False, True, False])
    np.testing.assert_array_equal(located.inliers, [19, 20, 0])
    np.testing.assert_array_equal(located.candidates, [19, 20, 0])
    for field in ("centres", "box_min", "box_max", "sizes"):
        values = getattr(located, field)
        assert np.isnan(values[[0, 2]]).all() and np.isfinite(values[1]).all(), field


def test_a_frame_without_valid_depth_leaves_every_mask_without_3d():
    depth = np.full((CAMERA.height, CAMERA.width), np.nan, np.float32)
    located = locate(torch.from_numpy(random_ellipses(4, CAMERA, np.random.default_rng(7))), depth, CAMERA)
    assert not located.valid.any() and np.isnan(located.centres).all() and np.isnan(located.sizes).all()
    np.testing.assert_array_equal(located.candidates, [0, 0, 0, 0])


def test_no_masks_give_empty_arrays_of_the_right_shapes():
    located = locate(torch.zeros(0, CAMERA.height, CAMERA.width), np.ones((480, 640), np.float32), CAMERA)
    assert len(located) == 0
    for field in ("centres", "box_min", "box_max", "sizes"):
        assert getattr(located, field).shape == (0, 3) and getattr(located, field).dtype == np.float64
    for field, dtype in (("valid", np.bool_), ("inliers", np.int64), ("candidates", np.int64)):
        assert getattr(located, field).shape == (0,) and getattr(located, field).dtype == dtype
    assert transform_boxes(located, (1.0, 2.0, 3.0)).orientations.shape == (0, 4)


def test_soft_masks_select_pixels_above_one_half():
    depth = np.full((CAMERA.height, CAMERA.width), 2.0, np.float32)
    soft = torch.zeros(1, CAMERA.height, CAMERA.width)
    soft[0, 10:20, 10:20] = 0.5  # not in the mask: the threshold is strict
    soft[0, 30:40, 30:40] = 0.51
    soft[0, 50:60, 50:60] = 3.0  # SAM2's clamped logits reach 3
    assert locate(soft, depth, CAMERA).candidates[0] == 200


# -- statistics against numpy -----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [4, 5])
def test_medians_and_quantiles_equal_numpys_per_mask(seed):
    rng = np.random.default_rng(seed)
    u, v = pixel_grid(CAMERA)
    depth = 1.0 + 2.0 * (u / CAMERA.width) + np.sin(v / 40.0) + rng.normal(0.0, 0.01, u.shape)
    outliers = rng.random(u.shape) < 0.1
    depth[outliers] = rng.uniform(0.2, 9.0, outliers.sum())  # mixed depth edges: rejection matters
    depth[rng.random(u.shape) < 0.05] = np.nan
    depth = depth.astype(np.float32)
    masks = np.concatenate([random_ellipses(12, CAMERA, rng), np.zeros((1, 480, 640), bool)])
    masks[-1, 5, 5:15] = True  # a 10-pixel mask: too few points
    settings = DepthSettings()
    located = locate(torch.from_numpy(masks), depth, CAMERA, settings)
    for index, mask in enumerate(masks):
        quantiles, inliers = numpy_reference(mask, depth, CAMERA, settings)
        assert located.inliers[index] == inliers
        if inliers < settings.min_points:
            assert not located.valid[index] and np.isnan(located.centres[index]).all()
            continue
        assert located.inliers[index] < located.candidates[index]  # the outliers did go
        np.testing.assert_array_equal(located.box_min[index, 2], quantiles[0, 2])  # depth: same values, exact
        np.testing.assert_array_equal(located.centres[index, 2], quantiles[1, 2])
        np.testing.assert_array_equal(located.box_max[index, 2], quantiles[2, 2])
        # x, y: float32 back-projection here, float64 in numpy_reference
        np.testing.assert_allclose(located.box_min[index], quantiles[0], rtol=0, atol=2e-6)
        np.testing.assert_allclose(located.centres[index], quantiles[1], rtol=0, atol=2e-6)
        np.testing.assert_allclose(located.box_max[index], quantiles[2], rtol=0, atol=2e-6)
    assert not located.valid[-1] and located.valid[:-1].sum() >= 10


def test_median_absolute_deviation_equals_numpys_per_run():
    """The sort-free MAD (bisection over the two sorted runs of deviations either side of the
    median) on runs of every length from 0 to 40, with ties, against numpy per run."""
    rng = np.random.default_rng(8)
    counts = np.arange(0, 41)
    values = np.concatenate([np.sort(rng.integers(0, 6, n).astype(np.float32) * np.float32(0.25)
                                     + rng.choice([0.0, 0.1], n).astype(np.float32)) for n in counts])
    counts_t = torch.from_numpy(counts)
    starts = torch.cumsum(counts_t, 0) - counts_t
    sorted_values = torch.from_numpy(values)
    median = segment_quantiles(sorted_values, starts, counts_t, (0.5,))[:, 0]
    mad = segment_median_deviation(sorted_values, starts, counts_t, median).numpy()
    assert np.isnan(mad[0])
    for n, start, value in zip(counts[1:], starts.numpy()[1:], mad[1:]):
        run = values[start:start + n].astype(np.float64)
        assert value == np.quantile(np.abs(run - np.quantile(run, 0.5)), 0.5), n


# -- bad input --------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, reason", [
    ([0.0] * 9, "uncalibrated"),
    ([0.0, 0.0, 319.5, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0], "focal length fx"),
    ([-600.0, 0.0, 319.5, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0], "focal length fx"),
    ([600.0, 0.0, 319.5, 0.0, float("nan"), 239.5, 0.0, 0.0, 1.0], "non-finite"),
    ([600.0, 0.0, 1280.0, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0], "principal point cx=1280"),
    ([600.0, 0.0, 319.5, 0.0, 600.0, -300.0, 0.0, 0.0, 1.0], "principal point cy=-300"),
    ([600.0, 2.0, 319.5, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0], "skew"),
    ([600.0, 0.0, 319.5, 0.0, 600.0, 239.5, 0.0, 0.0, 0.0], "not a pinhole camera matrix"),
    ([600.0, 0.0, 319.5, 0.0, 600.0, 239.5], "9 elements"),
    ([1e-30, 0.0, 319.5, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0], "fx=1e-30 px implies a 180 degree field of view"),
    ([600.0, 0.0, 319.5, 0.0, 1e9, 239.5, 0.0, 0.0, 1.0], "fy=1e.09 px implies a 2.75e-05 degree field of view"),
    ([27.0, 0.0, 319.5, 0.0, 600.0, 239.5, 0.0, 0.0, 1.0], r"outside the physical 0.1..170 degrees"),
])
def test_bad_camera_matrix_is_refused_with_the_reason(k, reason):
    with pytest.raises(ValueError, match=reason):
        Intrinsics.from_k(k, 640, 480)


def test_a_focal_length_of_a_wide_or_a_long_lens_is_accepted():
    wide = Intrinsics.from_k([60.0, 0.0, 319.5, 0.0, 60.0, 239.5, 0.0, 0.0, 1.0], 640, 480)  # 158 degrees across
    long = Intrinsics.from_k([2e5, 0.0, 319.5, 0.0, 2e5, 239.5, 0.0, 0.0, 1.0], 640, 480)  # 0.14 degrees high
    assert (wide.fx, long.fx) == (60.0, 2e5)


def test_a_3d_result_that_is_not_finite_is_refused_with_the_reason():
    located = Located.empty(2)
    located.centres[:] = located.box_min[:] = located.box_max[:] = located.sizes[:] = 1.0
    located.valid[:] = True
    located.centres[1, 0] = np.inf
    problem = transform_boxes(located).nonfinite_problem()
    assert "the 3D of 1 of 2 regions is not finite" in problem
    located.centres[1, 0] = 1.0
    assert transform_boxes(located).nonfinite_problem() == ""


def test_a_good_camera_matrix_gives_its_intrinsics():
    camera = Intrinsics.from_k([600.0, 0.0, 319.5, 0.0, 610.0, 239.5, 0.0, 0.0, 1.0], 640, 480)
    assert camera == Intrinsics(fx=600.0, fy=610.0, cx=319.5, cy=239.5, width=640, height=480)


@pytest.mark.parametrize("depth, encoding, reason", [
    (np.zeros((4, 4, 3), np.uint8), "rgb8", "'rgb8'"),
    (np.zeros((4, 4), np.uint8), "8UC1", "'8UC1'"),
    (np.zeros((4, 4), np.float32), "16UC1", "'16UC1' needs uint16"),
    (np.zeros((4, 4), np.float64), "32FC1", "'32FC1' needs float32"),
    (np.zeros((4, 4, 1), np.float32), "32FC1", "must be 2-D"),
])
def test_bad_depth_encoding_is_refused_naming_it(depth, encoding, reason):
    with pytest.raises(ValueError, match=reason):
        depth_in_metres(depth, encoding)


@pytest.mark.parametrize("overrides, reason", [
    ({"min_depth_m": 5.0, "max_depth_m": 1.0}, "min_depth_m < max_depth_m"),
    ({"max_depth_m": math.inf}, "max_depth_m must be a finite number"),
    ({"outlier_k": 0.0}, "outlier_k"),
    ({"min_points": 0}, "min_points"),
    ({"deviation_floor_m": -0.1}, "deviation_floor_m"),
])
def test_impossible_depth_settings_are_refused(overrides, reason):
    with pytest.raises(ValueError, match=reason):
        DepthSettings(**overrides)


# -- rigid transform --------------------------------------------------------------------------------
def _one_box() -> Located:
    return Located(centres=np.array([[1.0, 2.0, 3.0]]), box_min=np.array([[0.0, 1.0, 2.0]]),
                   box_max=np.array([[4.0, 5.0, 6.0]]), sizes=np.array([[4.0, 4.0, 4.0]]),
                   valid=np.array([True]), inliers=np.array([50]), candidates=np.array([60]))


HALF = math.sqrt(0.5)


@pytest.mark.parametrize("quaternion, rotated_centre, rotated_box_centre", [
    ((0.0, 0.0, HALF, HALF), (-2.0, 1.0, 3.0), (-3.0, 2.0, 4.0)),  # +90 deg about z: (x, y, z) -> (-y, x, z)
    ((HALF, 0.0, 0.0, HALF), (1.0, -3.0, 2.0), (2.0, -4.0, 3.0)),  # +90 deg about x: (x, y, z) -> (x, -z, y)
    ((0.0, HALF, 0.0, HALF), (3.0, 2.0, -1.0), (4.0, 3.0, -2.0)),  # +90 deg about y: (x, y, z) -> (z, y, -x)
])
def test_transform_rotates_then_translates_centres_and_boxes(quaternion, rotated_centre, rotated_box_centre):
    moved = transform_boxes(_one_box(), (10.0, 20.0, 30.0), quaternion)
    np.testing.assert_allclose(moved.centres[0], np.add(rotated_centre, (10.0, 20.0, 30.0)), atol=1e-12)
    np.testing.assert_allclose(moved.box_centres[0], np.add(rotated_box_centre, (10.0, 20.0, 30.0)), atol=1e-12)


def test_transformed_boxes_keep_their_size_and_take_the_rotation_as_orientation():
    quaternion = (0.0, 0.0, HALF, HALF)
    moved = transform_boxes(_one_box(), (1.0, 0.0, 0.0), quaternion)
    np.testing.assert_array_equal(moved.sizes, [[4.0, 4.0, 4.0]])
    np.testing.assert_allclose(moved.orientations, [quaternion], atol=1e-15)
    np.testing.assert_allclose(rotation_matrix(quaternion), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)


def test_identity_transform_is_the_optical_frame():
    moved = transform_boxes(_one_box())
    np.testing.assert_array_equal(moved.centres, [[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(moved.box_centres, [[2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(moved.orientations, [[0.0, 0.0, 0.0, 1.0]])


@pytest.mark.parametrize("quaternion", [(0.0, 0.0, 0.0, 0.0), (1.0, 1.0, 0.0, 0.0), (0.0, 0.0, 0.0, float("nan"))])
def test_transform_refuses_a_rotation_that_is_not_a_unit_quaternion(quaternion):
    with pytest.raises(ValueError, match="rotation"):
        transform_boxes(_one_box(), (0.0, 0.0, 0.0), quaternion)


# -- device -----------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_masks_on_cuda_give_the_cpu_result():
    depth, silhouette = box_scene(CAMERA)
    masks = torch.from_numpy(np.concatenate([np.stack([silhouette, bleeding_mask(silhouette)]),
                                             random_ellipses(8, CAMERA, np.random.default_rng(6))]))
    cpu = locate(masks.float() * 3.0, depth, CAMERA)
    gpu = locate(masks.float().cuda() * 3.0, depth, CAMERA)
    for field in ("valid", "inliers", "candidates"):
        np.testing.assert_array_equal(getattr(gpu, field), getattr(cpu, field))
    np.testing.assert_allclose(gpu.centres, cpu.centres, rtol=0, atol=1e-6)
    np.testing.assert_allclose(gpu.box_min, cpu.box_min, rtol=0, atol=1e-6)
    np.testing.assert_allclose(gpu.box_max, cpu.box_max, rtol=0, atol=1e-6)
