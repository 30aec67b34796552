"""The preference pairs every method trains on: D_Safety's policy_train split, refusal-shaped pairs."""

from __future__ import annotations

from typing import Any

import datasets

from .. import models
from ..data import curation
from ..refusal_patterns import REFUSAL_OPENING


def opens_with_refusal(text: str) -> bool:
    return bool(REFUSAL_OPENING.search(text[:200]))


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
