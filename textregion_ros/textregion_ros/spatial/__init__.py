"""3D of regions from a registered depth image (DESIGN.md 1.8 "3D"), ROS-free (numpy + torch only).

    camera = Intrinsics.from_k(camera_info.k, camera_info.width, camera_info.height)
    located = locate(regions.masks, depth_in_metres(depth, encoding), camera, DepthSettings(...))
    boxes = transform_boxes(located, translation, rotation_xyzw)  # or transform_boxes(located): optical frame

camera.py: intrinsics, REP-118 depth, the pixel and rescaling conventions; locate.py: the
per-mask points, outlier rejection, centres and boxes; segmented.py: the one-pass per-mask sorts,
quantiles and MADs; transform.py: centres and boxes in a target frame, shaped for
vision_msgs/BoundingBox3D.
"""
from .camera import (
    METRE_ENCODINGS, MILLIMETRE_ENCODINGS, Intrinsics, depth_in_metres, nearest_indices, resample_nearest,
)
from .locate import BOX_QUANTILES, MAD_TO_SIGMA, MASK_THRESHOLD, DepthSettings, Located, locate
from .transform import Boxes3D, RigidTransform, move_located, rotation_matrix, transform_boxes, unit_quaternion

__all__ = [
    "BOX_QUANTILES", "MAD_TO_SIGMA", "MASK_THRESHOLD", "METRE_ENCODINGS", "MILLIMETRE_ENCODINGS", "Boxes3D",
    "DepthSettings", "Intrinsics", "Located", "RigidTransform", "depth_in_metres", "locate", "move_located",
    "nearest_indices", "resample_nearest", "rotation_matrix", "transform_boxes", "unit_quaternion",
]
