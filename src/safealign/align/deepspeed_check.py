"""A dry run of a profile's DeepSpeed launch, on any machine (no GPU, no process group, no model weights).

    report = dry_run("gpu")          # or: python -m safealign.align.deepspeed_check --profile gpu

It takes the path a real run takes up to the first step and stops there:
1. the profile's accelerate config (`launch.accelerate_config`) is read and turned into accelerate's own
   `DeepSpeedPlugin`, whose DeepSpeed config still holds "auto" values;
2. the "auto" values are filled as the HF Trainer (and so TRL) fills them, by transformers'
   `HfTrainerDeepSpeedConfig.trainer_config_process`, from the profile's alignment batch sizes; the global
   batch is then set for the profile's `launch.num_processes` replicas;
3. DeepSpeed validates the result (`deepspeed.runtime.config.DeepSpeedConfig`: keys, ZeRO stage, batch
   arithmetic; DeepSpeed checks it per replica here, as no process group exists);
4. DeepSpeed's own ZeRO-3 memory estimate of the model states (full fine-tune, no offload) for the profile's
   policy shape (`cost.SEED_SHAPES`) on that many GPUs, beside the book's cost rule (`cost.training_memory_gb`)
   for the same states and for the profile's LoRA run.
It needs `deepspeed` (requirements-gpu-tools.txt; built without its CUDA ops, `DS_BUILD_OPS=0`).
"""

from __future__ import annotations

import argparse
import contextlib
import io as _io
import json
import re

import yaml

from .. import cost, paths, profiles
from .launch import config_path

PLUGIN_KEYS = ("zero_stage", "offload_optimizer_device", "offload_param_device", "zero3_init_flag",
               "zero3_save_16bit_model", "gradient_accumulation_steps", "gradient_clipping")


def _auto_left(node, where="") -> list[str]:
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in _auto_left(v, f"{where}.{key}" if where else key)]
    return [where] if node == "auto" else []


def shape_of(policy_model: str) -> cost.Shape:
    for name, shape in cost.SEED_SHAPES.items():
        if name.lower() in policy_model.lower():
            return shape
    raise ValueError(f"policy_model {policy_model!r}: no published shape in cost.SEED_SHAPES ({sorted(cost.SEED_SHAPES)})")


def zero3_estimate_gb(shape: cost.Shape, gpus: int) -> dict[str, float]:
    """DeepSpeed's `estimate_zero3_model_states_mem_needs_all_cold` for `shape` on one node of `gpus` GPUs:
    per-GPU memory of the model states (GB) without offload, as DeepSpeed prints it (it returns nothing)."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs_all_cold

    largest = shape.vocab * shape.hidden
    out = _io.StringIO()
    with contextlib.redirect_stdout(out):
        estimate_zero3_model_states_mem_needs_all_cold(shape.params(), largest, num_gpus_per_node=gpus)
    for line in out.getvalue().splitlines():
        if "offload_param=none, offload_optimizer=none" in line:
            per_gpu = re.findall(r"([\d.]+)GB", line)
            return {"cpu_gb": float(per_gpu[0]), "per_gpu_gb": float(per_gpu[1])}
    raise RuntimeError(f"DeepSpeed's estimate printed no no-offload line:\n{out.getvalue()}")


def dry_run(profile: str) -> dict:
    from accelerate.utils import DeepSpeedPlugin
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    settings = profiles.load(profile)
    path = config_path(settings)
    if path is None:
        raise ValueError(f"profile {profile!r} names no accelerate config (launch.accelerate_config): nothing to dry-run")
    spec = yaml.safe_load(path.read_text())
    if spec.get("distributed_type") != "DEEPSPEED":
        raise ValueError(f"{path}: distributed_type is {spec.get('distributed_type')!r}, not DEEPSPEED")
    ds = spec.get("deepspeed_config") or {}
    unknown = sorted(set(ds) - set(PLUGIN_KEYS) - {"deepspeed_multinode_launcher"})
    if unknown:
        raise ValueError(f"{path}: deepspeed_config keys {unknown} are not DeepSpeedPlugin options ({PLUGIN_KEYS})")
    plugin = DeepSpeedPlugin(**{k: v for k, v in ds.items() if k in PLUGIN_KEYS})
    config = json.loads(json.dumps(plugin.deepspeed_config, default=str))
    hyper = settings.align.hyper
    args = TrainingArguments(output_dir="/tmp/safealign-deepspeed-dry-run", report_to="none", use_cpu=True,
                             per_device_train_batch_size=hyper.per_device_train_batch_size,
                             gradient_accumulation_steps=hyper.gradient_accumulation_steps,
                             learning_rate=hyper.learning_rate)
    hf_config = HfTrainerDeepSpeedConfig(config)
    hf_config.trainer_config_process(args)
    filled = hf_config.config
    replicas = settings.launch.num_processes
    per_replica = filled["train_micro_batch_size_per_gpu"] * filled["gradient_accumulation_steps"]
    left = _auto_left(filled)
    DeepSpeedConfig({**filled, "train_batch_size": per_replica})  # raises on a bad key, stage or batch arithmetic
    shape = shape_of(settings.policy_model)
    estimate = zero3_estimate_gb(shape, replicas) if filled["zero_optimization"]["stage"] == 3 else None
    lora = settings.align.lora is not None
    return {"profile": profile, "config": str(path.relative_to(paths.REPO_ROOT)), "zero_stage": filled["zero_optimization"]["stage"],
            "replicas": replicas, "micro_batch_per_replica": filled["train_micro_batch_size_per_gpu"],
            "gradient_accumulation_steps": filled["gradient_accumulation_steps"],
            "global_batch": per_replica * replicas, "auto_left": left, "bf16": spec.get("mixed_precision") == "bf16",
            "policy_shape": shape.name, "policy_params_billion": round(shape.params() / 1e9, 2),
            "deepspeed_zero3_model_states_gb": estimate,
            # the book's rule for the same states (full fine-tune, as DeepSpeed's estimate) and for the profile's LoRA
            "book_cost_model_full_gb": round(cost.training_memory_gb(shape, lora=False, gpus=replicas), 1),
            "book_cost_model_profile_gb": round(cost.training_memory_gb(shape, lora=lora, gpus=replicas), 1),
            "deepspeed_config": filled}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu", choices=profiles.names())
    report = dry_run(parser.parse_args(argv).profile)
    print(json.dumps({k: v for k, v in report.items() if k != "deepspeed_config"}, indent=1))


if __name__ == "__main__":
    main()
