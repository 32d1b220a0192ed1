"""benchmarks.prompt_agreement on a folder of frames with random weights: both modes run on every
frame, tracks starts with a keyframe and then prompts from its tracks, and the report says that its
figures are meaningless."""
from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine_fixtures import photo_like
from textregion_ros.tooling.params_files import preset_file

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if "benchmarks" not in sys.modules:  # the package by its path: textregion_ros/ need not be on sys.path
    _spec = importlib.util.spec_from_file_location("benchmarks", BENCHMARKS / "__init__.py",
                                                   submodule_search_locations=[str(BENCHMARKS)])
    sys.modules["benchmarks"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["benchmarks"])
prompt_agreement = importlib.import_module("benchmarks.prompt_agreement")

FRAMES = 3


@pytest.fixture(scope="module")
def agreement(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    for index in range(FRAMES):
        image = np.roll(photo_like(96, 128, seed=5), 2 * index, axis=1)  # a camera panning slowly
        Image.fromarray(image).save(folder / f"frame_{index:03d}.png")
    out = folder.parent / "agreement.json"
    argv = [str(folder), "--queries", "mug, table", "--params-file", str(preset_file("cpu_smoke")),
            "-p", "keyframe_min_coverage:=0.0", "--json", str(out)]
    return prompt_agreement, argv, out


def test_the_tool_compares_both_modes_on_every_frame_and_says_random_figures_are_meaningless(agreement, capsys):
    module, argv, out = agreement
    assert module.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(module.RANDOM_WARNING) and printed.rstrip().endswith(module.RANDOM_WARNING)
    result = json.loads(out.read_text())
    frames = result["frames"]
    assert len(frames) == FRAMES
    assert frames[0]["keyframe"] and frames[0]["reason"] == "first frame"
    assert not frames[1]["keyframe"]  # the next frame prompts from the first one's tracks
    assert frames[0]["decoded"] == frames[0]["grid_decoded"] == 16  # the keyframe: the grid's 4 x 4 points
    assert all(0.0 <= f["label_agreement"] <= 1.0 for f in frames)
    assert frames[0]["label_agreement"] == 1.0  # a keyframe labels exactly as the grid
    assert set(result["recall_per_query"]) == {"mug", "table"}
    assert result["random_weights"] is True


def test_a_miss_counts_the_frames_until_tracks_finds_it_again():
    misses = prompt_agreement.MissLog()
    misses.update({7}, set())
    misses.update(set(), set())
    misses.update(set(), {7})
    misses.update({9}, set())
    assert misses.summary() == {"misses": 2, "caught": 1, "frames_until_caught_mean": 2.0,
                                "frames_until_caught_max": 2, "never_caught": 1}
