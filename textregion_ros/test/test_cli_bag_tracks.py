"""`textregion bag` keeps region tracks across the whole bag, as the live node does across frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from test_cli import checkpoints, config_file, read_output_bag, run_cli, sample_frames  # noqa: F401

REPEATS = 3


def write_repeated_bag(path: Path) -> None:
    """The same picture three times (stamps 1 s apart, within track_max_age_s), then another picture."""
    from builtin_interfaces.msg import Time
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    from std_msgs.msg import Header

    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    first, second = sample_frames()
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image",
                                           typestore=get_typestore(Stores.ROS2_JAZZY))
        for index, picture in enumerate([first] * REPEATS + [second]):
            header = Header(stamp=Time(sec=2000 + index), frame_id="camera")
            writer.write(connection, 7_000_000_000 + index * 1_000_000_000,
                         serialize_message(numpy_to_imgmsg(picture, "rgb8", header)))


def outputs(out: Path) -> tuple[list[list[int]], list[list[str]]]:
    """Per processed frame: RegionTokens.track_ids and the detections' ids."""
    from rclpy.serialization import deserialize_message
    from textregion_msgs.msg import RegionTokens
    from vision_msgs.msg import Detection2DArray

    bag = read_output_bag(out)
    tracks = [list(deserialize_message(raw, RegionTokens).track_ids) for _, raw, _ in bag["/textregion/region_tokens"]]
    ids = [[d.id for d in deserialize_message(raw, Detection2DArray).detections]
           for _, raw, _ in bag["/textregion/detections"]]
    return tracks, ids


def test_a_bag_keeps_track_ids_across_its_frames(tmp_path, config_file):
    source, out = tmp_path / "in_bag", tmp_path / "out_bag"
    write_repeated_bag(source)
    assert run_cli("bag", source, "--image-topic", "/camera/image_raw", "--config", config_file,
                   "--queries", "cat, table", "--out", out) == 0
    tracks, ids = outputs(out)
    assert len(tracks) == REPEATS + 1 and tracks[0]
    assert all(frame == tracks[0] for frame in tracks[1:REPEATS])  # the same picture: the same tracks
    assert all(sorted(frame) == sorted(ids[0]) for frame in ids[1:REPEATS])
    assert set(ids[0]) <= {str(t) for t in tracks[0]}
    last = np.asarray(tracks[-1])
    new = last[~np.isin(last, tracks[0])]
    assert len(set(last.tolist())) == len(last) and (new > max(tracks[0])).all()  # ids never reused


def test_a_bag_in_tracks_mode_records_each_frames_prompts_in_bag_order(tmp_path, config_file, capsys):
    import json

    source, out = tmp_path / "in_bag", tmp_path / "out_bag"
    write_repeated_bag(source)
    assert run_cli("bag", source, "--image-topic", "/camera/image_raw", "--config", config_file,
                   "--queries", "cat, table", "--out", out, "-p", "region_prompts:=tracks",
                   "-p", "keyframe_min_coverage:=0.0", "-p", "keyframe_interval_s:=60.0") == 0
    frames = json.loads((tmp_path / "out_bag_prompts.json").read_text())["frames"]
    assert len(frames) == REPEATS + 1 and all(f["mode"] == "tracks" for f in frames)
    assert frames[0]["keyframe"] and frames[0]["reason"] == "first frame"
    assert not frames[1]["keyframe"] and frames[1]["from_tracks"] > 0  # the first frame's tracks, as boxes
    assert "region prompts (tracks): " in capsys.readouterr().out
