"""Token masks of paper B's adaptive message-wise alignment (§3.2, eqs. 8, 12, 13), as pure functions.

Per-token rewards r_t come as a (B, T) tensor with a (B, T) bool `valid` (answer tokens; padding and
prompt are False). The baseline b is the mean reward over the valid tokens of the batch (paper B:
"the average reward of the whole batch"), or 0 ("assuming a perfect reward model"). The offset δ of
the neutral zone is never given in the paper; here δ = κ · std(r_t) over the batch's valid tokens,
or a fixed δ.

Classes (eq. 12): G = {r_t > b+δ} → +1, B = {r_t < b−δ} → −1, N otherwise → 0 (eq. 13). Two modes:
- `dead_zone`: eqs. 12-13 as printed, memoryless: each token on its own reward;
- `hysteresis`: a true Schmitt trigger: a token inside the neutral zone keeps the class of the token
  before it (a sequence starts neutral), so the class changes only when r_t crosses b±δ.

Two ways to combine the classes with chosen / rejected answers:
- `gated` (eq. 8 with the neutral zone): M = 1 on good tokens of a chosen answer and on bad tokens of a
  rejected one, 0 elsewhere — a 0/1 selection of the tokens that carry the preference;
- `signed` (eq. 13 as a weight): M = class on a chosen answer and −class on a rejected one, so in both
  answers good tokens are pushed up and bad tokens down (the DPO loss subtracts the rejected sum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

MODES = ("dead_zone", "hysteresis")
COMBINATIONS = ("gated", "signed")
BASELINES = ("batch_mean", "zero")


@dataclass(frozen=True)
class MaskSettings:
    mode: str = "dead_zone"
    combination: str = "gated"
    baseline: str = "batch_mean"
    kappa: float | None = 0.5     # δ = κ · std(r_t); give `delta` instead for a fixed offset
    delta: float | None = None

    def __post_init__(self):
        for name, value, allowed in (("mode", self.mode, MODES), ("combination", self.combination, COMBINATIONS),
                                     ("baseline", self.baseline, BASELINES)):
            if value not in allowed:
                raise ValueError(f"mask {name} {value!r}: expected one of {allowed}")
        if (self.kappa is None) == (self.delta is None):
            raise ValueError(f"mask: give exactly one of kappa (δ = κ·std) and delta, got kappa={self.kappa}, delta={self.delta}")
        if (self.kappa if self.kappa is not None else self.delta) < 0:
            raise ValueError("mask: the neutral-zone offset must be >= 0")


Reduce = Callable[[torch.Tensor], torch.Tensor]


def process_sum(accelerator) -> Reduce | None:
    """The `reduce` of baseline / offset for a launched run: a sum over its processes, so that b and δ are taken over
    the global batch, as one process taking the whole batch would take them (None for one process)."""
    if accelerator.num_processes == 1:
        return None
    return lambda t: accelerator.reduce(t.to(accelerator.device), "sum").to(t.device)


def _moments(values: torch.Tensor, reduce: Reduce) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(count, sum, sum of squares) of `values` over every process."""
    stats = reduce(torch.stack([values.new_tensor(float(values.numel())), values.sum(), (values ** 2).sum()]))
    if stats[0] == 0:
        raise ValueError("mask baseline: the batch has no valid tokens")
    return stats[0], stats[1], stats[2]


def baseline(rewards: torch.Tensor, valid: torch.Tensor, kind: str = "batch_mean", reduce: Reduce | None = None) -> torch.Tensor:
    if kind == "zero":
        return rewards.new_zeros(())
    if reduce is not None:
        n, total, _ = _moments(rewards[valid], reduce)
        return total / n
    if not valid.any():
        raise ValueError("mask baseline: the batch has no valid tokens")
    return rewards[valid].mean()


def offset(rewards: torch.Tensor, valid: torch.Tensor, settings: MaskSettings, reduce: Reduce | None = None) -> torch.Tensor:
    if settings.delta is not None:
        return rewards.new_tensor(settings.delta)
    if reduce is not None:
        n, total, squares = _moments(rewards[valid], reduce)
        return settings.kappa * (squares / n - (total / n) ** 2).clamp_min(0).sqrt()
    return settings.kappa * rewards[valid].std(unbiased=False)


def classes(rewards: torch.Tensor, valid: torch.Tensor, b: torch.Tensor | float, delta: torch.Tensor | float,
            mode: str = "dead_zone") -> torch.Tensor:
    """(B, T) long tensor of eq. 13's classes +1 / 0 / −1 (0 on invalid tokens)."""
    if mode not in MODES:
        raise ValueError(f"mask mode {mode!r}: expected one of {MODES}")
    above, below = rewards > b + delta, rewards < b - delta
    raw = above.long() - below.long()
    if mode == "dead_zone":
        return raw * valid.long()
    out = torch.zeros_like(raw)
    state = torch.zeros(rewards.shape[0], dtype=torch.long, device=rewards.device)
    for t in range(rewards.shape[1]):
        state = torch.where(raw[:, t] != 0, raw[:, t], state)
        state = torch.where(valid[:, t], state, torch.zeros_like(state))  # prompt and padding reset the trigger
        out[:, t] = state
    return out * valid.long()


def combine(cls: torch.Tensor, chosen: bool | torch.Tensor, combination: str = "gated") -> torch.Tensor:
    """Mask M from classes for chosen (True) or rejected (False) answers; a (B,) bool tensor per row works too."""
    if combination not in COMBINATIONS:
        raise ValueError(f"mask combination {combination!r}: expected one of {COMBINATIONS}")
    chosen_t = torch.as_tensor(chosen, device=cls.device).reshape(-1, *([1] * (cls.dim() - 1)))
    if combination == "gated":
        return torch.where(chosen_t, (cls == 1).long(), (cls == -1).long())
    return torch.where(chosen_t, cls, -cls)


def token_masks(chosen_rewards: torch.Tensor, chosen_valid: torch.Tensor, rejected_rewards: torch.Tensor,
                rejected_valid: torch.Tensor, settings: MaskSettings,
                reduce: Reduce | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(M_chosen, M_rejected) for a batch of preference pairs; b and δ are shared by the whole batch (with `reduce`,
    by the global batch of every process)."""
    all_r = torch.cat([chosen_rewards[chosen_valid], rejected_rewards[rejected_valid]])
    all_v = torch.ones_like(all_r, dtype=torch.bool)
    b = baseline(all_r, all_v, settings.baseline, reduce)
    delta = offset(all_r, all_v, settings, reduce)
    m_w = combine(classes(chosen_rewards, chosen_valid, b, delta, settings.mode), True, settings.combination)
    m_l = combine(classes(rejected_rewards, rejected_valid, b, delta, settings.mode), False, settings.combination)
    return m_w, m_l


def sft_labels(labels: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels for masked SFT (ARS): likelihood on M = +1 tokens, −100 elsewhere; and the M = −1 tokens
    as separate unlikelihood targets (−log(1 − p), bounded), never as gradient ascent on log p."""
    ignore = torch.full_like(labels, -100)
    keep = torch.where(mask == 1, labels, ignore)
    avoid = torch.where(mask == -1, labels, ignore)
    return keep, avoid


def pooled(values, pooling: str) -> float:
    """One score of a sequence's token rewards: their mean or their minimum (an empty sequence scores 0)."""
    if pooling not in ("mean", "min"):
        raise ValueError(f"adaptive.pooling {pooling!r}: choose mean or min")
    values = list(values) or [0.0]
    return float(min(values) if pooling == "min" else sum(values) / len(values))
