"""Presets are params files found by name, in the source tree or an installed share directory."""
from __future__ import annotations

from pathlib import Path

import pytest

from textregion_ros.tooling import params_files

PACKAGE = Path(__file__).resolve().parents[1]
SOURCE_PRESETS = PACKAGE / "config" / "presets"


def _installed_prefix(root: Path, *names: str) -> Path:
    """A prefix laid out like a colcon install: share/textregion_ros/config/presets/<name>.yaml."""
    directory = root / "share" / "textregion_ros" / "config" / "presets"
    directory.mkdir(parents=True)
    for name in names:
        (directory / f"{name}.yaml").write_text("/**:\n  ros__parameters:\n    points_per_side: 2\n")
    return root


def test_a_preset_of_the_source_tree_is_found_by_name_with_or_without_the_suffix():
    assert params_files.preset_file("cpu_smoke") == SOURCE_PRESETS / "cpu_smoke.yaml"
    assert params_files.preset_file("cpu_demo.yaml") == SOURCE_PRESETS / "cpu_demo.yaml"


@pytest.mark.parametrize("name", ["cpu_smok", "", "../textregion", "presets/cpu_smoke"])
def test_an_unknown_preset_name_is_answered_with_the_available_names(name):
    with pytest.raises(params_files.UnknownPresetError,
                       match="available presets: cpu_demo, cpu_smoke, desktop_gpu, small_gpu") as error:
        params_files.preset_file(name, environ={})
    assert str(PACKAGE / "config") in str(error.value)  # says where it looked


def test_a_preset_installed_under_an_ament_prefix_is_found(tmp_path):
    prefix = _installed_prefix(tmp_path / "install", "gpu_small")
    environ = {"AMENT_PREFIX_PATH": f"/nonexistent/prefix:{prefix}"}
    installed = prefix / "share/textregion_ros/config/presets/gpu_small.yaml"
    assert params_files.preset_file("gpu_small", environ) == installed
    assert "gpu_small" in params_files.preset_names(environ)


def test_the_source_tree_wins_over_an_installed_copy_of_the_same_preset(tmp_path):
    prefix = _installed_prefix(tmp_path / "install", "cpu_smoke")
    environ = {"AMENT_PREFIX_PATH": str(prefix)}
    assert params_files.preset_file("cpu_smoke", environ) == SOURCE_PRESETS / "cpu_smoke.yaml"


def test_config_file_is_the_main_params_file_of_the_source_tree():
    assert params_files.config_file(environ={}) == PACKAGE / "config" / "textregion.yaml"


def test_read_parameters_layers_params_files_in_order_like_the_node(tmp_path):
    override = tmp_path / "override.yaml"
    override.write_text("/**:\n  ros__parameters:\n    points_per_side: 3\n")
    values = params_files.read_params_files(params_files.config_file(), params_files.preset_file("cpu_smoke"), override)
    assert values["backbone"] == "pe" and values["weights"] == "random"  # from the preset
    assert values["points_per_side"] == 3  # the last file wins
    assert values["fuse_masks"] is True  # untouched by the preset: the main file's default


@pytest.mark.parametrize("name", params_files.preset_names())
def test_every_preset_sets_only_parameters_the_node_has(name):
    known = set(params_files.read_params_files(params_files.config_file()))
    values = params_files.read_params_files(params_files.preset_file(name))
    assert values and set(values) <= known, set(values) - known


def test_desktop_gpu_preset_is_the_parameter_table_defaults_on_cuda():
    from textregion_ros import params

    values = params_files.read_params_files(params_files.preset_file("desktop_gpu"))
    assert values.pop("device") == "cuda"
    assert values and all(values[name] == params.BY_NAME[name].default for name in values), values


def test_small_gpu_preset_does_less_work_per_frame_than_the_defaults():
    from textregion_ros import params

    values = params_files.read_params_files(params_files.preset_file("small_gpu"))
    assert values["device"] == "cuda"
    assert 512 <= values["sam2_image_size"] <= 768
    assert values["points_per_side"] < params.BY_NAME["points_per_side"].default
    assert values["resize_mode"] == "resize"  # the global view only: no tiles


@pytest.mark.parametrize("name", ["desktop_gpu", "small_gpu"])
def test_gpu_presets_are_valid_node_settings_and_leave_precision_to_its_own_parameter(name):
    from textregion_ros.cli.settings import resolve_settings

    settings = resolve_settings([params_files.config_file(), params_files.preset_file(name)])
    assert settings.config.device == "cuda"
    assert "amp" not in params_files.read_params_files(params_files.preset_file(name))
