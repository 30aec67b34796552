"""APPO (paper B §3.2, eq. 9): policy optimisation whose per-token objective is multiplied by a token mask.

TRL 1.16 has no PPOTrainer; its `GRPOTrainer` takes per-token (B, T) advantages from a subclass, so
APPO is GRPO (group-normalised sequence advantages, the sequence reward from the safety reward model,
never the evaluation judge) with each advantage spread over the completion's tokens and masked:

    A(s_t, a_t) = A_seq · M(t),  M from the token rewards (eqs. 12-13; baseline and offset over the batch)

Eq. 8 needs chosen and rejected answers; on-policy samples have an advantage instead, so a completion
with A_seq > 0 plays "chosen" (its good tokens are kept) and one with A_seq ≤ 0 plays "rejected" (its
bad tokens are kept): `gated` keeps those tokens, `signed` also turns the others' sign (as in ADPO).
With M ≡ 1 the advantages are GRPO's own, broadcast over the tokens.

M enters through the advantage, so TRL clips min(ρ·A·M, clip(ρ)·A·M). For M ∈ {0, 1} (`gated`, the
default) that is eq. 9's min(ρ·A, clip(ρ)·A)·M; for M = −1 (`signed`) it is not — it clips a properly
signed surrogate, where eq. 9 as printed would turn PPO's pessimistic min into a max.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .masks import MaskSettings, Reduce, baseline, classes, combine, offset, pooled, process_sum


def token_advantages(advantages: torch.Tensor, token_rewards: torch.Tensor, valid: torch.Tensor,
                     settings: MaskSettings, reduce: Reduce | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, T) masked advantages, (B, T) mask M) from (B,) sequence advantages and (B, T) token rewards (b and δ
    over every process's completions with `reduce`, masks.process_sum)."""
    b = baseline(token_rewards, valid, settings.baseline, reduce)
    delta = offset(token_rewards, valid, settings, reduce)
    cls = classes(token_rewards, valid, b, delta, settings.mode)
    mask = combine(cls, advantages > 0, settings.combination)
    return advantages[:, None] * mask.to(advantages.dtype), mask


def completion_token_rewards(reward, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                             completion_ids: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) token rewards of each completion (0 on padding), from `reward.per_token(prompt, completion)`."""
    out = torch.zeros(completion_ids.shape, dtype=torch.float32)
    for i in range(completion_ids.shape[0]):
        prompt = prompt_ids[i][prompt_mask[i].bool()].tolist()
        n = int(completion_mask[i].sum())
        if n:
            out[i, :n] = torch.tensor(reward.per_token(prompt, completion_ids[i, :n].tolist()), dtype=torch.float32)
    return out


def prompt_token_ids(tokenizer, prompt) -> list[int]:
    """The chat-formatted prompt's token ids (generation prompt included), as GRPO's completions follow it."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def sequence_reward(reward, tokenizer, pool: str = "mean") -> Callable:
    """A GRPO reward function (`reward_funcs`): the pooled token reward of each completion after its prompt."""

    def score(prompts: Sequence, completions: Sequence, completion_ids: Sequence[Sequence[int]], **_) -> list[float]:
        out = []
        for prompt, ids in zip(prompts, completion_ids):
            out.append(pooled(reward.per_token(prompt_token_ids(tokenizer, prompt), list(ids)) if len(ids) else [], pool))
        return out

    score.__name__ = f"token_reward_{pool}"
    return score


def adaptive_grpo_class(grpo_trainer_class):
    """A subclass of TRL's `GRPOTrainer` that masks each completion's advantages token by token."""

    class AdaptiveGRPOTrainer(grpo_trainer_class):
        def __init__(self, *args, mask_settings: MaskSettings, token_reward, **kwargs):
            self.mask_settings, self.token_reward = mask_settings, token_reward
            self.last_masks: torch.Tensor | None = None
            super().__init__(*args, **kwargs)

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            rewards = completion_token_rewards(self.token_reward, out["prompt_ids"].cpu(), out["prompt_mask"].cpu(),
                                               out["completion_ids"].cpu(), out["completion_mask"].cpu())
            valid = out["completion_mask"].cpu().bool()
            advantages, mask = token_advantages(out["advantages"].cpu(), rewards, valid, self.mask_settings,
                                                process_sum(self.accelerator))
            out["advantages"] = advantages.to(out["advantages"].device)
            self.last_masks = mask
            return out

    AdaptiveGRPOTrainer.__name__ = AdaptiveGRPOTrainer.__qualname__ = f"Adaptive{grpo_trainer_class.__name__}"
    return AdaptiveGRPOTrainer
