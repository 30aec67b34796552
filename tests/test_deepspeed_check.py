"""The gpu profile's DeepSpeed launch, dry-run here: accelerate's plugin, the Trainer's "auto" values filled,
DeepSpeed's own validation and its ZeRO-3 memory estimate beside the book's cost rule."""

import pytest

from safealign import profiles

deepspeed = pytest.importorskip("deepspeed", reason="requirements-gpu-tools.txt not installed")


def test_the_gpu_profiles_zero3_config_validates_and_its_memory_agrees_with_the_cost_rule():
    from safealign.align import deepspeed_check

    report = deepspeed_check.dry_run("gpu")
    gpu = profiles.load("gpu")
    assert report["zero_stage"] == 3 and report["auto_left"] == [] and report["bf16"]
    assert report["replicas"] == gpu.launch.num_processes
    hyper = gpu.align.hyper
    assert report["global_batch"] == hyper.per_device_train_batch_size * hyper.gradient_accumulation_steps * report["replicas"]
    ds, book = report["deepspeed_zero3_model_states_gb"]["per_gpu_gb"], report["book_cost_model_full_gb"]
    assert book <= ds <= 1.5 * book      # DeepSpeed adds the largest layer's buffers to 16 bytes / param / GPU


def test_a_profile_without_a_deepspeed_config_is_refused_by_name():
    from safealign.align import deepspeed_check

    with pytest.raises(ValueError, match="names no accelerate config"):
        deepspeed_check.dry_run("cpu")
