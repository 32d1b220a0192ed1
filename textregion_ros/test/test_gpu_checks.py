"""benchmarks/run_gpu_checks.sh, dry-run on the CPU: with `--device cpu --quick` (tiny configs) every
step runs, the script reaches its end, and every record names the machine and the software."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "run_gpu_checks.sh"


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("gpu_checks")
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("GPU_CHECKS_COMPILE", None)
    result = subprocess.run(["bash", str(SCRIPT), "--device", "cpu", "--quick"], env=env, capture_output=True,
                            text=True, timeout=900)
    return result, out


def test_the_cpu_dry_run_reaches_its_end_with_every_step_passed(dry_run):
    result, _ = dry_run
    assert "run_gpu_checks: reached the end, 0 failed step(s)" in result.stdout, result.stdout[-4000:] + result.stderr
    assert result.returncode == 0


def test_every_step_is_recorded_with_its_exit_status(dry_run):
    _, out = dry_run
    steps = [line.split("\t") for line in (out / "steps.tsv").read_text().splitlines()]
    names = [name for name, _, _ in steps]
    assert names[:2] == ["cuda_dry_run", "cuda_tests"] and names[-1] == "amg_vs_stock" and "engine_stages" in names
    assert all(status == "0" for _, status, _ in steps), steps


def test_every_record_names_the_device_driver_torch_and_cuda(dry_run):
    _, out = dry_run
    environment = json.loads((out / "environment.json").read_text())
    assert {"device_name", "driver", "torch", "cuda"} <= set(environment) and environment["device_name"]
    records = [json.loads(path.read_text()) for path in out.glob("*.json") if path.name != "environment.json"]
    assert len(records) >= 2  # engine_stages.json and amg_vs_stock.json at least
    assert all(record["environment"] == environment for record in records)
    for text in out.glob("*.txt"):
        assert text.read_text().startswith("# {") and environment["device_name"] in text.read_text()


def test_the_region_prompts_dry_run_decodes_the_capped_prompts(dry_run):
    """--quick: 4 x 4 points, max_prompts 8, 4 tracks; 80 % coverage leaves 3 grid points uncovered, 50 % 8."""
    _, out = dry_run
    kinds = json.loads((out / "region_prompts.json").read_text())["configs"]["default"]["kinds"]
    assert kinds["grid"]["prompts"]["decoded"] == kinds["keyframe"]["prompts"]["decoded"] == 16
    steady = kinds["tracks 4 @ 80%"]["prompts"]
    assert (steady["from_tracks"], steady["discovery"], steady["skipped"], steady["keyframe"]) == (4, 3, 0, False)
    crowded = kinds["tracks 4 @ 50%"]["prompts"]
    assert (crowded["decoded"], crowded["discovery"], crowded["skipped"]) == (8, 4, 4)
    assert kinds["tracks 4 @ 80%"]["decoded_ratio"] == 7 / 16
