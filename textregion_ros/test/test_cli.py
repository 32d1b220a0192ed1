"""`textregion` (segment, bag, download) and `textregion-demo`, end to end with real parts.

The models are the real architectures with random weights (tiny PE + SAM2 at 256 px), written to
checkpoint files once per session and loaded back through the real loaders, so the CLI's
outputs can be compared with an engine built in the test from the very same weights. Bags are
real rosbag2 files (rosbags Writer, MCAP and sqlite3) of rclpy-serialised messages; the demo
runs the real node as a child process on its own isolated DDS domain.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image as PILImage

from engine_fixtures import SMALL, open_clip_model, small_config
from textregion_ros import cli
from textregion_ros.cli.segment import read_image
from textregion_ros.cli.settings import resolve_settings, settings_from_args
from textregion_ros.engine import EngineConfig
from textregion_ros.outputs import encodings, result_files

DATA = Path(cli.__file__).resolve().parents[1] / "data"
PHOTO = DATA / "chelsea.jpg"
QUERIES = ["cat", "table"]


# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory, sam2_tiny, open_clip_models) -> dict[str, Path]:
    """The session's random PE and SAM2 as checkpoint files, in the formats the loaders read."""
    folder = tmp_path_factory.mktemp("checkpoints")
    pe_path, sam2_path = folder / "pe_core_t_random.pt", folder / "sam2_tiny_random.pt"
    torch.save(open_clip_model(open_clip_models, "pe").state_dict(), pe_path)
    torch.save({"model": sam2_tiny.state_dict()}, sam2_path)  # the official {'model': ...} layout
    return {"weights": pe_path, "sam2_weights": sam2_path}


def small_params(checkpoints: dict[str, Path], **extra: Any) -> dict[str, Any]:
    params = {"backbone": "pe", "model": small_config().model, **SMALL,
              "weights": str(checkpoints["weights"]), "sam2_weights": str(checkpoints["sam2_weights"])}
    params["scale"] = list(params["scale"])
    params.update(extra)
    return params


def write_params(path: Path, params: dict[str, Any], section: str = "/**") -> Path:
    path.write_text(yaml.safe_dump({section: {"ros__parameters": params}}, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def config_file(tmp_path_factory, checkpoints) -> Path:
    """A ROS 2 params file like config/textregion.yaml, with the tiny models and node-only keys."""
    params = small_params(checkpoints, queries=QUERIES, max_rate_hz=0.0, publish_overlay=True)
    return write_params(tmp_path_factory.mktemp("config") / "tiny.yaml", params)


def run_cli(*argv: str) -> int:
    return cli.main([str(a) for a in argv])


def small_photo(folder: Path, name: str = "coffee_small.png", size: tuple[int, int] = (160, 120)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with PILImage.open(DATA / "coffee.jpg") as image:
        image.convert("RGB").resize(size).save(folder / name)
    return folder / name


def read_png(path: Path) -> tuple[str, np.ndarray]:
    with PILImage.open(path) as image:
        image.load()
        return image.mode, result_files.load_png(path)


# ---------------------------------------------------------------------------------------------
# settings (no models)
# ---------------------------------------------------------------------------------------------
def test_params_file_sections_merge_like_rcl_and_flags_win(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"points_per_side": 4, "device": "cpu", "queries": ["mug"],
                                    "publish_overlay": False, "not_a_parameter": 1}},
        "/robot/textregion": {"ros__parameters": {"points_per_side": 5, "scale": [1024, 512]}},
        "other_node": {"ros__parameters": {"points_per_side": 99}},
    }))
    args = cli.build_parser().parse_args(
        ["segment", "x.jpg", "--out", "o", "--config", str(path), "-p", "points_per_side=6", "-p",
         "fuse_masks=false", "-p", "weights=./my file.pt", "--backbone", "pe", "--model", "PE-Core-T-16-384"])
    settings = settings_from_args(args)
    assert settings.config.points_per_side == 6  # -p beats the node's section, which beats /**
    assert settings.config.scale == (1024, 512) and settings.config.device == "cpu"
    assert settings.config.fuse_masks is False and settings.config.weights == "./my file.pt"
    assert (settings.config.backbone, settings.config.model) == ("pe", "PE-Core-T-16-384")
    assert settings.queries == ["mug"]
    assert settings.node["publish_overlay"] is False and settings.node["publish_confidence"] is True

    args = cli.build_parser().parse_args(["download", "--config", str(path), "-p", "points_per_side=6",
                                          "--points-per-side", "7"])
    assert settings_from_args(args).config.points_per_side == 7  # dedicated flags win over -p


def test_the_shipped_config_file_reads_as_the_node_defaults(caplog):
    shipped = Path(cli.__file__).resolve().parents[2] / "config" / "textregion.yaml"
    settings = settings_from_args(cli.build_parser().parse_args(["download", "--config", str(shipped)]))
    assert settings.config == EngineConfig() and settings.queries == []
    assert "ignoring unknown parameter" not in caplog.text


def test_node_defaults_without_a_config():
    settings = settings_from_args(cli.build_parser().parse_args(["download"]))
    assert settings.config == EngineConfig() and settings.queries == []


def test_params_files_layer_in_order_like_a_preset_over_the_main_file(tmp_path):
    main = write_params(tmp_path / "main.yaml", {"points_per_side": 4, "device": "cpu", "queries": ["mug"]})
    preset = write_params(tmp_path / "preset.yaml", {"points_per_side": 2, "sam2_image_size": 256})
    settings = resolve_settings(params_files=[main, preset], overrides={"min_mask_area": 0})
    assert (settings.config.points_per_side, settings.config.sam2_image_size) == (2, 256)
    assert (settings.config.device, settings.config.min_mask_area, settings.queries) == ("cpu", 0, ["mug"])


def test_the_parameter_placeholder_means_no_queries_and_an_empty_item_is_an_error(tmp_path, capsys):
    placeholder = write_params(tmp_path / "none.yaml", {"queries": [""]})
    assert resolve_settings(params_files=[placeholder]).queries == []
    assert run_cli("segment", PHOTO, "--out", tmp_path / "o", "--queries", "cat, table,") == 2
    assert "query 3 is empty" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["-p", "points_per_side=abc"], "points_per_side must be an integer, got 'abc'"),
    (["-p", "no_such_field=1"], "'no_such_field' is not a parameter"),
    (["-p", "points_per_side"], "expected name=value"),
    (["-p", "scale=[100, 400]"], "scale must be [long side, short side] with long >= short"),
    (["-p", "scale=[10, 400]"], "scale must be each from 16 to 16384"),
    (["-p", "publish_overlay=maybe"], "publish_overlay must be true or false"),
    (["--device", "gpu"], "device must be auto, cpu, cuda or cuda:N"),
    (["--config", "/nonexistent/params.yaml"], "cannot read the config file"),
])
def test_bad_settings_are_one_clear_line_and_exit_2(argv, message, capsys):
    assert run_cli("segment", PHOTO, "--out", "unused", "--queries", "cat", *argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not Path("unused").exists()


def test_config_without_parameters_section_is_rejected(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("textregion:\n  points_per_side: 3\n")
    assert run_cli("segment", PHOTO, "--out", tmp_path / "o", "--config", path, "--queries", "cat") == 2
    assert "has no 'ros__parameters' section" in capsys.readouterr().err


def test_label_values_are_class_indices_with_255_unlabeled_up_to_254_classes():
    labels = np.array([[-1, 0], [2, 1]], dtype=np.int32)
    stored = encodings.label_array(labels, 3)
    assert stored.dtype == np.uint8
    assert stored.tolist() == [[255, 0], [2, 1]]


def test_label_values_switch_to_16_bits_with_65535_unlabeled_above_254_classes():
    labels = np.array([[-1, 254, 298]], dtype=np.int32)
    stored = encodings.label_array(labels, 299)
    assert stored.dtype == np.uint16
    assert stored.tolist() == [[65535, 254, 298]]
    assert (encodings.unlabeled_value(254), encodings.unlabeled_value(255)) == (255, 65535)


def test_confidence_is_probability_times_255_rounded_and_clipped():
    probability = np.array([[0.0, 0.5, 1.0, 0.2, np.nan, 1.5, -0.1]], dtype=np.float32)
    assert encodings.confidence_array(probability).tolist() == [[0, 128, 255, 51, 0, 255, 0]]


def test_sixteen_bit_labels_survive_the_png_round_trip(tmp_path):
    labels = np.arange(-1, 299, dtype=np.int32).reshape(20, 15)
    stored = encodings.label_array(labels, 300)
    result_files.save_png(stored, tmp_path / "labels.png")
    mode, loaded = read_png(tmp_path / "labels.png")
    assert mode == "I;16" and loaded.dtype == np.uint16
    np.testing.assert_array_equal(loaded, stored)
    assert loaded[0, 0] == 65535 and loaded.max() == 65535 and sorted(np.unique(loaded))[-2] == 298


# ---------------------------------------------------------------------------------------------
# textregion segment
# ---------------------------------------------------------------------------------------------
def test_segment_writes_every_output_and_matches_the_engine(tmp_path, checkpoints, config_file, engine_factory):
    second = small_photo(tmp_path / "inputs" / "nested")
    out = tmp_path / "out"
    assert run_cli("segment", PHOTO, tmp_path / "inputs", "--recursive", "--config", config_file,
                   "--queries", ", ".join(QUERIES), "--out", out) == 0

    assert json.loads((out / "labels.json").read_text()) == {"0": "cat", "1": "table"}
    for source in (PHOTO, second):
        with PILImage.open(source) as image:
            width, height = image.size
        stem = source.stem
        mode, labels = read_png(out / f"{stem}_labels.png")
        assert (mode, labels.shape, labels.dtype) == ("L", (height, width), np.uint8)
        assert set(np.unique(labels).tolist()) <= {0, 1, 255}
        mode, confidence = read_png(out / f"{stem}_confidence.png")
        assert (mode, confidence.shape) == ("L", (height, width))
        mode, overlay = read_png(out / f"{stem}_overlay.png")
        assert (mode, overlay.shape) == ("RGB", (height, width, 3))
        document = json.loads((out / f"{stem}_detections.json").read_text())
        assert (document["width"], document["height"], document["classes"]) == (width, height, QUERIES)
        assert document["image"] == str(source) and document["unlabeled_value"] == 255
        for detection in document["detections"]:
            assert set(detection) == {"query", "class_index", "score", "box_xyxy", "instance_id", "area"}
            assert detection["query"] == QUERIES[detection["class_index"]]
            assert 0.0 <= detection["score"] <= 1.0 and detection["instance_id"] >= 1 and detection["area"] > 0
            x1, y1, x2, y2 = detection["box_xyxy"]
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            # the class painted under the box agrees with the label file somewhere inside it
            assert (labels[int(y1):int(y2), int(x1):int(x2)] == detection["class_index"]).any()

    # the files hold exactly what an engine with the same weights computes (lossless labels)
    engine = engine_factory("pe")
    rgb = read_image(PHOTO)
    regions = engine.regions(rgb)
    segmentation = engine.segment(regions, QUERIES)
    detections = engine.ground(regions, QUERIES, segmentation=segmentation)
    _, labels = read_png(out / f"{PHOTO.stem}_labels.png")
    np.testing.assert_array_equal(labels, np.where(segmentation.labels < 0, 255, segmentation.labels))
    _, confidence = read_png(out / f"{PHOTO.stem}_confidence.png")
    np.testing.assert_array_equal(confidence, encodings.confidence_array(segmentation.confidence))
    document = json.loads((out / f"{PHOTO.stem}_detections.json").read_text())
    assert [(d["query"], d["instance_id"]) for d in document["detections"]] == [
        (d.query, d.instance_id) for d in detections]
    assert document["model"] == f"pe:PE-Core-T-16-384:{checkpoints['weights']}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["points_per_side"] == SMALL["points_per_side"] and summary["failures"] == []
    prompts = summary["images"][0]["prompts"]  # each image's region-prompt counts: the full grid here
    assert prompts["keyframe"] and prompts["decoded"] == SMALL["points_per_side"] ** 2


def test_segment_skips_unreadable_images_with_a_message_and_exits_1(tmp_path, config_file, capsys):
    folder = tmp_path / "inputs"
    good = small_photo(folder, "good.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 a JPEG header, then nothing")
    (folder / "notes.png").write_text("not a picture at all")
    out = tmp_path / "out"
    # queries come from the config file: --config is honoured
    code = run_cli("segment", folder, tmp_path / "missing.png", "--config", config_file, "--out", out)
    captured = capsys.readouterr()
    assert code == 1
    text = captured.out + captured.err
    assert "Traceback" not in text
    assert "missing.png: no such file or folder" in captured.err
    assert "broken.jpg: cannot decode the image (truncated or corrupt file)" in captured.err
    assert "notes.png: not an image Pillow can read" in captured.err
    assert "segment: 1/4 images" in captured.out and "failures (3):" in captured.out
    assert json.loads((out / "labels.json").read_text()) == {"0": "cat", "1": "table"}
    assert {p.name for p in out.iterdir()} == {
        "labels.json", "summary.json", "good_labels.png", "good_confidence.png", "good_overlay.png",
        "good_detections.json"}
    failures = json.loads((out / "summary.json").read_text())["failures"]
    assert {Path(f["input"]).name for f in failures} == {"missing.png", "broken.jpg", "notes.png"}
    assert good.exists()


def test_segment_without_queries_says_how_to_give_them(tmp_path, capsys):
    assert run_cli("segment", PHOTO, "--out", tmp_path / "o") == 2
    assert "no queries" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# textregion bag
# ---------------------------------------------------------------------------------------------
def sample_frames() -> list[np.ndarray]:
    pictures = []
    for name in ("coffee.jpg", "astronaut.jpg"):
        with PILImage.open(DATA / name) as image:
            pictures.append(np.array(image.convert("RGB").resize((128, 96))))
    return pictures


def write_input_bag(path: Path, storage: str, compressed: bool) -> list[dict[str, Any]]:
    """4 frames (pictures A, B, A, B) as rgb8 / bgr8 Images or JPEG CompressedImages.

    Returns per frame: header, bag timestamp, raw bytes, picture index and encoding.
    """
    import io

    from builtin_interfaces.msg import Time
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    from textregion_ros.ros.image_conversions import numpy_to_imgmsg

    typestore = get_typestore(Stores.ROS2_JAZZY)
    pictures = sample_frames()
    frames = []
    msgtype = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
    with Writer(path, version=9, storage_plugin=StoragePlugin[storage.upper()]) as writer:
        connection = writer.add_connection("/camera/image_raw", msgtype, typestore=typestore)
        for index, (picture, encoding) in enumerate([(0, "rgb8"), (1, "bgr8"), (0, "bgr8"), (1, "rgb8")]):
            header = Header(stamp=Time(sec=1000 + index, nanosec=250 * index), frame_id=f"camera_{index}")
            if compressed:
                buffer = io.BytesIO()
                PILImage.fromarray(pictures[picture]).save(buffer, format="PNG")  # lossless: frames compare
                msg = CompressedImage(header=header, format="png", data=buffer.getvalue())
            else:
                array = pictures[picture] if encoding == "rgb8" else pictures[picture][:, :, ::-1]
                msg = numpy_to_imgmsg(array, encoding, header)
            raw = serialize_message(msg)
            timestamp = 5_000_000_000 + index * 100_000_000
            writer.write(connection, timestamp, raw)
            frames.append({"header": header, "timestamp": timestamp, "raw": raw, "picture": picture})
    return frames


def read_output_bag(path: Path) -> dict[str, list[tuple[int, bytes, Any]]]:
    from rosbags.rosbag2 import Reader

    by_topic: dict[str, list] = {}
    with Reader(path) as reader:
        connections = {c.topic: c for c in reader.connections}
        for connection, timestamp, raw in reader.messages():
            by_topic.setdefault(connection.topic, []).append((timestamp, bytes(raw), connection))
    by_topic["__connections__"] = connections  # type: ignore[assignment]
    return by_topic


@pytest.mark.parametrize(("storage", "compressed", "every"), [("mcap", False, 1), ("sqlite3", False, 2),
                                                              ("mcap", True, 1)])
def test_bag_writes_the_node_topics_stamped_like_the_source(tmp_path, config_file, storage, compressed, every):
    from rclpy.serialization import deserialize_message
    from rosbags.interfaces import QosDurability
    from sensor_msgs.msg import Image
    from textregion_msgs.msg import RegionTokens
    from vision_msgs.msg import Detection2DArray, LabelInfo

    from textregion_ros.ros.image_conversions import imgmsg_to_numpy

    source, out = tmp_path / "in_bag", tmp_path / "out_bag"
    frames = write_input_bag(source, storage, compressed)
    input_arg = source / "in_bag.db3" if storage == "sqlite3" else source  # a storage file works too
    assert run_cli("bag", input_arg, "--image-topic", "/camera/image_raw", "--config", config_file,
                   "--queries", "cat, table", "--out", out, "--every", every) == 0

    bag = read_output_bag(out)
    connections = bag.pop("__connections__")
    processed = frames[::every]
    expected_types = {
        "/camera/image_raw": "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image",
        "/textregion/detections": "vision_msgs/msg/Detection2DArray", "/textregion/labels": "sensor_msgs/msg/Image",
        "/textregion/confidence": "sensor_msgs/msg/Image", "/textregion/overlay": "sensor_msgs/msg/Image",
        "/textregion/label_info": "vision_msgs/msg/LabelInfo",
        "/textregion/region_tokens": "textregion_msgs/msg/RegionTokens",
    }
    assert {topic: c.msgtype for topic, c in connections.items()} == expected_types
    assert (out / "out_bag.mcap").is_file()
    counts = {topic: len(messages) for topic, messages in bag.items()}
    assert counts == {topic: (1 if topic.endswith("label_info") else len(frames) if topic == "/camera/image_raw"
                              else len(processed)) for topic in expected_types}
    # the camera stream is copied byte for byte, at its own bag timestamps
    assert [(t, raw) for t, raw, _ in bag["/camera/image_raw"]] == [(f["timestamp"], f["raw"]) for f in frames]
    label_info_qos = connections["/textregion/label_info"].ext.offered_qos_profiles
    assert label_info_qos and label_info_qos[0].durability == QosDurability.TRANSIENT_LOCAL

    (label_time, raw, _), = bag["/textregion/label_info"]
    label_info = deserialize_message(raw, LabelInfo)
    assert label_time == processed[0]["timestamp"] and label_info.header == processed[0]["header"]
    class_ids = {c.class_id: c.class_name for c in label_info.class_map}
    assert class_ids == {0: "cat", 1: "table"}

    types = {"detections": Detection2DArray, "labels": Image, "confidence": Image, "overlay": Image,
             "region_tokens": RegionTokens}
    labels_by_picture: dict[int, list[np.ndarray]] = {}
    for name, msg_type in types.items():
        messages = bag[f"/textregion/{name}"]
        for frame, (timestamp, raw, _) in zip(processed, messages):
            msg = deserialize_message(raw, msg_type)
            assert timestamp == frame["timestamp"] and msg.header == frame["header"]
            if name == "labels":
                assert (msg.encoding, msg.height, msg.width) == ("mono8", 96, 128)
                values = imgmsg_to_numpy(msg)
                assert set(np.unique(values).tolist()) <= set(class_ids) | {255}
                labels_by_picture.setdefault(frame["picture"], []).append(values)
            elif name == "detections":
                assert {d.results[0].hypothesis.class_id for d in msg.detections} <= {"cat", "table"}
                assert all(d.header == frame["header"] for d in msg.detections)
            elif name == "overlay":
                assert (msg.encoding, msg.height, msg.width) == ("rgb8", 96, 128)
            elif name == "region_tokens":
                assert msg.region_count >= 1 and len(msg.tokens) == msg.region_count * msg.token_dim
    # rgb8, bgr8 and PNG-compressed copies of a picture give the same labels: colours were read right
    for same_picture in labels_by_picture.values():
        for other in same_picture[1:]:
            np.testing.assert_array_equal(other, same_picture[0])

    # Foxglove / ros2 bag play read the schemas from the MCAP: every message must decode with them
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(out / "out_bag.mcap", "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        decoded = [channel.topic for _, channel, _, _ in reader.iter_decoded_messages()]
    assert len(decoded) == sum(counts.values())


def test_bag_with_a_missing_topic_lists_the_image_topics(tmp_path, capsys):
    write_input_bag(tmp_path / "in_bag", "mcap", compressed=False)
    assert run_cli("bag", tmp_path / "in_bag", "--image-topic", "/camera/nope", "--queries", "cat",
                   "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "no topic '/camera/nope'" in err and "/camera/image_raw" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_bag_refuses_to_overwrite(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert run_cli("bag", tmp_path / "in", "--image-topic", "/x", "--out", tmp_path / "out") == 2
    assert "exists already" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# textregion-download
# ---------------------------------------------------------------------------------------------
def test_download_offline_prints_one_paragraph_and_exits_2_without_touching_the_network(
        tmp_path, monkeypatch, capsys, network_guard):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.download_main(["--cache-dir", str(tmp_path / "empty")]) == 2
    assert network_guard.attempts == []  # no lookup, no connection: nothing for a hub client to retry
    paragraph = capsys.readouterr().err.strip()
    assert "\n" not in paragraph and "Traceback" not in paragraph
    for needle in ("https://huggingface.co/facebook/sam2.1-hiera-tiny/resolve/main/sam2.1_hiera_tiny.pt",
                   "timm/vit_base_patch16_clip_224.openai", "open_clip_pytorch_model.bin",
                   str(tmp_path / "empty"), "sam2_weights:=", "weights:=", "textregion-download"):
        assert needle in paragraph


def seed_hub_cache(cache: Path, repo_id: str, filename: str) -> Path:
    """A file laid out as huggingface_hub caches it (refs/main -> snapshots/<commit>/file)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    path = repo / "snapshots" / commit / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"placeholder weights")
    return path


def test_download_finds_cached_files_without_network(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "cache"
    clip = seed_hub_cache(cache, "timm/vit_base_patch16_clip_224.openai", "open_clip_pytorch_model.bin")
    sam2 = seed_hub_cache(cache, "facebook/sam2.1-hiera-tiny", "sam2.1_hiera_tiny.pt")
    assert cli.download_main(["--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert str(clip) in out and str(sam2) in out

    assert run_cli("download", "--weights", "random", "--sam2-weights", "random") == 0
    assert "nothing to download" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------
# textregion-demo
# ---------------------------------------------------------------------------------------------
def test_demo_short_mode_runs_the_node_and_writes_every_frame(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, HF_HUB_OFFLINE="1")  # never download real weights in a test
    result = subprocess.run([sys.executable, "-m", "textregion_ros.demo", "--short", "--out", str(out),
                             "--startup-timeout", "150", "--frame-timeout", "120"],
                            env=env, capture_output=True, text=True, timeout=400)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "RANDOM WEIGHTS" in result.stdout and "textregion-download" in result.stdout
    for index, name in ((1, "astronaut"), (2, "coffee")):
        assert f"frame {index}/2 {name}.jpg" in result.stdout
        for suffix in ("overlay.png", "labels.png", "confidence.png", "detections.json"):
            assert (out / f"{index:03d}_{name}_{suffix}").is_file(), log
        document = json.loads((out / f"{index:03d}_{name}_detections.json").read_text())
        assert document["classes"] == ["person", "cat"] and document["model"].startswith("pe:")
        _, labels = read_png(out / f"{index:03d}_{name}_labels.png")
        assert labels.shape == (document["height"], document["width"])
    assert "node stopped (exit status 0)" in result.stdout


def test_reading_a_fifo_named_like_an_image_is_refused_instead_of_blocking(tmp_path):
    import threading

    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)
    outcome: list[str] = []
    done = threading.Event()

    def read() -> None:
        try:
            read_image(fifo)
            outcome.append("read")
        except ValueError as error:
            outcome.append(str(error))
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(60), "read_image blocked on the FIFO"
    assert outcome == ["not a regular file (a FIFO, device or socket is never read)"]
