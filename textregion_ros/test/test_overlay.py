"""Colour overlay: what it changes, what it leaves alone, and the sizes it must survive."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from textregion_ros.engine.results import Detection
from textregion_ros.outputs.overlay import class_colors, draw_overlay

GREY = 100


def grey_image(height: int, width: int) -> np.ndarray:
    return np.full((height, width, 3), GREY, dtype=np.uint8)


def labels_with_square(height: int = 40, width: int = 60, label: int = 0) -> np.ndarray:
    """Unlabeled image with one labelled square at rows 20..29, columns 30..39."""
    labels = np.full((height, width), -1, dtype=np.int32)
    labels[20:30, 30:40] = label
    return labels


def expected_blend(pixel: np.ndarray, colour: np.ndarray, alpha: float) -> np.ndarray:
    weight = round(alpha * 256)
    return ((pixel.astype(np.int64) * (256 - weight) + colour.astype(np.int64) * weight + 128) >> 8).astype(np.uint8)


# ---------------------------------------------------------------- palette


def test_palette_is_deterministic() -> None:
    np.testing.assert_array_equal(class_colors(50), class_colors(50))
    np.testing.assert_array_equal(class_colors(50)[:7], class_colors(7))


def test_first_20_class_colours_are_clearly_distinct() -> None:
    colours = class_colors(20).astype(np.float64)
    distance = np.linalg.norm(colours[:, None] - colours[None], axis=2)
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 50  # of 441 possible in RGB


def test_palette_has_one_uint8_rgb_row_per_class_for_thousands_of_classes() -> None:
    colours = class_colors(5000)
    assert colours.shape == (5000, 3) and colours.dtype == np.uint8
    assert len(np.unique(colours, axis=0)) > 4000


def test_neighbouring_class_indices_beyond_20_still_differ() -> None:
    colours = class_colors(300).astype(np.float64)
    assert np.linalg.norm(np.diff(colours[19:], axis=0), axis=1).min() > 40


def test_palette_of_zero_classes_is_empty() -> None:
    assert class_colors(0).shape == (0, 3)


# ---------------------------------------------------------------- tint and outlines


def test_overlay_is_a_new_rgb8_image_of_the_input_size() -> None:
    rgb = grey_image(40, 60)
    before = rgb.copy()
    out = draw_overlay(rgb, labels_with_square(), ["mug"])
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert not np.shares_memory(out, rgb)
    np.testing.assert_array_equal(rgb, before)


def test_unlabeled_pixels_are_untouched() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    labels = labels_with_square()
    out = draw_overlay(rgb, labels, ["mug"], legend=False)
    np.testing.assert_array_equal(out[labels < 0], rgb[labels < 0])


def test_labelled_pixels_are_blended_toward_their_class_colour() -> None:
    rgb = grey_image(40, 60)
    labels = labels_with_square(label=1)
    out = draw_overlay(rgb, labels, ["mug", "table"], alpha=0.5, legend=False)
    colour = class_colors(2)[1]
    inside = out[25, 35]  # away from the square's border
    np.testing.assert_array_equal(inside, expected_blend(rgb[25, 35], colour, 0.5))
    assert np.abs(inside.astype(int) - colour).sum() < np.abs(rgb[25, 35].astype(int) - colour).sum()


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.8, 1.0])
def test_alpha_sets_the_blend_weight(alpha: float) -> None:
    rgb = grey_image(40, 60)
    out = draw_overlay(rgb, labels_with_square(), ["mug"], alpha=alpha, legend=False)
    np.testing.assert_array_equal(out[25, 35], expected_blend(rgb[25, 35], class_colors(1)[0], alpha))


def test_alpha_one_paints_the_exact_class_colour_and_zero_keeps_the_pixel() -> None:
    rgb = grey_image(40, 60)
    opaque = draw_overlay(rgb, labels_with_square(), ["mug"], alpha=1.0, legend=False)
    clear = draw_overlay(rgb, labels_with_square(), ["mug"], alpha=0.0, legend=False)
    np.testing.assert_array_equal(opaque[25, 35], class_colors(1)[0])
    np.testing.assert_array_equal(clear[25, 35], rgb[25, 35])


def test_label_boundaries_are_outlined_in_the_class_colour() -> None:
    out = draw_overlay(grey_image(40, 60), labels_with_square(), ["mug"], legend=False)
    colour = class_colors(1)[0]
    for row, col in [(20, 35), (29, 35), (25, 30), (25, 39), (20, 30)]:  # the square's border pixels
        np.testing.assert_array_equal(out[row, col], colour)
    assert not (out[21:29, 31:39] == colour).all(axis=2).any()  # the interior is only tinted


def test_two_touching_classes_each_outline_their_own_side() -> None:
    labels = np.full((10, 10), 0, dtype=np.int32)
    labels[:, 5:] = 1
    out = draw_overlay(grey_image(10, 10), labels, ["a", "b"], legend=False)
    colours = class_colors(2)
    np.testing.assert_array_equal(out[5, 4], colours[0])
    np.testing.assert_array_equal(out[5, 5], colours[1])
    np.testing.assert_array_equal(out[5, 2], expected_blend(np.full(3, GREY), colours[0], 0.5))


def test_labels_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        draw_overlay(grey_image(4, 4), np.full((4, 4), 2, np.int32), ["a", "b"])


def test_labels_of_another_size_are_refused() -> None:
    with pytest.raises(ValueError, match="labels"):
        draw_overlay(grey_image(4, 4), np.zeros((4, 5), np.int32), ["a"])


# ---------------------------------------------------------------- detections and legend


def test_a_detection_box_is_drawn_in_its_class_colour() -> None:
    labels = np.full((120, 160), -1, dtype=np.int32)
    found = Detection(query="table", class_index=1, score=0.9, box=(60.0, 50.0, 120.0, 100.0), region_index=2)
    out = draw_overlay(grey_image(120, 160), labels, ["mug", "table"], [found], legend=False)
    colour = class_colors(2)[1]
    for row, col in [(50, 90), (99, 90), (75, 60), (75, 119)]:  # top, bottom, left, right edge
        np.testing.assert_array_equal(out[row, col], colour)
    np.testing.assert_array_equal(out[75, 90], [GREY] * 3)  # inside the box: untouched
    np.testing.assert_array_equal(out[75, 120], [GREY] * 3)  # x2 is exclusive


def test_a_detection_gets_a_tag_with_text_above_its_box() -> None:
    labels = np.full((120, 160), -1, dtype=np.int32)
    found = Detection(query="table", class_index=0, score=0.9, box=(60.0, 50.0, 120.0, 100.0), region_index=2)
    out = draw_overlay(grey_image(120, 160), labels, ["table"], [found], legend=False)
    tag = out[30:50, 60:120]
    colour = class_colors(1)[0]
    assert (tag == colour).all(axis=2).sum() > 50  # the tag background
    assert (~(tag == colour).all(axis=2) & ~(tag == GREY).all(axis=2)).sum() > 10  # the glyphs


def test_a_track_id_widens_the_tag_with_its_number_in_front() -> None:
    labels = np.full((120, 160), -1, dtype=np.int32)
    found = Detection(query="table", class_index=0, score=0.9, box=(20.0, 50.0, 150.0, 100.0), region_index=1)
    colour = class_colors(1)[0]
    plain = draw_overlay(grey_image(120, 160), labels, ["table"], [found], legend=False)
    tracked = draw_overlay(grey_image(120, 160), labels, ["table"], [found], legend=False, track_ids=[5, 427])
    tag_width = [int((image[40, :] == colour).all(axis=1).sum()) for image in (plain, tracked)]  # tag's top row
    assert tag_width[1] > tag_width[0]  # "#427 table 0.90" is longer than "table 0.90"


def test_a_legend_is_drawn_at_the_bottom_left_when_classes_are_present() -> None:
    rgb = grey_image(120, 160)
    out = draw_overlay(rgb, labels_with_square(120, 160), ["mug"])
    assert (out[-20:, :40] != GREY).any()
    without = draw_overlay(rgb, labels_with_square(120, 160), ["mug"], legend=False)
    np.testing.assert_array_equal(out[:60, :], without[:60, :])  # the legend stays in its corner


def test_no_legend_when_nothing_is_labelled_or_detected() -> None:
    rgb = grey_image(120, 160)
    np.testing.assert_array_equal(draw_overlay(rgb, np.full((120, 160), -1, np.int32), ["mug", "table"]), rgb)


# ---------------------------------------------------------------- sizes


def test_zero_classes_and_no_labels_return_the_image_unchanged() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(draw_overlay(rgb, np.full((30, 40), -1, np.int32), []), rgb)


@pytest.mark.parametrize("label", [-1, 0])
def test_a_one_pixel_image_works(label: int) -> None:
    rgb = np.array([[[10, 200, 30]]], dtype=np.uint8)
    box = Detection(query="mug", class_index=0, score=0.5, box=(0.0, 0.0, 1.0, 1.0), region_index=0)
    out = draw_overlay(rgb, np.array([[label]], np.int32), ["mug"], [box] if label == 0 else [])
    assert out.shape == (1, 1, 3) and out.dtype == np.uint8
    if label == -1:
        np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("shape", [(1, 20000), (3, 30000), (20000, 2)])
def test_very_wide_or_tall_images_work(shape: tuple[int, int]) -> None:
    labels = np.zeros(shape, np.int32)
    labels[..., ::2] = -1
    whole = (0.0, 0.0, float(shape[1]), float(shape[0]))
    box = Detection(query="mug", class_index=0, score=0.5, box=whole, region_index=0)
    out = draw_overlay(np.zeros(shape + (3,), np.uint8), labels, ["mug"], [box])
    assert out.shape == shape + (3,)


def test_a_4000x3000_frame_needs_little_more_than_the_output_image() -> None:
    height, width = 3000, 4000
    rgb = np.zeros((height, width, 3), np.uint8)
    labels = np.full((height, width), -1, np.int32)
    labels[500:2000, 500:3000] = 0
    labels[1500:, 2000:] = 1
    found = [Detection(query="a", class_index=0, score=0.9, box=(500.0, 500.0, 3000.0, 2000.0), region_index=0)]
    tracemalloc.start()
    try:
        out = draw_overlay(rgb, labels, ["a", "b"], found)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (height, width, 3)
    assert peak < 1.5 * rgb.nbytes  # the output (36 MB) plus small per-band temporaries
    assert out[1000, 1000].tolist() == expected_blend(np.zeros(3), class_colors(2)[0], 0.5).tolist()


# ---------------------------------------------------------------- tensor renderer = the reference renderer


def fixed_scene(height: int, width: int, classes: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, list[Detection]]:
    """A noisy image, blocky labels of every class (with unlabeled holes) and a few tagged detections."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    coarse = rng.integers(-1, classes, size=(height // 8 + 1, width // 8 + 1))
    labels = np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width].astype(np.int32)
    found = [Detection(query=f"class {c}", class_index=c, score=0.5 + 0.04 * c,
                       box=(5.0 + 9 * c, 12.0 + 7 * c, 5.0 + 9 * c + width / 3, 12.0 + 7 * c + height / 4),
                       region_index=c)
             for c in range(classes)]
    return rgb, labels, found


@pytest.mark.parametrize("height,width,classes", [(48, 64, 3), (120, 160, 12), (77, 131, 25)])
def test_tensor_renderer_draws_the_same_bytes_as_the_reference_renderer(height: int, width: int, classes: int) -> None:
    rgb, labels, found = fixed_scene(height, width, classes)
    names = [f"class {c}" for c in range(classes)]
    extras = dict(distances={0: 1.25, 2: 3.5}, track_ids=list(range(100, 100 + classes)))
    reference = draw_overlay(rgb, labels, names, found, pixels="numpy", **extras)
    tensor = draw_overlay(rgb, labels, names, found, pixels="tensor", **extras)
    np.testing.assert_array_equal(tensor, reference)


def test_tensor_renderer_bands_meet_without_a_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    from textregion_ros.outputs import overlay_pixels
    monkeypatch.setattr(overlay_pixels, "TENSOR_BAND_PIXELS", 3 * 64)  # bands of 3 rows
    rgb, labels, _ = fixed_scene(50, 64, 5)
    names = [f"class {c}" for c in range(5)]
    np.testing.assert_array_equal(draw_overlay(rgb, labels, names, pixels="tensor"),
                                  draw_overlay(rgb, labels, names, pixels="numpy"))


def test_a_label_tensor_draws_the_same_overlay_as_its_numpy_array() -> None:
    rgb, labels, found = fixed_scene(60, 80, 4)
    names = [f"class {c}" for c in range(4)]
    np.testing.assert_array_equal(draw_overlay(rgb, torch.from_numpy(labels), names, found, pixels="tensor"),
                                  draw_overlay(rgb, labels, names, found, pixels="numpy"))


def test_labels_out_of_range_are_refused_by_the_tensor_renderer() -> None:
    with pytest.raises(ValueError, match=r"\[-1, 1\)"):
        draw_overlay(grey_image(40, 60), torch.from_numpy(labels_with_square(label=3)), ["mug"], pixels="tensor")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_label_map_on_the_gpu_draws_the_reference_overlay() -> None:
    rgb, labels, found = fixed_scene(480, 640, 16)
    names = [f"class {c}" for c in range(16)]
    np.testing.assert_array_equal(draw_overlay(rgb, torch.from_numpy(labels).cuda(), names, found),
                                  draw_overlay(rgb, labels, names, found, pixels="numpy"))
