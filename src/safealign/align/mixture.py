"""One point of paper B's data study trained: SFT (TRL's `SFTTrainer`, LoRA) on a general pool mixed with safety data.

    point = point_named(settings, "fine-s0")                  # a point of profiles.yaml's `mixing.grid`
    rows = mixture_rows(settings, point, held_out_prompts(test_pools))   # general pool + type pools' train rows
    run = train_point(settings, point, rows)                  # policy saved under runs/<profile>/mixing/<point>

Every point shares one recipe (`mixing.hyper`, the book's LoRA `align.lora`) and starts from the profile's
policy model; only the mixture differs. The pools' test prompts and the evaluation sets never enter a mixture
(`data.mixing.assert_disjoint` is called on every point).
"""

from __future__ import annotations

from pathlib import Path

from .. import models, paths, runtime
from ..data import mixing, pools
from ..profiles import Section, section
from . import sft as _sft  # noqa: F401  (registers the trainer kind "sft")
from .run import Run, common_arguments, fit, load_for_training, lora_config, save_policy
from .trainers import kind


@section
class MixingGrid(Section):
    general: int                 # general rows in every point
    seeds: list[int]             # the fine-grained and unselected points run for each
    fig2_levels: list[int]       # total safety rows, drawn from the union of the type pools (Figure 2)
    fig3_ihd: list[int]          # IHD fixed at each ...
    fig3_ehd: list[int]          # ... while EHD grows (Figure 5)
    mhd_small: int               # MHD rows added (Figure 3: IHD and MHD fixed, EHD grows) ...
    mhd_at_ihd: list[int]        # ... at these IHD levels
    fine: dict[str, float]       # paper B's ratios to the general pool per type
    unselected_scale: list[float]  # unselected mixtures of the fine point's size x each


@section
class MixingHyper(Section):
    learning_rate: float
    num_train_epochs: float
    max_steps: int
    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    lr_scheduler_type: str
    warmup_steps: int


@section
class MixingSettings(Section):
    """profiles.yaml section `mixing` (a wing section: the mixing stages read it)."""
    grid: MixingGrid
    max_length: int              # prompt + answer tokens; longer rows are cut at the end
    hyper: MixingHyper
    stages: list[str] | None     # the points run as pipeline stages (mixing-<point>); None = every point


def general_rows(settings) -> list[dict]:
    """The general pool (LIMA + GSM8K train, data.general's sizes) as {prompt, answer, source}."""
    from ..data import curation

    sizes = settings["data"]["general"]
    pool = curation.general_pool(sizes["lima"], sizes["gsm8k"], seed=settings.seed)
    return [{"prompt": r["prompt"], "answer": r["response"], "source": r["source"]} for r in pool]


def point_named(settings, name: str) -> mixing.MixturePoint:
    points = {p.name: p for p in mixing.sweep(settings.mixing.grid.to_dict())}
    if name not in points:
        raise ValueError(f"mixing point {name!r} (parameter `point`) is not in profile {settings.name!r}'s grid: "
                         f"{sorted(points)}")
    return points[name]


def held_out_prompts(test_pools: dict[str, list[dict]]) -> list[str]:
    """What no mixture may train on: the type pools' test prompts and every evaluation set's prompts."""
    return [r["prompt"] for rows in test_pools.values() for r in rows] + [
        p for prompts in pools.evaluation_prompts().values() for p in prompts]


def mixture_rows(settings, point: mixing.MixturePoint, held_out: list[str]) -> list[dict]:
    """The chat rows of `point`; raises if any of them is a held-out (test or evaluation) prompt."""
    train = {t: pools.type_pool(settings, t, "train") for t in mixing.HARM_TYPES}
    rows = mixing.build(point, general_rows(settings), train)
    mixing.assert_disjoint(rows, held_out, "held-out test or evaluation")
    return rows


def point_dir(profile: str, name: str) -> Path:
    return paths.run_dir(profile, "mixing") / name


def test_pools(settings) -> dict[str, list[dict]]:
    return {t: pools.type_pool(settings, t, "test") for t in mixing.HARM_TYPES}


def train_point(settings, point: mixing.MixturePoint, rows: list[dict]) -> Run:
    """SFT the profile's policy model on `rows`; save the merged policy; return the cost accounting. Every
    process of a launched run calls it; only the main process's Run has the policy folder."""
    cfg = settings.mixing
    device = runtime.device(settings)
    runtime.seed_everything(point.seed)
    workdir = paths.run_dir(settings.name, "mixing", f".{point.name}-trainer")
    common = {**common_arguments(workdir, device, point.seed, cfg.max_length), **cfg.hyper.to_dict()}
    sft = kind("sft")
    config = sft.make_config("nll", {}, common, cfg.max_length)
    model, _, tokenizer = load_for_training(settings)
    trainer = sft.make_trainer(config, model, None, rows, None,
                               dict(model=model, args=config, processing_class=tokenizer,
                                    peft_config=lora_config(settings)))
    output, wall, history = fit(trainer, f"mixing point {point.name}", workdir)
    tokens = history[-1].get("num_tokens") if history else None
    target = save_policy(trainer, tokenizer, point_dir(settings.name, point.name), settings)
    result = {"point": point.name, "figure": point.figure, "mixture": point.counts(), "seed": point.seed,
              "rows": len(rows), "steps": trainer.state.global_step, "wall_s": round(wall, 1),
              "tokens_seen": int(tokens) if tokens else None, "train_loss": output.training_loss,
              "processes": trainer.accelerator.num_processes}
    if target is not None:
        result["policy_sha256"] = models.weights_digest(target)
    return Run(result=result, history=history, policy_dir=target)


def train_named(settings, name: str):
    """The launcher's entry for a mixing point (`--method mixing-<point>`): its rows built as notebook 13
    builds them, trained; an align.run.Run."""
    point = point_named(settings, name)
    return train_point(settings, point, mixture_rows(settings, point, held_out_prompts(test_pools(settings))))
