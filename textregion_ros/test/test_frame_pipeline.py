"""The ROS-free frame pipeline (perception/): what observe() and describe() compute, and only that,
on real SAM2 + PE models with random weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine_fixtures import photo_like
from textregion_ros.cli.depth_files import DepthFile
from textregion_ros.engine import parse_queries
from textregion_ros.engine.results import Detection
from textregion_ros.objects import TrackedObjects
from textregion_ros.params import PARAMETERS
from textregion_ros.perception import FrameInput, FramePipeline, No3D, PipelineSettings
from textregion_ros.perception.region_3d import detection_boxes
from textregion_ros.spatial import DepthSettings, Intrinsics, RigidTransform, move_located, locate

DEFAULTS = {p.name: p.default for p in PARAMETERS}
QUERIES = parse_queries(["red mug", "floor"])
HEIGHT, WIDTH = 96, 128
CAMERA = (100.0, 100.0, 64.0, 48.0)  # fx, fy, cx, cy of the 128x96 image
TO_MAP = RigidTransform((10.0, -4.0, 0.5), (0.0, 0.0, 0.0, 1.0), "map")


class FixedOutputTransform:
    """An output frame whose transform never changes (a static transform)."""

    def __init__(self, transform: RigidTransform) -> None:
        self.transform = transform

    def transform_at(self, source_frame: str, stamp_ns: int, timeout_s: float) -> RigidTransform:
        return self.transform


class UnknownOutputTransform:
    def transform_at(self, source_frame: str, stamp_ns: int, timeout_s: float) -> RigidTransform:
        raise No3D(f"no transform {source_frame} -> map", "tf-camera")


class NoDepthYet:
    def depth_for(self, stamp_ns: int, frame_id: str, tolerance_s: float):
        raise No3D("no depth image within 0.05 s of the frame's stamp", "no-depth")


@pytest.fixture(scope="module")
def pipeline(pe_engine) -> FramePipeline:
    return FramePipeline(pe_engine, PipelineSettings.from_parameters(DEFAULTS),
                         TrackedObjects.from_parameters(DEFAULTS))


def flat_depth(metres: float = 2.0) -> DepthFile:
    return DepthFile(np.full((HEIGHT, WIDTH), metres, np.float32), CAMERA, (HEIGHT, WIDTH))


def frame(stamp_s: int = 1, **sources) -> FrameInput:
    return FrameInput(photo_like(HEIGHT, WIDTH, seed=3), stamp_s * 1_000_000_000, "camera_optical", **sources)


def test_only_region_tokens_wanted_runs_no_segmentation(pipeline):
    result = pipeline.describe(pipeline.observe(frame()), QUERIES, {"region_tokens"})
    assert result.segmentation is None and result.detections == [] and result.overlay is None
    assert "segmentation" not in result.seconds


def test_labels_wanted_segments_but_does_not_ground(pipeline):
    result = pipeline.describe(pipeline.observe(frame()), QUERIES, {"labels"})
    assert result.segmentation is not None and result.segmentation.labels.shape == (HEIGHT, WIDTH)
    assert "grounding" not in result.seconds and result.overlay is None


def test_detections_wanted_are_grounded_with_the_frames_track_ids(pipeline):
    observed = pipeline.observe(frame())
    result = pipeline.describe(observed, QUERIES, {"detections"})
    assert result.detections and "grounding" in result.seconds
    assert result.track_ids is observed.track_ids and len(observed.track_ids) == len(observed.regions)


def test_without_queries_the_overlay_is_the_plain_image(pipeline):
    observed = pipeline.observe(frame())
    result = pipeline.describe(observed, parse_queries([]), {"overlay", "labels", "detections"})
    assert result.overlay is observed.rgb and result.segmentation is None and result.detections == []


def test_an_unknown_product_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown products \\['lables'\\]"):
        from textregion_ros.perception import work_for
        work_for({"lables"})


def test_a_pipeline_without_objects_gives_no_track_ids(pe_engine):
    untracked = FramePipeline(pe_engine, PipelineSettings.from_parameters(DEFAULTS))
    assert untracked.observe(frame()).track_ids is None


def test_the_3d_is_in_the_output_frame_and_the_distance_from_the_camera(pipeline):
    observed = pipeline.observe(frame(depth=flat_depth(2.0), output_transform=FixedOutputTransform(TO_MAP)))
    assert observed.problem_3d is None and observed.camera_3d.valid.any()
    assert observed.output_3d.frame_id == "map" and observed.camera_3d.frame_id == "camera_optical"
    valid = observed.camera_3d.valid
    np.testing.assert_allclose(observed.output_3d.centres[valid],
                               observed.camera_3d.centres[valid] + TO_MAP.translation)
    result = pipeline.describe(observed, QUERIES, {"detections_3d", "overlay"})
    distances = result.distances_m()
    rows = result.detections_camera_3d.valid
    assert rows.any()
    # the distance from the camera (at least the 2 m depth), not |centre| in the map (about 10.8 m):
    # measured in the map, from where the camera is there (TO_MAP only translates), it is the same
    from_camera_in_map = np.linalg.norm(result.detections_output_3d.centres[rows] - TO_MAP.translation, axis=1)
    np.testing.assert_allclose(distances[rows], from_camera_in_map, rtol=1e-5)
    assert np.all((distances[rows] >= 2.0) & (distances[rows] < 3.0))
    assert np.all(np.linalg.norm(result.detections_output_3d.centres[rows], axis=1) > 9.0)


def test_a_frame_without_depth_says_why_and_is_still_tracked(pipeline):
    observed = pipeline.observe(frame(depth=NoDepthYet()))
    assert observed.camera_3d is None and observed.output_3d is None
    assert observed.problem_3d.key == "no-depth" and observed.track_ids is not None


def test_an_unknown_transform_keeps_the_optical_3d_and_publishes_none(pipeline):
    observed = pipeline.observe(frame(depth=flat_depth(), output_transform=UnknownOutputTransform()))
    assert observed.camera_3d is not None and observed.output_3d is None
    assert observed.problem_3d.key == "tf-camera"
    result = pipeline.describe(observed, QUERIES, {"detections_3d", "markers"})
    assert result.detections_output_3d is None and result.distances_m() is None


def test_a_best_mode_detection_takes_its_3d_from_its_own_connected_part():
    """The region holds two blobs, one at 1 m and one at 3 m; the detection's mask is the 1 m blob."""
    masks = torch.zeros(1, HEIGHT, WIDTH, dtype=torch.bool)
    masks[0, 10:40, 10:40] = True  # the near part (largest)
    masks[0, 60:80, 90:110] = True  # a far, smaller part
    depth = np.full((HEIGHT, WIDTH), 3.0, np.float32)
    depth[10:40, 10:40] = 1.0
    view = DepthFile(depth, CAMERA, (HEIGHT, WIDTH))._view
    settings = DepthSettings(outlier_k=float("inf"))
    region = move_located(locate(masks, depth, Intrinsics(*CAMERA, WIDTH, HEIGHT), settings), None, "cam", 0)
    part = masks[0].numpy().copy()
    part[60:80, 90:110] = False
    detections = [Detection("red mug", 0, 0.9, (10.0, 10.0, 40.0, 40.0), 0, (HEIGHT, WIDTH), mask_work=part)]
    rows = detection_boxes(detections, region, torch.from_numpy(part)[None], [0], view, settings, None)
    assert region.sizes[0, 2] == pytest.approx(2.0)  # the region's own box reaches back to the far blob ...
    assert rows.sizes[0, 2] == pytest.approx(0.0)  # ... the detection's part is all near
    assert rows.box_centres[0, 2] == pytest.approx(1.0) and region.box_centres[0, 2] == pytest.approx(2.0)
