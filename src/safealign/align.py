"""The eleven Safe-* alignment methods of paper A (Table 1), each one of TRL's trainers plus a config.

    run = align.train(settings, "ipo")      # trains from settings["policy_model"], saves the policy
    run.result                               # cost accounting (book/results/<profile>/align/ipo.json)

Nine methods are `trl.DPOTrainer` loss types, Safe-KTO is `trl.KTOTrainer` on the unpaired form of
D_Safety, Safe-ORPO is `trl.experimental.orpo.ORPOTrainer`. TRL computes every loss; this module only
chooses the trainer, the data and the hyper-parameters (profiles.yaml, section `align`), so the eleven
runs share one recipe and differ only in their loss.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import re
import resource
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from . import curation, io, models, paths, runtime


@dataclass(frozen=True)
class Method:
    name: str  # registry key; pipeline stage "align-<name>"
    label: str  # paper A's name
    trainer: str  # "dpo" | "kto" | "orpo"
    loss_type: str  # TRL's name for the loss
    source: str  # the loss's original paper (paper A, Table 1)


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("dpo", "Safe-DPO", "dpo", "sigmoid", "Rafailov et al. 2023, arXiv 2305.18290"),
    Method("rdpo", "Safe-rDPO", "dpo", "robust", "Chowdhury et al. 2024, arXiv 2403.00409"),
    Method("ipo", "Safe-IPO", "dpo", "ipo", "Azar et al. 2024, arXiv 2310.12036"),
    Method("slic", "Safe-SLiC", "dpo", "hinge", "Zhao et al. 2023, arXiv 2210.00045"),
    Method("exo", "Safe-EXO", "dpo", "exo_pair", "Ji et al. 2024, arXiv 2402.00856"),
    Method("nca", "Safe-NCA", "dpo", "nca_pair", "Chen et al. 2024, arXiv 2402.05369"),
    Method("sppo", "Safe-SPPO", "dpo", "sppo_hard", "Wu et al. 2024, arXiv 2405.00675"),
    Method("aot", "Safe-AOT", "dpo", "aot", "Melnyk et al. 2024, arXiv 2406.05882 (paired)"),
    Method("aotp", "Safe-AOTp", "dpo", "aot_unpaired", "Melnyk et al. 2024, arXiv 2406.05882 (unpaired)"),
    Method("kto", "Safe-KTO", "kto", "kto", "Ethayarajh et al. 2024, arXiv 2402.01306"),
    Method("orpo", "Safe-ORPO", "orpo", "orpo", "Hong et al. 2024, arXiv 2403.07691"),
]}

# Hyper-parameters each trainer's config takes from profiles.yaml (align.hyper, align.methods.<name>).
LOSS_KEYS = {
    "dpo": ("beta", "label_smoothing", "precompute_ref_log_probs"),
    "kto": ("beta", "desirable_weight", "undesirable_weight", "precompute_ref_log_probs"),
    "orpo": ("beta",),
}
TRAIN_KEYS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
              "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "max_grad_norm", "weight_decay")


def method(name: str) -> Method:
    if name not in METHODS:
        raise KeyError(f"unknown alignment method {name!r} (parameter `method`); choose one of {list(METHODS)}")
    return METHODS[name]


def hyperparameters(settings: dict, name: str) -> dict[str, Any]:
    """The shared recipe (align.hyper) overridden by the method's own entries (align.methods.<name>)."""
    cfg = settings["align"]
    hyper = copy.deepcopy(cfg["hyper"])
    hyper.update((cfg.get("methods") or {}).get(method(name).name) or {})
    return hyper


# ---------------------------------------------------------------------------------------------
# data

# A safe answer that opens by declining or discouraging (checked on its first 200 characters).
_REFUSAL_OPENING = re.compile(
    r"^\W*(no[,.!]?\s+)?(sorry|i'?m sorry|i am sorry|unfortunately"
    r"|i (cannot|can ?not|can't|won't|will not|would not|do not|don't|refuse|must decline|am not able|am unable)\b"
    r"|(it is|it's) (not|never) (appropriate|okay|ok|acceptable|advisable|ethical|legal|possible|safe|a good idea)"
    r"|(it is|it's) (illegal|unethical|against)"
    r"|you (cannot|can ?not|can't|should not|shouldn't|should never|must not)\b"
    r"|there is no (safe|legal|ethical|way))",
    re.IGNORECASE,
)


def opens_with_refusal(text: str) -> bool:
    return bool(_REFUSAL_OPENING.search(text[:200]))


def _text(messages: Any) -> str:
    return messages[-1]["content"] if isinstance(messages, list) else messages


def policy_pairs(settings: dict) -> datasets.Dataset:
    """D_Safety restricted to the 'policy_train' prompts, conversational prompt/chosen/rejected (chosen = safe)."""
    return curation.preference_split(settings, "policy_train")


def training_pairs(settings: dict) -> datasets.Dataset:
    """The pairs every method trains on (align.data): optionally only pairs whose safe answer refuses and whose
    unsafe answer does not; prompts of at most half of max_length tokens; shuffled with the profile's seed,
    capped at max_pairs."""
    cfg = settings["align"]["data"]
    pairs = policy_pairs(settings)
    if cfg.get("refusals_only"):
        pairs = pairs.filter(lambda batch: [
            opens_with_refusal(_text(c)) and not opens_with_refusal(_text(r)) for c, r in zip(batch["chosen"], batch["rejected"])
        ], batched=True)
    # Every pair must keep answer tokens after truncation to max_length (an empty answer gives ORPO 0/0 = NaN).
    tokenizer = models.load_tokenizer(settings["policy_model"])
    budget = settings["align"]["max_length"] // 2

    def short_prompts(batch):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in batch["prompt"]]
        return [len(ids) <= budget for ids in tokenizer(texts, add_special_tokens=False).input_ids]

    pairs = pairs.shuffle(seed=settings["seed"]).filter(short_prompts, batched=True)
    if cfg.get("max_pairs"):
        pairs = pairs.select(range(min(cfg["max_pairs"], len(pairs))))
    if len(pairs) == 0:
        raise ValueError("align.data selects no pairs (profiles.yaml, section align.data)")
    return pairs.flatten_indices()


def unpaired(pairs: datasets.Dataset, seed: int) -> datasets.Dataset:
    """KTO's form of D_Safety: one (prompt, completion, label) row per answer, safe answers labelled True.
    Shuffled, because KTOTrainer reads rows in order and would otherwise see one-label batches."""
    from trl.data_utils import unpair_preference_dataset

    return unpair_preference_dataset(pairs).shuffle(seed=seed).flatten_indices()


# ---------------------------------------------------------------------------------------------
# trainers


def make_config(name: str, hyper: dict, output_dir: str | Path, device: str, seed: int, max_length: int):
    """The TRL config of method `name`: the shared training recipe plus the method's loss settings."""
    m = method(name)
    common = dict(
        output_dir=str(output_dir), seed=seed, data_seed=seed, report_to="none", logging_steps=1,
        save_strategy="no", use_cpu=device == "cpu", bf16=device == "cuda", max_length=max_length,
        dataloader_num_workers=0, disable_tqdm=False,
        **{k: hyper[k] for k in TRAIN_KEYS if k in hyper},
    )
    loss = {k: hyper[k] for k in LOSS_KEYS[m.trainer] if k in hyper}
    if m.trainer == "dpo":
        from trl import DPOConfig

        return DPOConfig(loss_type=[m.loss_type], **loss, **common)
    if m.trainer == "kto":
        from trl import KTOConfig

        return KTOConfig(loss_type=m.loss_type, **loss, **common)
    from trl.experimental.orpo import ORPOConfig

    return ORPOConfig(max_completion_length=max_length, remove_unused_columns=False, **loss, **common)


def lora_config(settings: dict):
    """peft LoRA settings from align.lora, or None for a full fine-tune."""
    cfg = settings["align"].get("lora")
    if not cfg:
        return None
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", r=cfg["r"], lora_alpha=cfg["alpha"], lora_dropout=cfg.get("dropout", 0.0),
                      target_modules=cfg["target_modules"])


def build_trainer(name: str, config, model, ref_model, tokenizer, pairs: datasets.Dataset, peft_config=None,
                  callbacks=None, ref_cache: Path | None = None):
    """The TRL trainer of method `name` on preference `pairs` (KTO gets their unpaired form).

    With `ref_cache` (a folder) and precompute_ref_log_probs, the reference log-probs TRL precomputes are
    kept there and reused by every later method that trains on the same tokens with the same reference."""
    m = method(name)
    kwargs = dict(model=model, args=config, processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    if m.trainer == "dpo":
        from trl import DPOTrainer

        return _sharing_reference(DPOTrainer, ref_cache)(ref_model=ref_model, train_dataset=pairs, **kwargs)
    if m.trainer == "kto":
        from trl import KTOTrainer

        return _sharing_reference(KTOTrainer, ref_cache)(
            ref_model=ref_model, train_dataset=unpaired(pairs, config.seed), **kwargs)
    import warnings

    from trl.experimental.orpo import ORPOTrainer

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*experimental.*")
        return ORPOTrainer(train_dataset=pairs, **kwargs)


def _sharing_reference(trainer_class, cache_dir: Path | None):
    """`trainer_class` whose reference pass (TRL's own `_precompute_ref_logps`) is cached in `cache_dir`,
    keyed by the tokenized rows, the reference weights and max_length. TRL's own cache cannot be shared
    across methods: its key hashes the whole config, loss type included."""
    if cache_dir is None:
        return trainer_class

    class SharedReference(trainer_class):
        def _precompute_ref_logps(self, dataset, name, batch_size):
            token_columns = sorted(c for c in dataset.column_names if c.endswith("_ids") or c == "label")
            key = hashlib.sha256(json.dumps({
                "rows": dataset.select_columns(token_columns).to_dict(), "reference": self._precompute_model_hash,
                "max_length": self.args.max_length, "trainer": trainer_class.__name__,
            }, sort_keys=True).encode()).hexdigest()[:24]
            path = Path(cache_dir) / f"{trainer_class.__name__}-{key}.json"
            self.reference_pass = "reused" if path.exists() else "computed"
            if not path.exists():
                out = super()._precompute_ref_logps(dataset, name, batch_size)
                io.write_json(path, out.select_columns([c for c in out.column_names if c.startswith("ref_")]).to_dict())
            # both branches read the file, so a first and a later run train on identical numbers
            return datasets.concatenate_datasets([dataset, datasets.Dataset.from_dict(io.read_json(path))], axis=1)

    SharedReference.__name__ = SharedReference.__qualname__ = trainer_class.__name__
    return SharedReference


def uses_reference(name: str) -> bool:
    return method(name).trainer != "orpo"  # ORPO is reference-free


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
    """(model, tokenizer) of a trained Safe-<name> policy."""
    folder = policy_dir(profile, name)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{folder} holds no policy: run the pipeline stage align-{name} (profile {profile})")
    return models.load_model(str(folder), device=device)


def train(settings: dict, name: str, pairs: datasets.Dataset | None = None, save: bool = True) -> Run:
    """Align settings["policy_model"] with method `name` on `pairs` (default: training_pairs(settings));
    save the policy; return the cost accounting."""
    m = method(name)
    cfg = settings["align"]
    hyper = hyperparameters(settings, name)
    device = runtime.device(settings)
    runtime.seed_everything(settings["seed"])
    pairs = training_pairs(settings) if pairs is None else pairs

    model, tokenizer = models.load_model(settings["policy_model"], device=device)
    ref_model = models.load_model(settings["policy_model"], device=device)[0] if uses_reference(name) else None
    workdir = paths.run_dir(settings["name"], "align", f".{m.name}-trainer")
    config = make_config(name, hyper, workdir, device, settings["seed"], cfg["max_length"])
    start = time.perf_counter()
    trainer = build_trainer(name, config, model, ref_model, tokenizer, pairs, peft_config=lora_config(settings),
                            ref_cache=paths.run_dir(settings["name"], "align", ".reference_logps"))
    setup_s = time.perf_counter() - start

    start = time.perf_counter()
    output = trainer.train()
    wall = time.perf_counter() - start
    history = [row for row in trainer.state.log_history if "loss" in row]
    if any(not math.isfinite(row.get("grad_norm", 0.0)) for row in history):
        raise RuntimeError(f"align-{m.name}: training diverged (non-finite gradient); see {workdir}")
    steps = trainer.state.global_step
    batch_pairs = config.per_device_train_batch_size * config.gradient_accumulation_steps
    if m.trainer == "kto":
        batch_pairs //= 2  # a KTO row is one answer: two rows hold the text of one pair
    tokens = history[-1].get("num_tokens") if history else None
    if tokens is None:  # ORPO does not count tokens: count the non-padding tokens of the rows it saw
        tokens = _orpo_tokens(trainer.train_dataset, steps * config.per_device_train_batch_size * config.gradient_accumulation_steps)

    result = {
        "method": m.name, "label": m.label, "trainer": type(trainer).__name__, "loss_type": m.loss_type,
        "source": m.source, "policy_model": settings["policy_model"], "profile": settings["name"],
        "hyperparameters": hyper, "lora": cfg.get("lora") or None, "max_length": cfg["max_length"],
        "train_pairs_available": len(pairs), "steps": steps, "pairs_seen": steps * batch_pairs,
        "wall_s": round(wall, 1), "setup_s": round(setup_s, 1),
        "reference_pass": getattr(trainer, "reference_pass", "per step" if uses_reference(name) else "none"),
        "tokens_seen": int(tokens), "tokens_per_s": round(tokens / wall, 1),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "final_loss": _tail_mean(history, "loss"), "train_loss": output.training_loss,
        "reward_accuracy": _tail_mean(history, "rewards/accuracies"),
        "reward_margin": _tail_mean(history, "rewards/margins"),
        "device": device,
    }
    run = Run(result=result, history=history)
    if save:
        run.policy_dir = save_policy(trainer, tokenizer, policy_dir(settings["name"], name))
        shutil.rmtree(workdir, ignore_errors=True)
        runs = paths.runs_dir()
        result["policy_dir"] = str(run.policy_dir.relative_to(runs) if run.policy_dir.is_relative_to(runs) else run.policy_dir)
        io.write_json(run.policy_dir / "training_log.json", history)
    return run


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


def save_policy(trainer, tokenizer, target: Path) -> Path:
    """The final policy only, as safetensors (LoRA merged into the base weights, so any loader can read it)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def training_figure(history: list[dict], title: str):
    """Plotly: loss, reward margin and reward accuracy per step, as TRL logged them."""
    from plotly.subplots import make_subplots

    from . import viz

    panels = [("loss", "loss"), ("rewards/margins", "reward margin (chosen − rejected)"),
              ("rewards/accuracies", "reward accuracy (batch)")]
    panels = [(k, t) for k, t in panels if any(k in row for row in history)]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[t for _, t in panels])
    for col, (key, label) in enumerate(panels, start=1):
        rows = [row for row in history if key in row]
        fig.add_scatter(x=[r["step"] for r in rows], y=[r[key] for r in rows], mode="lines+markers", name=label,
                        row=1, col=col, showlegend=False)
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_layout(title=title, template=viz.TEMPLATE, height=360)
    return fig
