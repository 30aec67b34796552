"""Paper B's adaptive message-wise alignment (§3.2, Table 1): one stage per run, each with its unmasked baseline.

    adpo  ADPO  DPO with token masks inside the log-ratio sums (align.adaptive_dpo)   baseline: Safe-DPO (align-dpo)
    grpo  GRPO  TRL's GRPOTrainer, sequence reward = the pooled token reward          (PPO's stand-in: TRL has no PPO)
    appo  APPO  the same GRPO, advantages masked token by token (align.appo)
    rs    RS    best of N answers by the reward, then SFT on the kept answers
    ars   ARS   the same kept answers, SFT with masked labels, unlikelihood on M = −1 (align.ars)

One recipe: every run starts from the profile's policy model with align.lora on D_Safety's training pairs
(align.data: ADPO on the pairs with align.hyper — Safe-DPO's own data and schedule —, the others on their
prompts). The token reward is the one stage token-rewards chose by measurement (its result's `chosen`), never
the evaluation judge nor a model trained on its rows. The registry is paper B's own: paper A's table, and so
its stages, stay as they are.
"""

from __future__ import annotations

import hashlib
import json
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch

from .. import io, models, paths, runtime
from ..profiles import Section, section
from .masks import MaskSettings, pooled


@dataclass(frozen=True)
class AdaptiveMethod:
    name: str       # stage align-<name>, results book/results/<profile>/align/<name>.json
    label: str
    family: str     # "dpo" | "grpo" | "rs"
    masked: bool
    baseline: str   # the unmasked run it is compared with
    source: str


PAPER_B_METHODS: dict[str, AdaptiveMethod] = {m.name: m for m in [
    AdaptiveMethod("adpo", "ADPO", "dpo", True, "dpo", "paper B §3.2 eq. 10 (as eq. 7 with token masks)"),
    AdaptiveMethod("grpo", "GRPO (for PPO)", "grpo", False, "grpo", "Shao et al. 2024, arXiv 2402.03300 (TRL GRPOTrainer)"),
    AdaptiveMethod("appo", "APPO", "grpo", True, "grpo", "paper B §3.2 eq. 9 (masked per-token advantages)"),
    AdaptiveMethod("rs", "RS (rejection sampling)", "rs", False, "rs", "best-of-N then SFT (paper B's RS baseline)"),
    AdaptiveMethod("ars", "ARS", "rs", True, "rs", "paper B §3.2 eq. 11 (masked SFT on best-of-N answers)"),
]}


def adaptive_method(name: str) -> AdaptiveMethod:
    if name not in PAPER_B_METHODS:
        raise KeyError(f"unknown paper B method {name!r} (parameter `method`); choose one of {list(PAPER_B_METHODS)}")
    return PAPER_B_METHODS[name]


@section
class MaskSection(Section):
    mode: str           # dead_zone (eqs. 12-13 as printed) | hysteresis (a true Schmitt trigger)
    combination: str    # gated (eq. 8) | signed (eq. 13 as a weight)
    baseline: str       # batch_mean (paper B) | zero
    kappa: float        # δ = κ · std(r_t) over the batch (paper B gives no δ)

    def settings(self) -> MaskSettings:
        return MaskSettings(mode=self.mode, combination=self.combination, baseline=self.baseline, kappa=self.kappa)


@section
class PolicyOptimisation(Section):
    prompts: int | None           # D_Safety training prompts (of align.data's pairs; null = every pair's prompt)
    num_generations: int          # completions per prompt (GRPO's group)
    max_completion_length: int
    temperature: float
    beta: float                   # KL to the reference (TRL's default 0: none)
    learning_rate: float
    per_device_train_batch_size: int   # completions per step (a multiple of num_generations)
    num_train_epochs: float


@section
class RejectionSampling(Section):
    prompts: int | None           # D_Safety training prompts sampled (null = every pair's prompt)
    n: int                        # candidates per prompt
    max_new_tokens: int
    temperature: float
    batch_size: int
    learning_rate: float
    num_train_epochs: float
    per_device_train_batch_size: int
    unlikelihood_weight: float    # λ of the M = −1 tokens' −log(1 − p) (ARS)


@section
class AdaptiveSettings(Section):
    """profiles.yaml section `adaptive` (a wing section: stages align-{adpo,grpo,appo,rs,ars} read it)."""
    mask: MaskSection
    pooling: str                  # a sequence's reward from its token rewards: mean | min
    po: PolicyOptimisation
    rs: RejectionSampling


# ---------------------------------------------------------------------------------------------
# the token reward


class Memo:
    """A token reward whose per-token values are computed once per (prompt, completion): APPO scores a
    completion for its sequence reward and again for its mask."""

    def __init__(self, reward):
        self.reward, self.identity, self._cache = reward, reward.identity, {}

    def per_token(self, prompt_ids, completion_ids) -> list[float]:
        key = (tuple(prompt_ids), tuple(completion_ids))
        if key not in self._cache:
            self._cache[key] = list(self.reward.per_token(list(prompt_ids), list(completion_ids)))
        return self._cache[key]


def chosen_reward_name(profile: str) -> str:
    try:
        return io.read_result(profile, "token_rewards")["chosen"]
    except FileNotFoundError as err:
        raise models.PolicyMissing("token-rewards", f"no token reward chosen yet ({err})") from None


def token_reward(settings, device: str = "cpu"):
    """The token reward stage token-rewards chose (memoised; it never sees an empty prompt)."""
    from ..judges import token_reward_study as study

    name = chosen_reward_name(settings.name)
    tokenizer = models.load_tokenizer(settings["policy_model"])
    if name == "lexical":
        reward = study.lexical(tokenizer)
    elif name == "implicit":
        try:
            reward = study.implicit(settings, settings.token_rewards, device)
        except models.PolicyMissing:
            raise
        except FileNotFoundError as err:
            raise models.PolicyMissing("token-rewards", str(err)) from None
    else:
        raise ValueError(f"book/results/{settings.name}/token_rewards.json: unknown chosen reward {name!r}")
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return Memo(study.with_context(reward, bos))


class MaskTally:
    """Counts of M = +1 / 0 / −1 over the answer tokens a run's masks covered."""

    def __init__(self):
        self.counts = {1: 0, 0: 0, -1: 0}

    def add(self, mask: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        values = mask[valid.bool()].round().long()
        for v in self.counts:
            self.counts[v] += int((values == v).sum())
        return mask

    def summed_over(self, accelerator) -> "MaskTally":
        """The tally of every process of a launched run (each counted the batches it trained on)."""
        if accelerator.num_processes > 1:
            keys = list(self.counts)
            totals = accelerator.reduce(torch.tensor([self.counts[k] for k in keys], device=accelerator.device), "sum")
            self.counts = dict(zip(keys, (int(t) for t in totals)))
        return self

    def shares(self) -> dict:
        total = sum(self.counts.values())
        return {"tokens": total, **{f"share_{'plus' if v == 1 else 'minus' if v == -1 else 'zero'}":
                                    round(c / total, 4) if total else None for v, c in self.counts.items()}}


# ---------------------------------------------------------------------------------------------
# best of N (RS and ARS share the samples)


def chat_ids(tokenizer, prompt: str, answer: str | None = None) -> list[int]:
    """Token ids of the chat prompt (generation prompt included), or of prompt + answer turn."""
    messages = [{"role": "user", "content": prompt}] + ([{"role": "assistant", "content": answer}] if answer is not None else [])
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=answer is None)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def answer_ids(tokenizer, prompt: str, answer: str) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) with prompt + answer = the chat-formatted exchange."""
    head, full = chat_ids(tokenizer, prompt), chat_ids(tokenizer, prompt, answer)
    if full[:len(head)] != head:
        raise ValueError("the chat template does not extend the generation prompt with the answer turn")
    return head, full[len(head):]


def best_of_n_samples(settings, prompts: list[str], reward, device: str = "cpu") -> list[dict]:
    """Per prompt: N sampled answers of the policy model, their pooled rewards, and the best one with its
    token ids and token rewards. Cached under runs/<profile>/align/.best_of_n (both branches read the file).

    Every process of a launched run calls it. The generation batches (hf.generate's, by prompt length) are
    dealt out to the processes in turn, each batch sampled with the seed one process would give it, and the
    main process gathers and writes: N processes sample what one process samples, each doing 1/N of it."""
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list, gather_object

    cfg = settings.adaptive.rs
    key = hashlib.sha256(json.dumps({"prompts": prompts, "rs": cfg.to_dict(), "pooling": settings.adaptive.pooling,
                                     "model": settings["policy_model"], "reward": reward.identity,
                                     "seed": settings.seed}, sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = paths.run_dir(settings.name, "align", ".best_of_n") / f"{key}.json"
    state = PartialState(cpu=device == "cpu")  # in a launched run, train() made it already
    cached = [path.exists()]
    if state.num_processes > 1:
        broadcast_object_list(cached)  # the main process decides for all, so none waits in a gather alone
    if not cached[0]:
        rows = _sampled_rows(settings, prompts, reward, state.device if state.num_processes > 1 else device,
                             state.process_index, state.num_processes)
        if state.num_processes > 1:
            rows = gather_object(rows)
        if state.is_main_process:
            io.write_json(path, [row for _, row in sorted((r.pop("index"), r) for r in rows)])
        state.wait_for_everyone()
    return io.read_json(path)


def _sampled_rows(settings, prompts: list[str], reward, device, rank: int, world: int) -> list[dict]:
    """Process `rank` of `world`'s share of best_of_n_samples: batches rank, rank + world, ... of the prompts
    sorted by chat-text length, each generated as hf.generate generates it in one call (same batch, same seed)."""
    from accelerate import PartialState
    from tqdm.auto import tqdm

    from ..generate import hf
    from .ars import best_of_n

    cfg = settings.adaptive.rs
    with PartialState().main_process_first():  # an offline model is written on first use: by one process
        model, tokenizer = models.load_model(settings["policy_model"], device=device)
    texts = hf.chat_inputs(tokenizer, prompts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    starts = range(0, len(order), cfg.batch_size)[rank::world]
    rows = []
    for start in tqdm(starts, desc=f"best-of-N samples (process {rank + 1}/{world})", unit="batch"):
        idx = order[start:start + cfg.batch_size]
        batch = [prompts[i] for i in idx]
        candidates = hf.generate(model, tokenizer, batch, max_new_tokens=cfg.max_new_tokens, batch_size=len(idx),
                                 do_sample=True, temperature=cfg.temperature, num_return_sequences=cfg.n,
                                 seed=settings.seed + start, desc="sampling")
        for i, prompt, cands in zip(idx, batch, candidates):
            cands = [cands] if isinstance(cands, str) else cands
            tokenized = [answer_ids(tokenizer, prompt, c) for c in cands]
            per_token = [reward.per_token(p, a) for p, a in tokenized]
            scores = [pooled(r, settings.adaptive.pooling) for r in per_token]
            best = best_of_n([cands], [scores])[0]
            rows.append({"index": i, "prompt": prompt, "candidates": cands, "scores": scores, "best": best,
                         "answer": cands[best], "prompt_ids": tokenized[best][0], "answer_ids": tokenized[best][1],
                         "token_rewards": per_token[best]})
    return rows


def sft_rows(samples: list[dict], mask: MaskSettings | None) -> list[dict]:
    """Pre-tokenized SFT rows of the kept answers: every answer token a label (RS), or masked labels (ARS)."""
    from .ars import ANSWER, AVOID, masked_rows

    if mask is not None:
        return masked_rows([s["prompt_ids"] for s in samples], [s["answer_ids"] for s in samples],
                           [s["token_rewards"] for s in samples], mask)
    return [{"input_ids": s["prompt_ids"] + s["answer_ids"], "labels": [-100] * len(s["prompt_ids"]) + s["answer_ids"],
             AVOID: [-100] * (len(s["prompt_ids"]) + len(s["answer_ids"])),
             ANSWER: [-100] * len(s["prompt_ids"]) + s["answer_ids"]} for s in samples]


# ---------------------------------------------------------------------------------------------
# one run


def policy_dir(profile: str, name: str) -> Path:
    return paths.run_dir(profile, "align") / adaptive_method(name).name


def load_policy(profile: str, name: str, device: str = "cpu"):
    return models.load_trained_policy(policy_dir(profile, name), f"align-{name}", device)


def _dpo_trainer(settings, pairs, reward, tally, workdir, device):
    from trl import DPOTrainer

    from .adaptive_dpo import adaptive_dpo_class, batch_masks
    from .methods import hyperparameters
    from .run import load_for_training, lora_config, make_config

    hyper = hyperparameters(settings, "dpo")  # Safe-DPO's recipe, unchanged
    config = make_config("dpo", hyper, workdir, device, settings.seed, settings.align.max_length)
    mask = settings.adaptive.mask.settings()
    model, ref_model, tokenizer = load_for_training(settings, reference=True)
    trainer = adaptive_dpo_class(DPOTrainer)(
        model=model, ref_model=ref_model, args=config, train_dataset=pairs, processing_class=tokenizer,
        peft_config=lora_config(settings), mask_settings=mask, token_reward=reward.per_token,
        mask_fn=lambda batch, reduce: tally.add(batch_masks(batch, mask, reduce), batch["completion_mask"]))
    return trainer, hyper


def _grpo_trainer(settings, pairs, reward, tally, workdir, device, masked: bool):
    from trl import GRPOConfig, GRPOTrainer

    from .appo import adaptive_grpo_class, sequence_reward
    from .run import common_arguments, load_for_training, lora_config

    cfg = settings.adaptive.po
    hyper = cfg.to_dict()
    config = GRPOConfig(**common_arguments(workdir, device, settings.seed, None), learning_rate=cfg.learning_rate,
                        per_device_train_batch_size=cfg.per_device_train_batch_size, num_train_epochs=cfg.num_train_epochs,
                        num_generations=cfg.num_generations, max_completion_length=cfg.max_completion_length,
                        temperature=cfg.temperature, beta=cfg.beta, lr_scheduler_type="linear", warmup_steps=0)
    model, _, tokenizer = load_for_training(settings)
    prompts = datasets.Dataset.from_dict({"prompt": pairs["prompt"][: cfg.prompts]})
    kwargs = dict(model=model, args=config, train_dataset=prompts, processing_class=tokenizer,
                  reward_funcs=[sequence_reward(reward, tokenizer, settings.adaptive.pooling)],
                  peft_config=lora_config(settings))
    if not masked:
        return GRPOTrainer(**kwargs), hyper

    class TalliedAPPO(adaptive_grpo_class(GRPOTrainer)):
        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            tally.add(self.last_masks, out["completion_mask"].cpu())
            return out

    TalliedAPPO.__name__ = TalliedAPPO.__qualname__ = "AdaptiveGRPOTrainer"
    return TalliedAPPO(mask_settings=settings.adaptive.mask.settings(), token_reward=reward, **kwargs), hyper


def _sft_trainer(settings, pairs, reward, tally, workdir, device, masked: bool):
    from trl import SFTConfig, SFTTrainer

    from .ars import AVOID, masked_sft_class
    from .run import common_arguments, load_for_training, lora_config

    cfg = settings.adaptive.rs
    prompts = [p[0]["content"] for p in pairs["prompt"]][: cfg.prompts or None]
    # sampling before the config: under ZeRO-3 the config makes every later from_pretrained partition its weights
    # (deepspeed.zero.Init) and generate() sync the processes at every step, neither of which sampling outside the
    # DeepSpeed engine survives
    samples = best_of_n_samples(settings, prompts, reward, device)
    config = SFTConfig(**common_arguments(workdir, device, settings.seed, settings.align.max_length), learning_rate=cfg.learning_rate,
                       num_train_epochs=cfg.num_train_epochs, per_device_train_batch_size=cfg.per_device_train_batch_size,
                       lr_scheduler_type="linear", warmup_steps=0)
    mask = settings.adaptive.mask.settings() if masked else None
    rows = sft_rows(samples, mask)
    for row in rows:  # the tally of the masks over answer tokens (RS: every answer token is +1)
        kept = torch.tensor(row["labels"]) != -100
        avoided = torch.tensor(row[AVOID]) != -100
        tally.counts[1] += int(kept.sum())
        tally.counts[-1] += int(avoided.sum())
    tally.counts[0] += sum(len(s["answer_ids"]) for s in samples) - tally.counts[1] - tally.counts[-1]
    hyper = {k: cfg[k] for k in ("learning_rate", "num_train_epochs", "per_device_train_batch_size", "unlikelihood_weight")}
    model, _, tokenizer = load_for_training(settings)
    trainer = masked_sft_class(SFTTrainer)(model=model, args=config, train_dataset=datasets.Dataset.from_list(rows),
                                           processing_class=tokenizer, peft_config=lora_config(settings),
                                           unlikelihood_weight=cfg.unlikelihood_weight)
    trainer.best_of_n = {"prompts": len(samples), "n": cfg.n,
                         "mean_best_reward": round(sum(s["scores"][s["best"]] for s in samples) / len(samples), 4),
                         "mean_reward": round(sum(sum(s["scores"]) / len(s["scores"]) for s in samples) / len(samples), 4)}
    return trainer, hyper


def train(settings, name: str):
    """Train paper B method `name`; save the merged policy; an align.run.Run with its cost accounting (the
    align JSON). Every process of a launched run calls it; only the main process's Run has the policy."""
    from .pairs import training_pairs
    from .run import Run, _tail_mean, fit, save_policy, saved_policy

    from accelerate import PartialState

    m = adaptive_method(name)
    device = runtime.device(settings)
    runtime.seed_everything(settings.seed)
    pairs = training_pairs(settings)
    # the processes of a launched run, each loading the models it runs outside the trainer (the token reward, the
    # best-of-N sampler) onto its own device, not all onto the first GPU
    state = PartialState(cpu=device == "cpu")
    reward, tally = token_reward(settings, str(state.device) if state.num_processes > 1 else device), MaskTally()
    workdir = paths.run_dir(settings.name, "align", f".{m.name}-trainer")
    start = time.perf_counter()
    if m.family == "dpo":
        trainer, hyper = _dpo_trainer(settings, pairs, reward, tally, workdir, device)
    elif m.family == "grpo":
        trainer, hyper = _grpo_trainer(settings, pairs, reward, tally, workdir, device, m.masked)
    else:
        trainer, hyper = _sft_trainer(settings, pairs, reward, tally, workdir, device, m.masked)
    setup_s = time.perf_counter() - start

    output, wall, history = fit(trainer, f"align-{m.name}", workdir)
    tokens = history[-1].get("num_tokens") if history else None
    result = {
        "method": m.name, "label": m.label, "trainer": type(trainer).__name__, "family": m.family, "masked": m.masked,
        "baseline": m.baseline, "source": m.source, "policy_model": settings["policy_model"], "profile": settings.name,
        "hyperparameters": hyper, "lora": settings.align.lora.to_dict() if settings.align.lora else None,
        "mask": settings.adaptive.mask.to_dict() if m.masked else None, "pooling": settings.adaptive.pooling,
        # ADPO / APPO tallied each process's own batches; RS / ARS every kept answer, on every process alike
        "token_reward": reward.identity,
        "mask_tokens": (tally.summed_over(trainer.accelerator) if m.family != "rs" else tally).shares() if m.masked else None,
        "train_pairs_available": len(pairs), "steps": trainer.state.global_step,
        "wall_s": round(wall, 1), "setup_s": round(setup_s, 1),
        "tokens_seen": int(tokens) if tokens else None, "tokens_per_s": round(tokens / wall, 1) if tokens else None,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "final_loss": _tail_mean(history, "loss"), "train_loss": output.training_loss,
        "reward_accuracy": _tail_mean(history, "rewards/accuracies"), "reward_margin": _tail_mean(history, "rewards/margins"),
        "sequence_reward": _tail_mean(history, "reward"),
        "best_of_n": getattr(trainer, "best_of_n", None), "device": device,
        "processes": trainer.accelerator.num_processes,
    }
    target = save_policy(trainer, trainer.processing_class, policy_dir(settings.name, name), settings)
    if target is not None:  # the main process: it alone wrote the policy
        result.update(saved_policy(target, history))
        shutil.rmtree(workdir, ignore_errors=True)
    return Run(result=result, history=history, policy_dir=target)


def training_figure(history: list[dict], title: str):
    """Plotly: whichever of loss, reward margin, sequence reward and reward accuracy the trainer logged, per step."""
    from .run import training_figure as curves

    return curves(history, title, (("loss", "loss"), ("rewards/margins", "reward margin (chosen − rejected)"),
                                   ("reward", "sequence reward (mean over the group)"),
                                   ("rewards/accuracies", "reward accuracy (batch)")))
