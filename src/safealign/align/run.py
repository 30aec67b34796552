"""One alignment run: a method of the methods table, trained by its trainer kind on the pairs.

    run = align.train(settings, "ipo")      # trains from settings["policy_model"], saves the policy
    run.result                               # cost accounting (book/results/<profile>/align/ipo.json)

Nine methods are `trl.DPOTrainer` loss types, Safe-KTO is `trl.KTOTrainer` on the unpaired form of
D_Safety, Safe-ORPO is `trl.experimental.orpo.ORPOTrainer`. TRL computes every loss; this module only
chooses the trainer, the data and the hyper-parameters (profiles.yaml, section `align`), so the eleven
runs share one recipe and differ only in their loss.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from .. import io, models, paths, runtime
from .methods import hyperparameters, method
from .pairs import training_pairs
from .trainers import TRAIN_KEYS, kind


def common_arguments(output_dir: str | Path, device: str, seed: int, max_length: int | None) -> dict:
    """The TrainingArguments every trainer of the book shares (paper A's, paper B's, the mixing points'):
    seeded data order, a log row per step, no checkpoints, bf16 mixed precision on GPUs."""
    common = dict(output_dir=str(output_dir), seed=seed, data_seed=seed, report_to="none", logging_steps=1,
                  save_strategy="no", use_cpu=device == "cpu", bf16=device == "cuda", dataloader_num_workers=0,
                  disable_tqdm=False)
    return common if max_length is None else {**common, "max_length": max_length}


def make_config(name: str, hyper: dict, output_dir: str | Path, device: str, seed: int, max_length: int):
    """The TRL config of method `name`: the shared training recipe plus the method's loss settings."""
    m = method(name)
    common = {**common_arguments(output_dir, device, seed, max_length),
              **{k: hyper[k] for k in TRAIN_KEYS if k in hyper}}
    k = kind(m.trainer)
    return k.make_config(m.loss_type, {key: hyper[key] for key in k.loss_keys if key in hyper}, common, max_length)


def build_trainer(name: str, config, model, ref_model, tokenizer, pairs: datasets.Dataset, peft_config=None,
                  callbacks=None, ref_cache: Path | None = None):
    """The TRL trainer of method `name` on preference `pairs` (KTO gets their unpaired form).

    With `ref_cache` (a folder) and precompute_ref_log_probs, the reference log-probs TRL precomputes are
    kept there and reused by every later method that trains on the same tokens with the same reference."""
    kwargs = dict(model=model, args=config, processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    return kind(method(name).trainer).make_trainer(config, model, ref_model, pairs, ref_cache, kwargs)


def uses_reference(name: str) -> bool:
    return kind(method(name).trainer).uses_reference


def load_for_training(settings, reference: bool = False):
    """(policy, reference or None, tokenizer) in `align.dtype`, left on the CPU for the Trainer to place.

    Call it after the run's TRL config exists: under DeepSpeed ZeRO-3 creating the config is what makes
    from_pretrained partition the weights as they load (zero3_init), so that N processes do not each
    load the whole model onto one GPU."""
    dtype, quantized = settings.align.dtype, quantization_config(settings)
    kwargs = {} if quantized is None else {"quantization_config": quantized, "device_map": {"": _process_device(settings)}}
    model, tokenizer = models.load_model(settings["policy_model"], device=None, dtype=dtype, **kwargs)
    ref_model = models.load_model(settings["policy_model"], device=None, dtype=dtype, **kwargs)[0] if reference else None
    return model, ref_model, tokenizer


def quantization_config(settings):
    """QLoRA (`align.quantization: nf4`): the frozen weights stored as 4-bit NormalFloat with double
    quantisation (bitsandbytes), computed in `align.dtype`; the LoRA adapters train over them. None otherwise."""
    if settings.align.quantization is None:
        return None
    if settings.align.lora is None:
        raise ValueError(f"align.quantization of profile {settings.name!r} is {settings.align.quantization!r}, "
                         "which needs align.lora: QLoRA trains LoRA adapters over frozen 4-bit weights")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ImportError(f"align.quantization of profile {settings.name!r} needs bitsandbytes "
                          "(pip install bitsandbytes; requirements-gpu-tools.txt pins it)") from None
    import torch
    from transformers import BitsAndBytesConfig

    dtype = getattr(torch, settings.align.dtype)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_storage=dtype)


def _process_device(settings):
    """Where this process's quantized weights live: its own GPU, or the CPU."""
    if runtime.device(settings) == "cpu":
        return "cpu"
    from accelerate import PartialState

    return PartialState().local_process_index


def lora_config(settings: dict):
    """peft LoRA settings from align.lora, or None for a full fine-tune."""
    cfg = settings.align.lora
    if cfg is None:
        return None
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                      target_modules=cfg.target_modules)


# ---------------------------------------------------------------------------------------------
# a full run


@dataclass
class Run:
    result: dict
    history: list[dict] = field(default_factory=list)
    policy_dir: Path | None = None


def policy_dir(profile: str, name: str) -> Path:
    """Where the aligned policy of method `name` lives (a transformers folder with model.safetensors)."""
    return paths.run_dir(profile, "align") / method(name).name


def load_policy(profile: str, name: str, device: str = "cpu"):
    """(model, tokenizer) of a trained Safe-<name> policy (models.PolicyMissing when it was never trained)."""
    return models.load_trained_policy(policy_dir(profile, name), f"align-{name}", device)


def train(settings: dict, name: str, pairs: datasets.Dataset | None = None, save: bool = True) -> Run:
    """Align settings["policy_model"] with method `name` on `pairs` (default: training_pairs(settings));
    save the policy; return the cost accounting."""
    m = method(name)
    cfg = settings["align"]
    hyper = hyperparameters(settings, name)
    device = runtime.device(settings)
    runtime.seed_everything(settings["seed"])
    pairs = training_pairs(settings) if pairs is None else pairs

    workdir = paths.run_dir(settings["name"], "align", f".{m.name}-trainer")
    config = make_config(name, hyper, workdir, device, settings["seed"], cfg["max_length"])
    model, ref_model, tokenizer = load_for_training(settings, uses_reference(name))
    start = time.perf_counter()
    trainer = build_trainer(name, config, model, ref_model, tokenizer, pairs, peft_config=lora_config(settings),
                            ref_cache=paths.run_dir(settings["name"], "align", ".reference_logps"))
    setup_s = time.perf_counter() - start

    output, wall, history = fit(trainer, f"align-{m.name}", workdir)
    steps = trainer.state.global_step
    processes = trainer.accelerator.num_processes
    batch_pairs = config.per_device_train_batch_size * config.gradient_accumulation_steps * processes
    if m.trainer == "kto":
        batch_pairs //= 2  # a KTO row is one answer: two rows hold the text of one pair
    tokens = history[-1].get("num_tokens") if history else None
    if tokens is None:  # ORPO does not count tokens: count the non-padding tokens of the rows it saw
        tokens = _orpo_tokens(trainer.train_dataset, steps * config.per_device_train_batch_size
                              * config.gradient_accumulation_steps * processes)

    result = {
        "method": m.name, "label": m.label, "trainer": type(trainer).__name__, "loss_type": m.loss_type,
        "source": m.source, "policy_model": settings["policy_model"], "profile": settings["name"],
        "hyperparameters": hyper, "lora": cfg.get("lora") or None, "max_length": cfg["max_length"],
        "dtype": cfg["dtype"], "quantization": cfg["quantization"],
        "train_pairs_available": len(pairs), "steps": steps, "pairs_seen": steps * batch_pairs,
        "wall_s": round(wall, 1), "setup_s": round(setup_s, 1),
        "reference_pass": getattr(trainer, "reference_pass", "per step" if uses_reference(name) else "none"),
        "tokens_seen": int(tokens), "tokens_per_s": round(tokens / wall, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "final_loss": _tail_mean(history, "loss"), "train_loss": output.training_loss,
        "reward_accuracy": _tail_mean(history, "rewards/accuracies"),
        "reward_margin": _tail_mean(history, "rewards/margins"),
        "device": device, "processes": processes,
    }
    run = Run(result=result, history=history)
    if not save:
        return run
    run.policy_dir = save_policy(trainer, tokenizer, policy_dir(settings["name"], name), settings)
    if run.policy_dir is not None:  # the main process: it alone wrote the policy
        # the weights' identity, committed with the result: evaluations key their kept answers on it
        result.update(saved_policy(run.policy_dir, history))
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def saved_policy(folder: Path, history: list[dict]) -> dict:
    """Keep the training log beside a saved policy; the policy's identity for the run's result (evaluations
    key their kept answers on the digest) and its folder, relative to runs/ where it lies there."""
    io.write_json(folder / "training_log.json", history)
    runs = paths.runs_dir()
    return {"policy_sha256": models.weights_digest(folder),
            "policy_dir": str(folder.relative_to(runs) if folder.is_relative_to(runs) else folder)}


def _tail_mean(history: list[dict], key: str, fraction: float = 0.25) -> float | None:
    """Mean of a logged metric over the last quarter of training (single steps are noisy at batch 4)."""
    values = [row[key] for row in history if key in row]
    if not values:
        return None
    tail = values[-max(1, round(len(values) * fraction)):]
    return round(sum(tail) / len(tail), 4)


def _orpo_tokens(dataset: datasets.Dataset, rows_seen: int) -> int:
    per_row = [len(c) + len(r) for c, r in zip(dataset["chosen_input_ids"], dataset["rejected_input_ids"])]
    full, rest = divmod(rows_seen, len(per_row))
    return full * sum(per_row) + sum(per_row[:rest])


def sharded(accelerator) -> bool:
    """Whether each process holds only a shard of the weights (DeepSpeed ZeRO-3 or FSDP)."""
    from accelerate.utils import DistributedType

    plugin = accelerator.state.deepspeed_plugin
    return (plugin is not None and plugin.zero_stage == 3) or accelerator.distributed_type == DistributedType.FSDP


def save_policy(trainer, tokenizer, target: Path, settings, gather: bool | None = None) -> Path | None:
    """The final policy only, as safetensors (LoRA merged into the base weights, so any loader can read it).

    Every process calls it; the main process writes and gets `target`, the others get None. With sharded
    weights (or `gather=True`) every process takes part in gathering the full state dict, which the main
    process loads into a fresh base model carrying the same LoRA adapters, then merges."""
    accelerator = trainer.accelerator
    main = accelerator.is_main_process
    if settings.align.quantization is not None:  # QLoRA: the trained adapters merged into the unquantized base
        from peft import get_peft_model_state_dict

        adapters = get_peft_model_state_dict(accelerator.unwrap_model(trainer.model)) if main else None
        model = _fresh_policy(settings, adapters=adapters) if main else None
    elif sharded(accelerator) if gather is None else gather:
        state = accelerator.get_state_dict(trainer.model)  # a collective: every process must call it
        model = _fresh_policy(settings, state) if main else None
    else:
        model = accelerator.unwrap_model(trainer.model) if main else None
    if main:
        if hasattr(model, "merge_and_unload"):
            model = model.merge_and_unload()
        tmp = target.with_name(target.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    accelerator.wait_for_everyone()
    return target if main else None


def _fresh_policy(settings, state: dict | None = None, adapters: dict | None = None):
    """The policy model in `align.dtype` (with the profile's LoRA adapters, as the trainer wrapped it) holding
    `state` (every weight) or `adapters` (the LoRA weights only, over the base model's own weights)."""
    model = models.load_model(settings["policy_model"], device=None, dtype=settings.align.dtype)[0]
    peft_config = lora_config(settings)
    if peft_config is not None:
        from peft import get_peft_model, set_peft_model_state_dict

        model = get_peft_model(model, peft_config)
        if adapters is not None:
            if set_peft_model_state_dict(model, adapters).unexpected_keys:
                raise RuntimeError(f"trained adapters do not fit {settings['policy_model']}'s LoRA ({settings.name})")
            return model
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {k for k in missing if k.endswith("lm_head.weight") and model.config.tie_word_embeddings}
    if unexpected or set(missing) - tied:  # a gathered copy saves tied weights once; nothing else may lack
        raise RuntimeError(f"gathered policy does not fit {settings['policy_model']}: missing "
                           f"{sorted(set(missing) - tied)[:3]}, unexpected {sorted(unexpected)[:3]}")
    return model


TRAINING_PANELS = (("loss", "loss"), ("rewards/margins", "reward margin (chosen − rejected)"),
                   ("rewards/accuracies", "reward accuracy (batch)"))


def fit(trainer, what: str, workdir: Path) -> tuple:
    """Train; (TRL's output, wall seconds, the logged rows with a loss); a non-finite gradient is an error."""
    start = time.perf_counter()
    output = trainer.train()
    wall = time.perf_counter() - start
    history = [row for row in trainer.state.log_history if "loss" in row]
    if any(not math.isfinite(row.get("grad_norm", 0.0)) for row in history):
        raise RuntimeError(f"{what}: training diverged (non-finite gradient); see {workdir}")
    return output, wall, history


def training_figure(history: list[dict], title: str, panels=TRAINING_PANELS):
    """Plotly: whichever of `panels` (logged key, title) TRL logged, per step."""
    from plotly.subplots import make_subplots

    from .. import viz

    panels = [(k, t) for k, t in panels if any(k in row for row in history)]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    for col, (key, label) in enumerate(panels, start=1):
        rows = [row for row in history if key in row]
        fig.add_scatter(x=[r["step"] for r in rows], y=[r[key] for r in rows], mode="lines+markers", name=label,
                        row=1, col=col, showlegend=False)
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_layout(title=title, template=viz.TEMPLATE, height=360)
    return fig
