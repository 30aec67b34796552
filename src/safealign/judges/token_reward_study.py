"""Which token-level safety reward paper B's masks use, chosen by measurement (stage token-rewards).

Candidates (judges.token_reward), neither the evaluation judge nor trained on its rows:
    lexical     per-vocabulary-token log-odds of lying in a human-marked toxic span (toxic-spans *train*)
    implicit    β · log π_dpo / π_ref per token, π_dpo = a DPO policy trained here, with Safe-DPO's recipe, on
                D_Safety's judge_train pairs: the judges' prompts, never the policy's (ADPO trains on policy_train;
                a reward fit to those very pairs would hand ADPO the tokens Safe-DPO already separates)
A third candidate of the issue, prefix scoring by a sequence classifier, is left out: the book's only
sequence classifiers of harm are the evaluation judge and content models trained on the judge's rows.

Measured on rows neither saw: token-level ROC-AUC against toxic-spans *test* labels, and sequence-level
ROC-AUC of the pooled reward (min and mean over the answer) against D_Safety's *test*-split safe / unsafe
labels. Rule: the higher sequence-level AUC (mean pooling, what a mask's batch baseline compares against)
wins; the masks rank tokens inside answers, which is what that number measures.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import paths
from ..profiles import Section, section
from . import token_reward


@section
class TokenRewardStudySettings(Section):
    """profiles.yaml section `token_rewards` (a wing section: stage token-rewards reads it)."""
    toxic_spans_test: int     # toxic-spans test texts for the token-level AUC
    answers_per_class: int    # D_Safety test-split answers per label (safe, unsafe) for the sequence-level AUC
    policy: str               # the align method whose recipe trains the implicit reward's policy (on judge_train)
    beta: float               # β of the implicit reward (that method's own β)
    mask_examples: int        # D_Safety pairs whose masks the chapter shows as coloured tokens


def with_context(reward, bos_id: int):
    """A reward whose per_token never sees an empty prompt (the implicit reward needs one token of context)."""
    class _Wrapped:
        identity = reward.identity

        def per_token(self, prompt_ids, completion_ids):
            return reward.per_token(list(prompt_ids) or [bos_id], completion_ids)

    return _Wrapped()


def lexical(tokenizer) -> token_reward.LexicalTokenReward:
    from .. import data

    return token_reward.LexicalTokenReward(tokenizer, [r for r in data.load("toxic_spans") if r["split"] == "train"])


def reward_policy_dir(settings) -> Path:
    """Where the implicit reward's policy lives (a transformers folder with model.safetensors)."""
    return paths.run_dir(settings.name, "token_rewards") / f"implicit-{settings.token_rewards.policy}"


def reward_pairs(settings):
    """The implicit reward's training pairs: every D_Safety judge_train pair (safe answer chosen) whose prompt
    takes at most half of align.max_length tokens, shuffled with the profile's seed, capped at
    align.data.max_pairs. Not refusal-shaped only: a safety reward should learn harmful content, not openings."""
    from .. import models
    from ..data import curation

    tokenizer = models.load_tokenizer(settings["policy_model"])
    budget = settings.align.max_length // 2

    def short_prompts(batch):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in batch["prompt"]]
        return [len(ids) <= budget for ids in tokenizer(texts, add_special_tokens=False).input_ids]

    pairs = curation.preference_split(settings, "judge_train").shuffle(seed=settings.seed)
    pairs = pairs.filter(short_prompts, batched=True)
    if settings.align.data.max_pairs:
        pairs = pairs.select(range(min(settings.align.data.max_pairs, len(pairs))))
    if len(pairs) == 0:
        raise ValueError(f"profile {settings.name!r}: D_Safety judge_train gives no pair for the implicit reward")
    return pairs.flatten_indices()


def on_one_device(config):
    """`config`, made to train on one device. This run is in the notebook's process, not launched: where several
    GPUs are visible, HF's Trainer would wrap the policy in DataParallel (a replica per GPU, batches scattered).
    TrainingArguments keeps that count in the private `_n_gpu`, which Trainer itself sets to 1 for a model-parallel
    model; tests/test_token_reward_study.py pins both facts."""
    _ = config.device  # sets _n_gpu from the visible devices first
    config._n_gpu = min(config._n_gpu, 1)
    return config


def train_reward_policy(settings) -> dict:
    """Train the implicit reward's policy: method token_rewards.policy with the align recipe (hyper-parameters,
    LoRA, max_length) on reward_pairs, in this process; saved merged, as safetensors, in reward_policy_dir.
    Returns what it trained on and how it went."""
    from .. import runtime
    from ..align import run as align_run
    from ..align.methods import hyperparameters

    name, target = settings.token_rewards.policy, reward_policy_dir(settings)
    device = runtime.device(settings)
    runtime.seed_everything(settings.seed)
    pairs = reward_pairs(settings)
    workdir = target.with_name(f".{target.name}-trainer")
    config = on_one_device(align_run.make_config(name, hyperparameters(settings, name), workdir, device,
                                                 settings.seed, settings.align.max_length))
    model, ref_model, tokenizer = align_run.load_for_training(settings, align_run.uses_reference(name))
    trainer = align_run.build_trainer(name, config, model, ref_model, tokenizer, pairs,
                                      peft_config=align_run.lora_config(settings),
                                      ref_cache=target.parent / ".reference_logps")
    _, wall, history = align_run.fit(trainer, "token-rewards (the implicit reward's policy)", workdir)
    align_run.save_policy(trainer, tokenizer, target, settings)
    shutil.rmtree(workdir, ignore_errors=True)
    return {"method": name, "pairs": "D_Safety judge_train", "train_pairs": len(pairs),
            "steps": trainer.state.global_step, "wall_s": round(wall, 1),
            "final_loss": align_run._tail_mean(history, "loss"),
            "reward_accuracy": align_run._tail_mean(history, "rewards/accuracies"),
            **align_run.saved_policy(target, history)}


def implicit(settings, cfg: TokenRewardStudySettings, device: str = "cpu") -> token_reward.ImplicitReward:
    """The implicit reward of the policy train_reward_policy saved (PolicyMissing: run stage token-rewards)."""
    from .. import models

    folder = reward_policy_dir(settings)
    policy, _ = models.load_trained_policy(folder, "token-rewards", device)
    reference, _ = models.load_model(settings["policy_model"], device=device)
    return token_reward.ImplicitReward(policy, reference, cfg.beta, {
        "policy": f"{cfg.policy} on judge_train", "weights": models.weights_digest(folder)[:16]})


def held_out_answers(settings, per_class: int, seed: int) -> list[dict]:
    """`per_class` safe and `per_class` unsafe answers of D_Safety's test split (seeded sample)."""
    from ..data import curation

    rows = curation.judge_rows(settings, "test").to_list()
    rng = np.random.default_rng(seed)
    out = []
    for label in (False, True):
        group = [r for r in rows if bool(r["unsafe"]) == label]
        out += [group[i] for i in sorted(rng.choice(len(group), min(per_class, len(group)), replace=False))]
    return out


def in_chat_format(answers: Sequence[dict], tokenizer) -> list[dict]:
    """The answers with each prompt in the chat format the policy was aligned in (what the rewards score after)."""
    from ..generate.hf import chat_inputs

    return [{**r, "prompt": chat_inputs(tokenizer, [r["prompt"]])[0]} for r in answers]


def measure(reward, tokenizer, spans_rows: Sequence[dict], answers: Sequence[dict], n_boot: int = 0,
            seed: int = 0) -> dict:
    """Token-level and sequence-level (min and mean pooling) ROC-AUC, each with a bootstrap 95% interval."""
    prompts, texts, unsafe = [r["prompt"] for r in answers], [r["response"] for r in answers], [r["unsafe"] for r in answers]
    return {"token_auc": token_reward.token_auc(reward, tokenizer, spans_rows, n_boot, seed),
            "sequence_auc": {pool: token_reward.sequence_auc(reward, tokenizer, prompts, texts, unsafe, pool, n_boot, seed)
                             for pool in ("min", "mean")}}


def measure_all(rewards: dict, tokenizer, spans_rows: Sequence[dict], answers: Sequence[dict], n_boot: int,
                seed: int) -> tuple[dict, list[dict]]:
    """`measure` for every candidate, timed; with the chapter's table: per candidate each AUC with its interval."""
    import time

    measured, rows = {}, []
    for name, reward in rewards.items():
        start = time.time()
        measured[name] = m = measure(reward, tokenizer, spans_rows, answers, n_boot, seed)
        rows.append({"reward": name, "token ROC-AUC (toxic spans test)": m["token_auc"]["roc_auc"],
                     "token 95% CI": m["token_auc"]["ci95"],
                     **{f"sequence ROC-AUC, {pool} pooling": m["sequence_auc"][pool]["roc_auc"] for pool in ("min", "mean")},
                     **{f"{pool} pooling 95% CI": m["sequence_auc"][pool]["ci95"] for pool in ("min", "mean")},
                     "tokens": m["token_auc"]["tokens"], "answers": m["sequence_auc"]["mean"]["n"],
                     "seconds": round(time.time() - start, 1)})
    return measured, rows


def auc_bars(measured: dict) -> list[dict]:
    """Long rows for the chapter's figure: per candidate and measure, the AUC and its 95% interval."""
    out = []
    for name, m in measured.items():
        parts = [("token (toxic spans test)", m["token_auc"])] + [(f"sequence, {pool} pooling", m["sequence_auc"][pool])
                                                                  for pool in ("min", "mean")]
        for measure_name, v in parts:
            ci = v.get("ci95") or [v["roc_auc"], v["roc_auc"]]
            out.append({"reward": name, "measure": measure_name, "ROC-AUC": v["roc_auc"], "lo": ci[0], "hi": ci[1]})
    return out


def choice_margin(results: dict[str, dict], chosen: str, answers: Sequence[dict], n_boot: int, seed: int) -> dict:
    """The chosen reward's mean-pooled sequence AUC minus each other candidate's, on the same answers (paired
    bootstrap 95% interval): a margin whose interval holds 0 says the rule chose between equals."""
    from ..stats import paired_auc_difference

    unsafe = [int(r["unsafe"]) for r in answers]
    out = {}
    for name, result in results.items():
        if name != chosen:
            out[name] = paired_auc_difference(unsafe, result["sequence_auc"]["mean"]["scores"],
                                              results[chosen]["sequence_auc"]["mean"]["scores"], n_boot, seed)
            out[name]["resolved"] = out[name]["ci95"][0] > 0
    return out


def choose(results: dict[str, dict]) -> str:
    """The reward with the higher mean-pooled sequence-level AUC (ties: the higher token AUC)."""
    return max(results, key=lambda name: (results[name]["sequence_auc"]["mean"]["roc_auc"],
                                          results[name]["token_auc"]["roc_auc"]))


MASK_COLOURS = {1: "#b7e4c7", 0: "#e9ecef", -1: "#f5b7b1"}


def mask_html(tokenizer, ids: Sequence[int], mask: Sequence[float], title: str) -> str:
    """One answer's tokens, each on the colour of its mask value (+1 green, 0 grey, −1 red)."""
    spans = []
    for token, m in zip(ids, mask):
        text = html.escape(tokenizer.decode([token]))
        spans.append(f'<span style="background:{MASK_COLOURS[int(round(m))]};padding:1px 0">{text}</span>')
    return f"<p><b>{html.escape(title)}</b><br>{''.join(spans)}</p>"


def pair_masks(reward, tokenizer, pairs: Sequence[dict], settings) -> list[dict]:
    """Masks (eqs. 8, 12-13; b and δ over these pairs as one batch) of D_Safety pairs {prompt, chosen, rejected}:
    per pair the token ids and mask of each answer, the prompt in the chat format the policy was aligned in."""
    import torch

    from ..align.masks import token_masks
    from ..generate.hf import chat_inputs

    prompts = [tokenizer(chat_inputs(tokenizer, [r["prompt"]])[0], add_special_tokens=False)["input_ids"] for r in pairs]
    ids = {side: [tokenizer(r[side], add_special_tokens=False)["input_ids"] for r in pairs] for side in ("chosen", "rejected")}
    width = max(len(x) for side in ids.values() for x in side)

    def padded(side):
        rewards, valid = torch.zeros(len(pairs), width), torch.zeros(len(pairs), width, dtype=torch.bool)
        for i, (p, a) in enumerate(zip(prompts, ids[side])):
            rewards[i, :len(a)] = torch.tensor(reward.per_token(p, a))
            valid[i, :len(a)] = True
        return rewards, valid

    (r_w, v_w), (r_l, v_l) = padded("chosen"), padded("rejected")
    m_w, m_l = token_masks(r_w, v_w, r_l, v_l, settings)
    return [{"prompt": r["prompt"],
             **{side: {"ids": ids[side][i], "mask": m[i, :len(ids[side][i])].tolist()}
                for side, m in (("chosen", m_w), ("rejected", m_l))}} for i, r in enumerate(pairs)]


def kept_share(masked: Sequence[dict]) -> dict[str, float]:
    """Share of each side's tokens with M = +1."""
    out = {}
    for side in ("chosen", "rejected"):
        values = [v for pair in masked for v in pair[side]["mask"]]
        out[f"{side} kept (M=+1)"] = sum(v == 1 for v in values) / len(values) if values else 0.0
    return out
