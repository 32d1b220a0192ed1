"""The CUDA path without a GPU (tooling/cuda_dry_run.py): a steady-state frame on fake cuda:0 tensors
passes for every backbone at the defaults' shapes and for the small_gpu preset, and fails, naming the
op and its line, when a CPU tensor or a host sync is planted in the hot path."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textregion_ros.engine import rescale, textregion_engine
from textregion_ros.tooling import cuda_dry_run
from textregion_ros.tooling.cuda_dry_run import dry_run

# The planted-defect runs need only the hot path, not the defaults' shapes: the smoke preset's small ones.
SMALL = {"preset": "cpu_smoke", "backbone": "pe"}


def _passed(report) -> None:
    assert report.ok, report.text()
    assert report.findings.of("budgeted"), report.text()  # the audited frame did reach its host copies
    assert report.stats["regions"] > 0 and report.stats["detections"] > 0, report.stats


@pytest.mark.parametrize("backbone, views", [("clip", 5), ("siglip2", 7)])
def test_the_dry_run_passes_at_the_defaults_shapes(backbone, views):
    report = dry_run(backbone)
    _passed(report)
    assert report.stats["image"] == "640x480" and report.stats["sam2"] == "sam2.1_hiera_t@1024"
    assert report.stats["points"] == "16x16" and report.stats["views"] == views


def test_the_command_passes_for_pe_at_the_defaults_shapes_and_writes_its_report(tmp_path, capsys):
    cuda_available, compile_function = torch.cuda.is_available(), torch.compile
    assert cuda_dry_run.main(["--backbone", "pe", "--json", str(tmp_path / "report.json")]) == 0
    # the stand-ins are gone afterwards
    assert torch.cuda.is_available() == cuda_available and torch.compile is compile_function
    assert "CUDA dry run: PASSED" in capsys.readouterr().out
    record = json.loads((tmp_path / "report.json").read_text())
    assert record["ok"] and record["stats"]["points"] == "16x16" and record["stats"]["views"] == 3
    # what fake tensors cannot run is named (the code around it ran)
    not_run = {finding["op"] for finding in record["findings"] if finding["kind"] == "not_run"}
    assert {"torch.compile", "pin_memory", "record_stream", "Event.synchronize"} <= not_run, not_run


def test_the_dry_run_passes_for_the_small_gpu_preset():
    report = dry_run("clip", preset="small_gpu")
    _passed(report)
    assert report.stats["sam2"] == "sam2.1_hiera_t@640" and report.stats["points"] == "12x12"
    assert report.stats["views"] == 1  # resize mode


def test_the_dry_run_covers_a_region_prompts_tracks_non_keyframe():
    """The audited frame decodes the first frame's tracked boxes plus uncovered points, not the grid."""
    report = dry_run(**SMALL, overrides={"region_prompts": "tracks", "keyframe_interval_s": 3600.0,
                                         "keyframe_min_coverage": 0.0})
    _passed(report)
    assert report.stats["prompts"].startswith("tracks non-keyframe"), report.stats


def test_the_dry_run_passes_with_grounding_mode_best_and_its_parts_3d():
    _passed(dry_run(**SMALL, overrides={"grounding_mode": "best"}))


def test_a_cpu_tensor_planted_in_the_rescale_fails_the_dry_run_naming_the_op(monkeypatch):
    """The classic defect: a cached index table that never went to the device."""

    def host_taps(in_size, out_size, clamp_weights, device):
        return tuple(torch.from_numpy(t) for t in rescale._taps(in_size, out_size, clamp_weights))

    monkeypatch.setattr(rescale, "_device_taps", host_taps)
    report = dry_run(**SMALL)
    assert not report.ok
    found = report.findings.of("device")
    assert any(f.op == "index_select" and "rescale.py" in f.where and "resize_linear_uint8" in f.where
               for f in found), report.text()


def test_a_planted_item_fails_the_dry_run_naming_the_op_and_line(monkeypatch):
    real = textregion_engine.global_token_mask

    def threshold_from_the_device(features, weights, threshold):
        return real(features, weights, min(threshold, weights.max().item()))  # a host sync per frame

    monkeypatch.setattr(textregion_engine, "global_token_mask", threshold_from_the_device)
    report = dry_run(**SMALL, overrides={"remove_global_patches": True})
    assert not report.ok
    syncs = report.findings.of("sync")
    assert [f.op for f in syncs] == ["item"], report.text()
    assert "region_tokens" in syncs[0].where and "threshold_from_the_device" in syncs[0].where


def test_half_features_planted_before_fp32_pooling_fail_the_dry_run_naming_the_op(monkeypatch):
    """A dtype that differs between the autocast forwards and the fp32 stages after them."""
    real = textregion_engine.fuse_views
    monkeypatch.setattr(textregion_engine, "fuse_views", lambda *args: real(*args).half())
    report = dry_run(**SMALL)
    assert not report.ok
    assert any(f.op in ("mm", "addmm") and "attention_pool.py" in f.where and "pool" in f.where
               for f in report.findings.of("dtype")), report.text()


def test_plausible_host_values_keep_selection_and_fusion_going():
    """The budgeted copies' stand-in values: survivors and a converged flag for selection, leaders for
    fusion (zeros would end the frame with no regions, or loop on a 'not converged' flag)."""
    host = cuda_dry_run.PlausibleHost(regions=8)
    summary = host("select_masks", (2 + 4 * 20,), torch.float32)
    assert summary[0] == 8 and summary[1] == 1
    boxes = summary[2:].view(-1, 4)
    assert bool((boxes[:, 2:] > boxes[:, :2]).all())
    labels = host("_greedy_labels", (1 + 9,), torch.int64)
    assert labels[0] == 1 and np.array_equal(labels[1:].numpy(), [0, 0, 0, 3, 3, 3, 6, 6, 6])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_real_cuda_run_passes_where_the_dry_run_does():
    report = cuda_dry_run.real_run("pe")
    assert report.ok, report.text()
