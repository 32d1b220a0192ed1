"""Engine results -> ROS messages: the field contract of DESIGN.md section 2, one rule per test.

Regions and Detections are built by hand (no model); messages are checked field by field and,
once per message type, through rclpy's real CDR serialisation.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from builtin_interfaces.msg import Time
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from textregion_msgs.msg import RegionTokens
from vision_msgs.msg import Detection2DArray, LabelInfo

from textregion_ros.engine.results import Detection, Regions
from textregion_ros.outputs import encodings
from textregion_ros.outputs.class_ids import StableClassIds
from textregion_ros.ros.conversions import (
    confidence_to_image,
    detections_to_msg,
    label_info,
    labels_to_image,
    region_tokens_to_msg,
    tokens_from_msg,
)
from textregion_ros.ros.image_conversions import imgmsg_to_numpy

HEADER = Header(stamp=Time(sec=1700000000, nanosec=123456789), frame_id="camera_optical")


def _same_header(actual: Header, expected: Header = HEADER) -> bool:
    return (actual.stamp.sec, actual.stamp.nanosec, actual.frame_id) == (
        expected.stamp.sec,
        expected.stamp.nanosec,
        expected.frame_id,
    )


def make_regions(
    rectangles: list[tuple[int, int, int, int]],
    image_size: tuple[int, int] = (12, 16),
    dim: int = 8,
    logit_affine: tuple[float, float] | None = None,
) -> Regions:
    """Regions whose soft masks (0..3) are the given x1,y1,x2,y2 rectangles at image size.

    Every later rectangle gets a higher mask value, so where rectangles overlap the later one
    wins the region-id image.
    """
    count = len(rectangles)
    height, width = image_size
    generator = torch.Generator().manual_seed(count * 1000 + dim)
    tokens = F.normalize(torch.randn(count, dim, generator=generator), dim=1)
    masks = torch.zeros(count, height, width)
    for index, (x1, y1, x2, y2) in enumerate(rectangles):
        masks[index, y1:y2, x1:x2] = 1.0 + 2.0 * (index + 1) / max(count, 1)
    boxes = torch.tensor(rectangles, dtype=torch.float32).reshape(count, 4)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return Regions(
        tokens=tokens,
        masks=masks,
        boxes=boxes,
        areas=areas,
        predicted_iou=torch.linspace(0.95, 0.7, count),
        stability=torch.linspace(0.99, 0.8, count),
        image_size=image_size,
        model_id="clip:ViT-B-16:openai",
        logit_affine=logit_affine,
    )


def detection(
    query: str = "mug", class_index: int = 0, score: float = 0.8,
    box: tuple[float, float, float, float] = (10.0, 20.0, 30.0, 60.0), region_index: int = 4,
) -> Detection:
    return Detection(query=query, class_index=class_index, score=score, box=box, region_index=region_index)


# ---------------------------------------------------------------- labels


def test_labels_with_254_classes_are_mono8_holding_the_class_index() -> None:
    labels = np.array([[0, 1, 253], [7, 42, 100]], dtype=np.int32)
    msg = labels_to_image(labels, class_count=254, header=HEADER)
    assert msg.encoding == "mono8"
    np.testing.assert_array_equal(imgmsg_to_numpy(msg), labels.astype(np.uint8))


def test_labels_with_255_classes_switch_to_mono16() -> None:
    labels = np.array([[0, 254], [1, -1]], dtype=np.int32)
    msg = labels_to_image(labels, class_count=255, header=HEADER)
    assert msg.encoding == "mono16"
    np.testing.assert_array_equal(imgmsg_to_numpy(msg), [[0, 254], [1, 65535]])


@pytest.mark.parametrize(("class_count", "unlabeled"), [(3, 255), (254, 255), (255, 65535), (65535, 65535)])
def test_unlabeled_pixels_get_the_top_value_of_the_encoding(class_count: int, unlabeled: int) -> None:
    labels = np.array([[-1, 0], [2, -1]], dtype=np.int32)
    pixels = imgmsg_to_numpy(labels_to_image(labels, class_count, HEADER))
    assert pixels[0, 0] == pixels[1, 1] == unlabeled
    assert (pixels[0, 1], pixels[1, 0]) == (0, 2)


def test_label_image_carries_the_source_header_and_size() -> None:
    msg = labels_to_image(np.zeros((3, 5), np.int32), 1, HEADER)
    assert _same_header(msg.header)
    assert (msg.height, msg.width, msg.step) == (3, 5, 5)


def test_label_values_name_the_label_info_class_of_the_same_classes() -> None:
    classes = ["mug", "table; desk", "floor"]
    labels = np.array([[0, 1, 2, -1], [2, 2, 1, 0]], dtype=np.int32)
    pixels = imgmsg_to_numpy(labels_to_image(labels, len(classes), HEADER))
    names = {entry.class_id: entry.class_name for entry in label_info(classes, HEADER, 0.4).class_map}
    for value, label in zip(pixels.ravel().tolist(), labels.ravel().tolist()):
        assert (value == 255) if label == -1 else names[value] == classes[label]


def test_the_largest_mono16_class_index_65534_is_kept() -> None:
    labels = np.array([[65534, -1]], dtype=np.int32)
    np.testing.assert_array_equal(imgmsg_to_numpy(labels_to_image(labels, 65535, HEADER)), [[65534, 65535]])


def test_more_than_65535_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="65535"):
        labels_to_image(np.zeros((2, 2), np.int32), 65536, HEADER)


@pytest.mark.parametrize("bad_label", [3, 7, -2])
def test_labels_outside_minus_one_to_class_count_are_refused(bad_label: int) -> None:
    labels = np.array([[0, bad_label]], dtype=np.int32)
    with pytest.raises(ValueError, match=str(bad_label)):
        labels_to_image(labels, 3, HEADER)


def test_zero_classes_give_an_all_unlabeled_mono8_image() -> None:
    msg = labels_to_image(np.full((2, 3), -1, np.int32), 0, HEADER)
    assert msg.encoding == "mono8"
    assert (imgmsg_to_numpy(msg) == 255).all()


# ---------------------------------------------------------------- labels with stable class ids


def test_labels_with_values_map_each_class_index_to_its_value() -> None:
    labels = np.array([[0, 1, 2], [2, -1, 0]], dtype=np.int32)
    msg = labels_to_image(labels, 3, HEADER, values=[7, 0, 254])
    assert msg.encoding == "mono8"
    np.testing.assert_array_equal(imgmsg_to_numpy(msg), [[7, 0, 254], [254, 255, 7]])


def test_labels_switch_to_mono16_once_a_value_exceeds_254() -> None:
    labels = np.array([[0, 1], [-1, 1]], dtype=np.int32)
    msg = labels_to_image(labels, 2, HEADER, values=[3, 255])
    assert msg.encoding == "mono16"
    np.testing.assert_array_equal(imgmsg_to_numpy(msg), [[3, 255], [65535, 255]])


@pytest.mark.parametrize(("values", "unlabeled"), [([0, 254], 255), ([0, 255], 65535), ([65534, 9], 65535)])
def test_unlabeled_pixels_stay_the_top_value_with_values(values: list[int], unlabeled: int) -> None:
    labels = np.array([[-1, 0], [1, -1]], dtype=np.int32)
    pixels = imgmsg_to_numpy(labels_to_image(labels, 2, HEADER, values=values))
    assert pixels[0, 0] == pixels[1, 1] == unlabeled
    assert (pixels[0, 1], pixels[1, 0]) == tuple(values)


def test_values_of_fewer_than_255_classes_may_still_need_mono16() -> None:
    msg = labels_to_image(np.zeros((2, 2), np.int32), 1, HEADER, values=[300])
    assert msg.encoding == "mono16" and (imgmsg_to_numpy(msg) == 300).all()


def test_label_info_with_values_lists_each_value_with_its_class() -> None:
    msg = label_info(["floor; ground", "person", "chair"], HEADER, 0.4, values=[5, 0, 300])
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(5, "floor; ground"), (0, "person"), (300, "chair")]


@pytest.mark.parametrize("values", [[4, 9, 2], [4, 700, 2]])
def test_label_info_class_ids_are_the_pixel_values_of_their_classes(values: list[int]) -> None:
    classes = ["mug", "table; desk", "floor"]
    labels = np.array([[0, 1, 2, -1], [2, 2, 1, 0]], dtype=np.int32)
    pixels = imgmsg_to_numpy(labels_to_image(labels, len(classes), HEADER, values=values))
    names = {entry.class_id: entry.class_name for entry in label_info(classes, HEADER, 0.4, values).class_map}
    unlabeled = 255 if max(values) <= 254 else 65535
    assert unlabeled not in names
    for value, label in zip(pixels.ravel().tolist(), labels.ravel().tolist()):
        assert (value == unlabeled) if label == -1 else names[value] == classes[label]


@pytest.mark.parametrize(("values", "message"), [
    ([0, 1], "2 label values for 3 classes"),
    ([0, 1, 1], "label value 1 is given to two classes"),
    ([0, 1, 65535], "label value 65535 is outside"),
    ([0, -1, 2], "label value -1 is outside"),
    ([0.0, 1.0, 2.0], "must be integers"),
])
def test_bad_values_are_refused_by_the_image_and_the_label_info(values: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        labels_to_image(np.zeros((2, 2), np.int32), 3, HEADER, values=values)
    with pytest.raises(ValueError, match=message):
        label_info(["a", "b", "c"], HEADER, 0.0, values=values)


def test_no_classes_with_empty_values_give_an_all_unlabeled_mono8_image() -> None:
    msg = labels_to_image(np.full((2, 2), -1, np.int32), 0, HEADER, values=[])
    assert msg.encoding == "mono8" and (imgmsg_to_numpy(msg) == 255).all()


def test_stable_ids_survive_a_query_added_in_front_in_image_and_label_info() -> None:
    ids = StableClassIds()
    ids.assign(["person", "chair"])
    classes = ["door", "person", "chair"]
    values = ids.assign(classes)
    labels = np.array([[0, 1, 2]], dtype=np.int32)
    np.testing.assert_array_equal(imgmsg_to_numpy(labels_to_image(labels, 3, HEADER, values)), [[2, 0, 1]])
    info = label_info(classes, HEADER, 0.0, values)
    assert {c.class_name: c.class_id for c in info.class_map} == {"person": 0, "chair": 1, "door": 2}


def test_label_info_and_mono16_values_survive_rclpy_serialisation() -> None:
    info = deserialize_message(serialize_message(label_info(["mug", "floor"], HEADER, 0.4, [0, 40000])), LabelInfo)
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "mug"), (40000, "floor")]
    image = labels_to_image(np.array([[1, -1]], dtype=np.int32), 2, HEADER, [0, 40000])
    back = deserialize_message(serialize_message(image), Image)
    np.testing.assert_array_equal(imgmsg_to_numpy(back), [[40000, 65535]])


@pytest.mark.parametrize(("values", "expected"), [(None, 255), ([0, 254], 255), ([0, 255], 65535)])
def test_unlabeled_value_with_values_is_the_one_the_label_image_uses(values: list[int] | None, expected: int) -> None:
    pixels = imgmsg_to_numpy(labels_to_image(np.array([[-1]], dtype=np.int32), 2, HEADER, values))
    assert encodings.unlabeled_value(2, values) == int(pixels[0, 0]) == expected


# ---------------------------------------------------------------- confidence


def test_confidence_is_mono8_of_255_times_the_probability_rounded() -> None:
    confidence = np.array([[0.0, 1.0, 0.5, 0.25], [1 / 255, 0.002, 0.0019, 0.999]], dtype=np.float32)
    msg = confidence_to_image(confidence, HEADER)
    assert msg.encoding == "mono8"
    # 0.5*255 = 127.5 and 0.25*255 = 63.75; 0.002*255 = 0.51 -> 1; 0.0019*255 = 0.48 -> 0
    np.testing.assert_array_equal(imgmsg_to_numpy(msg), [[0, 255, 128, 64], [1, 1, 0, 255]])


def test_confidence_outside_zero_one_is_clipped_and_nan_is_zero() -> None:
    confidence = np.array([[-0.5, 1.5, np.inf, np.nan]], dtype=np.float32)
    np.testing.assert_array_equal(imgmsg_to_numpy(confidence_to_image(confidence, HEADER)), [[0, 255, 255, 0]])


def test_confidence_image_carries_the_source_header() -> None:
    assert _same_header(confidence_to_image(np.zeros((2, 2), np.float32), HEADER).header)


# ---------------------------------------------------------------- label info


def test_label_info_maps_class_index_to_query_text_with_threshold_and_header() -> None:
    msg = label_info(["mug", "table; desk"], HEADER, threshold=0.4)
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(0, "mug"), (1, "table; desk")]
    assert msg.threshold == pytest.approx(0.4)
    assert _same_header(msg.header)


def test_label_info_of_no_classes_is_an_empty_class_map() -> None:
    assert list(label_info([], HEADER, 0.0).class_map) == []


def test_label_info_refuses_more_classes_than_uint16_class_ids_hold() -> None:
    with pytest.raises(ValueError, match="65535"):
        label_info([f"c{i}" for i in range(65536)], HEADER, 0.0)


# ---------------------------------------------------------------- detections


def test_detection_bbox_is_centre_and_size_of_the_exclusive_end_box() -> None:
    msg = detections_to_msg([detection(box=(10.0, 20.0, 30.0, 60.0))], HEADER)
    bbox = msg.detections[0].bbox
    assert (bbox.center.position.x, bbox.center.position.y) == (20.0, 40.0)
    assert (bbox.size_x, bbox.size_y) == (20.0, 40.0)
    assert bbox.center.theta == 0.0


def test_a_one_pixel_box_has_size_one_centred_mid_pixel() -> None:
    bbox = detections_to_msg([detection(box=(5.0, 7.0, 6.0, 8.0))], HEADER).detections[0].bbox
    assert (bbox.center.position.x, bbox.center.position.y, bbox.size_x, bbox.size_y) == (5.5, 7.5, 1.0, 1.0)


def test_detection_class_id_is_the_query_text_and_id_the_instance_value() -> None:
    item = detections_to_msg([detection(query="table; desk", class_index=1, region_index=4)], HEADER).detections[0]
    assert item.results[0].hypothesis.class_id == "table; desk"
    assert item.id == "5"  # region_index + 1, the value in the region-id image
    assert len(item.results) == 1


@pytest.mark.parametrize(("score", "expected"), [(0.73, 0.73), (1.25, 1.0), (-0.1, 0.0), (float("nan"), 0.0)])
def test_detection_score_is_clipped_to_zero_one(score: float, expected: float) -> None:
    item = detections_to_msg([detection(score=score)], HEADER).detections[0]
    assert item.results[0].hypothesis.score == pytest.approx(expected)


def test_every_detection_and_the_array_carry_the_source_header() -> None:
    msg = detections_to_msg([detection(region_index=0), detection(region_index=1)], HEADER)
    assert _same_header(msg.header)
    assert all(_same_header(item.header) for item in msg.detections)


def test_detection_headers_are_independent_copies() -> None:
    msg = detections_to_msg([detection(region_index=0), detection(region_index=1)], HEADER)
    msg.detections[0].header.frame_id = "edited"
    assert msg.detections[1].header.frame_id == msg.header.frame_id == HEADER.frame_id == "camera_optical"


def test_no_detections_give_an_empty_stamped_array() -> None:
    msg = detections_to_msg([], HEADER)
    assert list(msg.detections) == [] and _same_header(msg.header)


def test_detection_array_survives_rclpy_serialisation() -> None:
    floor = detection(query="floor", score=0.5, box=(0, 0, 4, 2), region_index=0)
    msg = detections_to_msg([detection(), floor], HEADER)
    back = deserialize_message(serialize_message(msg), Detection2DArray)
    assert [d.results[0].hypothesis.class_id for d in back.detections] == ["mug", "floor"]
    assert [d.id for d in back.detections] == ["5", "1"]
    assert back.detections[1].bbox.size_x == 4.0 and back.detections[1].bbox.center.position.y == 1.0
    assert _same_header(back.detections[0].header)


# ---------------------------------------------------------------- region tokens

RECTANGLES = [(0, 0, 8, 6), (4, 3, 16, 12), (10, 0, 14, 4)]


def test_region_tokens_carry_model_counts_and_header() -> None:
    regions = make_regions(RECTANGLES, dim=8)
    msg = region_tokens_to_msg(regions, HEADER)
    assert msg.model == "clip:ViT-B-16:openai"
    assert (msg.region_count, msg.token_dim) == (3, 8)
    assert len(msg.tokens) == 24
    assert _same_header(msg.header) and _same_header(msg.region_ids.header)


def test_tokens_reshape_back_to_the_regions_tokens_exactly() -> None:
    regions = make_regions(RECTANGLES, dim=8)
    msg = region_tokens_to_msg(regions, HEADER)
    tokens = tokens_from_msg(msg)
    assert tokens.shape == (3, 8) and tokens.dtype == np.float32
    np.testing.assert_array_equal(tokens, regions.tokens.numpy())
    np.testing.assert_array_equal(np.asarray(msg.tokens[8:16]), regions.tokens[1].numpy())  # row-major


def test_half_precision_tokens_are_sent_as_float32() -> None:
    regions = make_regions(RECTANGLES, dim=8)
    regions.tokens = regions.tokens.to(torch.bfloat16)
    tokens = tokens_from_msg(region_tokens_to_msg(regions, HEADER))
    np.testing.assert_array_equal(tokens, regions.tokens.float().numpy())


def test_regions_without_an_affine_send_plain_cosine_scale_and_bias() -> None:
    msg = region_tokens_to_msg(make_regions(RECTANGLES), HEADER)
    assert (msg.logit_scale, msg.logit_bias) == (0.0, 0.0)  # exp(0) * cos + 0 = cos


def test_siglip_logit_scale_is_the_log_of_the_engines_multiplier() -> None:
    msg = region_tokens_to_msg(make_regions(RECTANGLES, logit_affine=(112.0, -16.5)), HEADER)
    assert msg.logit_scale == pytest.approx(math.log(112.0))
    assert msg.logit_bias == pytest.approx(-16.5)


def test_consumer_logits_from_the_message_equal_the_engines_logits() -> None:
    regions = make_regions(RECTANGLES, logit_affine=(112.0, -16.5))
    msg = region_tokens_to_msg(regions, HEADER)
    text = F.normalize(torch.arange(1.0, 9.0), dim=0)
    engine = (regions.tokens @ text) * 112.0 - 16.5  # how the engine applies logit_affine
    consumer = math.exp(msg.logit_scale) * (tokens_from_msg(msg) @ text.numpy()) + msg.logit_bias
    np.testing.assert_allclose(consumer, engine.numpy(), rtol=1e-5, atol=1e-4)


def test_region_boxes_are_centre_and_size_in_pixels() -> None:
    msg = region_tokens_to_msg(make_regions(RECTANGLES), HEADER)
    got = [(b.center.position.x, b.center.position.y, b.size_x, b.size_y) for b in msg.boxes]
    assert got == [(4.0, 3.0, 8.0, 6.0), (10.0, 7.5, 12.0, 9.0), (12.0, 2.0, 4.0, 4.0)]


def test_region_areas_scores_and_stability_follow_region_order() -> None:
    regions = make_regions(RECTANGLES)
    msg = region_tokens_to_msg(regions, HEADER)
    assert list(msg.areas) == [48, 108, 16]
    np.testing.assert_allclose(np.asarray(msg.scores), regions.predicted_iou.numpy())
    np.testing.assert_allclose(np.asarray(msg.stability_scores), regions.stability.numpy())


def test_region_id_image_is_mono16_with_each_pixel_the_id_of_the_region_covering_it() -> None:
    msg = region_tokens_to_msg(make_regions(RECTANGLES), HEADER)
    assert msg.region_ids.encoding == "mono16"
    ids = imgmsg_to_numpy(msg.region_ids)
    assert ids.dtype == np.uint16 and ids.shape == (12, 16)
    # drawn by hand from the rectangles: ids 1..3, a later rectangle over an earlier one, 0 uncovered
    expected = np.zeros((12, 16), np.uint16)
    for region_id, (x1, y1, x2, y2) in enumerate(RECTANGLES, start=1):
        expected[y1:y2, x1:x2] = region_id
    np.testing.assert_array_equal(ids, expected)


def test_a_precomputed_region_id_image_is_used_as_given() -> None:
    regions = make_regions(RECTANGLES)
    given = np.full((12, 16), 2, dtype=np.uint16)
    np.testing.assert_array_equal(imgmsg_to_numpy(region_tokens_to_msg(regions, HEADER, given).region_ids), given)


def test_a_region_id_image_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="region-id image"):
        region_tokens_to_msg(make_regions(RECTANGLES), HEADER, np.zeros((3, 3), np.uint16))


def test_zero_regions_give_empty_arrays_and_an_all_zero_id_image() -> None:
    regions = make_regions([], dim=8)
    msg = region_tokens_to_msg(regions, HEADER)
    assert (msg.region_count, msg.token_dim) == (0, 8)
    assert len(msg.tokens) == len(msg.boxes) == len(msg.areas) == len(msg.scores) == len(msg.stability_scores) == 0
    assert tokens_from_msg(msg).shape == (0, 8)
    assert (msg.region_ids.height, msg.region_ids.width) == (12, 16)
    assert not imgmsg_to_numpy(msg.region_ids).any()


def test_region_tokens_survive_rclpy_serialisation() -> None:
    regions = make_regions(RECTANGLES, dim=8, logit_affine=(112.0, -16.5))
    back = deserialize_message(serialize_message(region_tokens_to_msg(regions, HEADER)), RegionTokens)
    np.testing.assert_array_equal(tokens_from_msg(back), regions.tokens.numpy())
    np.testing.assert_array_equal(imgmsg_to_numpy(back.region_ids), regions.region_id_image())
    assert list(back.areas) == [48, 108, 16] and back.boxes[1].size_y == 9.0
    assert back.model == "clip:ViT-B-16:openai" and back.logit_bias == pytest.approx(-16.5)
    assert _same_header(back.header)


def test_label_info_and_label_images_survive_rclpy_serialisation() -> None:
    info = deserialize_message(serialize_message(label_info(["mug", "floor"], HEADER, 0.4)), LabelInfo)
    assert [(c.class_id, c.class_name) for c in info.class_map] == [(0, "mug"), (1, "floor")]
    labels = np.array([[0, 1], [-1, 299]], dtype=np.int32)
    image = deserialize_message(serialize_message(labels_to_image(labels, 300, HEADER)), Image)
    np.testing.assert_array_equal(imgmsg_to_numpy(image), [[0, 1], [65535, 299]])
