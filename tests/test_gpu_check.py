"""The GPU check script runs its code paths end to end (here on CPU at tiny sizes) and writes its JSON."""

import importlib.util
import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_the_gpu_check_runs_every_path_on_cpu_and_writes_json(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check", Path(__file__).parents[1] / "scripts" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    out = tmp_path / "gpu_check.json"
    report = gpu_check.main(["--device", "cpu", "--quick", "--out", str(out)])
    assert json.loads(out.read_text()) == report
    for check in ("training", "generation", "judge", "seed_layers"):
        assert "error" not in report[check], report[check]
    assert report["training"]["step_s"] > 0 and 0 < report["training"]["loss"] < 5
    assert report["generation"]["shape_ok"] and report["judge"]["probabilities_ok"]
    # the gpu profile's way of training: a LoRA adapter through peft, mixed precision through accelerate
    assert 0 < report["training"]["lora_trainable_parameters"] < report["training"]["parameters"] / 10
    assert report["training"]["accelerate_mixed_precision"] == "no"                    # bf16 on a GPU only
    assert set(report["seed_layers"]) - {"wall_s"} == set(gpu_check.SEED_SHAPES)
