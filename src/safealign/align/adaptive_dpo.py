"""ADPO (paper B §3.2): DPO whose per-token log-ratios are weighted by the token masks of `align.masks`.

Paper B's eq. 10 as printed has no reference model and one mask per sequence; what is implemented is
eq. 7 (token-level DPO) with the mask inside the sums, for policy and reference alike:

    Δ = Σ_t M_w(t) · log π/π_ref (y_w,t)  −  Σ_t M_l(t) · log π/π_ref (y_l,t),     loss = −log σ(β Δ)

so M ≡ 1 is DPO exactly (pinned by tests/test_adaptive_dpo.py). The masks come from per-token safety
rewards stored with each pair (`chosen_token_rewards`, `rejected_token_rewards`, one per completion
token as TRL tokenizes it); the baseline b and offset δ are taken over each training batch, as paper B
says, so masks are made at loss time, not in advance.

How TRL is extended (trl 1.16, pinned by the formula tests): TRL sums `outputs.log_probs` over the
completion; a forward hook multiplies those per-token log-probs by M first, for the policy and for a
live reference model, so the whole of `DPOTrainer._compute_loss` (loss types, metrics) runs unchanged.
With a precomputed reference, the per-token reference log-probs are stored (`ref_*_token_logps`) and
their masked sums are handed to TRL as `ref_chosen_logps` / `ref_rejected_logps`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from .masks import MaskSettings, Reduce, process_sum, token_masks

REWARD_COLUMNS = ("chosen_token_rewards", "rejected_token_rewards")
REF_TOKEN_COLUMNS = ("ref_chosen_token_logps", "ref_rejected_token_logps")


def _aligned(examples: list[dict], column_of: Callable[[str], str], width: int) -> torch.Tensor:
    """(2B, width) tensor: prompt positions 0, then one value per completion token, then padding 0 —
    the layout of TRL's preference collator ([chosen rows; rejected rows], right-padded)."""
    out = torch.zeros(2 * len(examples), width)
    for half, side in enumerate(("chosen", "rejected")):
        for i, ex in enumerate(examples):
            start = len(ex["prompt_ids"])
            values = torch.as_tensor(ex[column_of(side)], dtype=torch.float32)[: max(0, width - start)]
            out[half * len(examples) + i, start:start + len(values)] = values
    return out


def collator_with_rewards(base):
    """Wrap TRL's `DataCollatorForPreference` so batches also carry `token_rewards` (and reference
    per-token log-probs when precomputed), laid out like `input_ids`."""

    def collate(examples: list[dict]) -> dict:
        stripped = [{k: v for k, v in ex.items() if k not in REWARD_COLUMNS + REF_TOKEN_COLUMNS} for ex in examples]
        batch = base(stripped)
        width = batch["input_ids"].shape[1]
        batch["token_rewards"] = _aligned(examples, lambda side: f"{side}_token_rewards", width)
        if REF_TOKEN_COLUMNS[0] in examples[0]:
            batch["ref_token_logps"] = _aligned(examples, lambda side: f"ref_{side}_token_logps", width)
        return batch

    return collate


@contextmanager
def masked_log_probs(modules: Sequence[torch.nn.Module], mask: torch.Tensor):
    """While active, every forward of `modules` returns `log_probs` multiplied by `mask` (2B, T−1)."""

    def hook(_module, _args, output):
        if getattr(output, "log_probs", None) is not None:
            length = output.log_probs.shape[1]
            output.log_probs = output.log_probs * mask[:, -length:].to(output.log_probs.dtype)
        return output

    handles = [m.register_forward_hook(hook) for m in modules if m is not None]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def batch_masks(batch: dict, settings: MaskSettings, reduce: Reduce | None = None) -> torch.Tensor:
    """M (2B, T) for a collated batch: eq. 8/13 masks from the batch's token rewards (b and δ over every process's
    batch with `reduce`, masks.process_sum)."""
    rewards, valid = batch["token_rewards"], batch["completion_mask"].bool()
    n = rewards.shape[0] // 2
    m_w, m_l = token_masks(rewards[:n], valid[:n], rewards[n:], valid[n:], settings, reduce)
    return torch.cat([m_w, m_l]).float()


def adaptive_dpo_class(dpo_trainer_class):
    """A subclass of `dpo_trainer_class` (TRL's `DPOTrainer` or a subclass of it) that trains ADPO."""

    class AdaptiveDPOTrainer(dpo_trainer_class):
        def __init__(self, *args, mask_settings: MaskSettings, token_reward: Callable | None = None,
                     mask_fn: Callable | None = None, **kwargs):
            self.mask_settings, self.token_reward = mask_settings, token_reward
            # mask_fn(batch, reduce) -> M; reduce sums over the processes of a launched run (None for one)
            self.mask_fn = mask_fn or (lambda batch, reduce: batch_masks(batch, mask_settings, reduce))
            super().__init__(*args, **kwargs)
            self.data_collator = collator_with_rewards(self.data_collator)
            self.last_masks: torch.Tensor | None = None

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            dataset = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
            if REWARD_COLUMNS[0] in dataset.column_names:
                return dataset
            if self.token_reward is None:
                raise ValueError(f"ADPO: the {dataset_name} dataset has no {REWARD_COLUMNS} and no token_reward was given")
            return dataset.map(TokenRewardColumns(self.token_reward), desc=f"Token rewards for {dataset_name}")

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            self._signature_columns = list(self._signature_columns) + [*REWARD_COLUMNS, *REF_TOKEN_COLUMNS]

        def _precompute_ref_logps(self, dataset, name, batch_size):
            rows = {c: [] for c in REF_TOKEN_COLUMNS}
            model = self.ref_model or self.model
            for start in range(0, len(dataset), batch_size):
                examples = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                batch = self.data_collator(examples)
                per_token = self._reference_token_logps(model, batch)
                n = len(examples)
                for i, ex in enumerate(examples):
                    p = len(ex["prompt_ids"])
                    rows["ref_chosen_token_logps"].append(per_token[i, p:p + len(ex["chosen_ids"])].tolist())
                    rows["ref_rejected_token_logps"].append(per_token[n + i, p:p + len(ex["rejected_ids"])].tolist())
            for column, values in rows.items():
                dataset = dataset.add_column(column, values)
            # TRL reads these sequence sums when precomputing; the loss replaces them by masked sums
            return dataset.add_column("ref_chosen_logps", [0.0] * len(dataset)).add_column(
                "ref_rejected_logps", [0.0] * len(dataset))

        @torch.no_grad()
        def _reference_token_logps(self, model, batch) -> torch.Tensor:
            """(2B, T) reference log-prob of each token given the ones before it (0 at the first position)."""
            device = self.accelerator.device
            keep = ("input_ids", "attention_mask")
            kwargs = {k: batch[k].to(device) for k in keep}
            labels = kwargs["input_ids"].masked_fill(batch["completion_mask"].to(device) == 0, -100)
            with self.accelerator.autocast():  # the precision the policy's forward runs in (bf16 on GPUs)
                out = model(**kwargs, labels=labels, use_cache=False, fused_lm_head=True).log_probs
            per_token = torch.zeros(batch["input_ids"].shape, dtype=torch.float32)
            per_token[:, 1:] = out[:, -(per_token.shape[1] - 1):].float().cpu()
            return per_token

        def _compute_loss(self, model, inputs, return_outputs):
            inputs = dict(inputs)
            rewards = inputs.pop("token_rewards")
            ref_token = inputs.pop("ref_token_logps", None)
            masks = self.mask_fn({**inputs, "token_rewards": rewards}, process_sum(self.accelerator)).to(rewards.device)
            self.last_masks = masks.detach()
            shifted = masks[:, 1:]
            if ref_token is not None:
                sums = (ref_token[:, 1:].to(masks.device) * shifted).sum(dim=1)
                inputs["ref_chosen_logps"], inputs["ref_rejected_logps"] = sums.chunk(2, dim=0)
            # the unwrapped policy: under DDP TRL may call it directly (a PEFT reference with adapters off), and a
            # hook on the wrapper alone would leave those log-probs unmasked
            policy = self.accelerator.unwrap_model(model)
            modules = [policy] + ([self.ref_model] if self.ref_model is not None and ref_token is None else [])
            with masked_log_probs(modules, shifted):
                return super()._compute_loss(model, inputs, return_outputs)

    AdaptiveDPOTrainer.__name__ = AdaptiveDPOTrainer.__qualname__ = f"Adaptive{dpo_trainer_class.__name__}"
    return AdaptiveDPOTrainer


@dataclass(frozen=True)
class TokenRewardColumns:
    """Adds per-token rewards to TRL-tokenized pairs with `reward(prompt_ids, completion_ids) -> list[float]`."""

    reward: Callable[[list[int], list[int]], list[float]]

    def __call__(self, example: dict) -> dict:
        out = {}
        for side in ("chosen", "rejected"):
            values = list(self.reward(example["prompt_ids"], example[f"{side}_ids"]))
            if len(values) != len(example[f"{side}_ids"]):
                raise ValueError(f"token reward gave {len(values)} values for {len(example[f'{side}_ids'])} {side} tokens")
            out[f"{side}_token_rewards"] = values
        return out
