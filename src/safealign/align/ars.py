"""ARS (paper B §3.2, eq. 11): adaptive rejection sampling — best of N by the safety reward, then SFT
on the kept answer with token masks.

1. `best_of_n`: sample N answers per prompt from the policy, keep the one whose pooled token reward is
   highest (the reward model, never the evaluation judge);
2. `masked_rows`: token rewards of each kept answer → classes (eqs. 12-13, baseline and offset over the
   whole set) → `labels` (−100 where M ≠ +1) and `avoid_labels` (the M = −1 tokens);
3. `MaskedSFTTrainer`: TRL's `SFTTrainer`; with no M = −1 token in a batch its loss is TRL's own,
   unchanged. M = −1 tokens get an unlikelihood term λ·(−log(1 − p)) instead of the unbounded gradient
   ascent on log p that M = −1 would mean inside plain SFT. Paper B's KL term (eq. 11) is left to the
   LoRA / short-schedule recipe, as for every SFT run of the book (it says so).

The loss is a sum over kept (and avoided) tokens divided by the number of *answer* tokens (column
`answer_labels`), not by the kept ones TRL would count: masking removes terms from E[·M], as paper B's
gradient masking does, and a masked run takes no larger step per kept token than RS, its baseline.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .masks import MaskSettings, baseline, classes, offset, sft_labels

AVOID = "avoid_labels"
ANSWER = "answer_labels"   # every answer token (what RS would learn): the loss's denominator


def best_of_n(candidates: Sequence[Sequence[str]], rewards: Sequence[Sequence[float]]) -> list[int]:
    """Index of the best candidate per prompt (ties: the first, so the choice is deterministic)."""
    out = []
    for i, (cands, scores) in enumerate(zip(candidates, rewards)):
        if len(cands) != len(scores) or not cands:
            raise ValueError(f"prompt {i}: {len(cands)} candidates but {len(scores)} rewards")
        out.append(max(range(len(scores)), key=lambda j: (scores[j], -j)))
    return out


def masked_rows(prompt_ids: Sequence[Sequence[int]], answer_ids: Sequence[Sequence[int]],
                token_rewards: Sequence[Sequence[float]], settings: MaskSettings) -> list[dict]:
    """Pre-tokenized SFT rows: input_ids = prompt + answer; labels / avoid_labels from the answer's masks.
    The baseline and offset are taken over every answer token of the set (one 'batch')."""
    width = max(len(a) for a in answer_ids)
    r = torch.zeros(len(answer_ids), width)
    valid = torch.zeros(len(answer_ids), width, dtype=torch.bool)
    for i, (a, rw) in enumerate(zip(answer_ids, token_rewards)):
        if len(rw) != len(a):
            raise ValueError(f"answer {i}: {len(rw)} token rewards for {len(a)} tokens")
        r[i, :len(a)] = torch.tensor(rw, dtype=torch.float32)
        valid[i, :len(a)] = True
    b = baseline(r, valid, settings.baseline)
    delta = offset(r, valid, settings)
    cls = classes(r, valid, b, delta, settings.mode)
    mask = cls if settings.combination == "signed" else (cls == 1).long()
    rows = []
    for i, (p, a) in enumerate(zip(prompt_ids, answer_ids)):
        ids = torch.tensor(list(a))
        keep, avoid = sft_labels(ids[None], mask[i:i + 1, :len(a)])
        rows.append({"input_ids": list(p) + list(a), "labels": [-100] * len(p) + keep[0].tolist(),
                     AVOID: [-100] * len(p) + avoid[0].tolist(), ANSWER: [-100] * len(p) + list(a)})
    return rows


def _with_token_columns(base: Callable) -> Callable:
    """The SFT collator, plus AVOID and ANSWER padded with −100 to the batch's width."""
    def collate(examples: list[dict]) -> dict:
        batch = base([{k: v for k, v in ex.items() if k not in (AVOID, ANSWER)} for ex in examples])
        width = batch["input_ids"].shape[1]
        for column in (AVOID, ANSWER):
            if not any(column in ex for ex in examples):
                continue
            padded = torch.full((len(examples), width), -100, dtype=torch.long)
            for i, ex in enumerate(examples):
                values = torch.tensor(ex.get(column, [])[:width], dtype=torch.long)
                padded[i, :len(values)] = values
            batch[column] = padded
        return batch

    return collate


def masked_sft_class(sft_trainer_class):
    """A subclass of TRL's `SFTTrainer` (or a subclass) that adds the unlikelihood term for M = −1 tokens and
    averages over every answer token (ANSWER; TRL's count of kept labels when rows have no ANSWER)."""

    class MaskedSFTTrainer(sft_trainer_class):
        def __init__(self, *args, unlikelihood_weight: float = 1.0, **kwargs):
            self.unlikelihood_weight = unlikelihood_weight
            super().__init__(*args, **kwargs)
            self.data_collator = _with_token_columns(self.data_collator)

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            self._signature_columns = list(self._signature_columns) + [AVOID, ANSWER]

        def _get_num_items_in_batch(self, batch_samples, device):
            counted = [{**b, "labels": b[ANSWER]} if ANSWER in b else b for b in batch_samples]
            return super()._get_num_items_in_batch(counted, device)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)
            avoid, answer = inputs.pop(AVOID, None), inputs.pop(ANSWER, None)
            counted_everywhere = num_items_in_batch is not None   # the Trainer's count, summed over processes
            if num_items_in_batch is None and answer is not None:
                num_items_in_batch = (answer[:, 1:] != -100).sum()
            if avoid is None or not (avoid != -100).any():
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # one forward over both kinds of target: log p at every kept and every avoided token
            targets = torch.where(avoid != -100, avoid, inputs["labels"])
            outputs = model(**{**inputs, "labels": targets, "use_cache": False}, fused_lm_head=True)
            logp = outputs.log_probs
            avoided = (avoid[:, 1:] != -100)[:, -logp.shape[1]:]
            nll = -(logp * ~avoided).sum()
            unlikely = -(torch.log1p(-logp.exp().clamp(max=1 - 1e-6)) * avoided).sum()
            count = (targets[:, 1:] != -100).sum() if num_items_in_batch is None else num_items_in_batch
            loss = (nll + self.unlikelihood_weight * unlikely) / torch.as_tensor(count).clamp(min=1)
            if counted_everywhere and self.args.average_tokens_across_devices and (
                    self.model_accepts_loss_kwargs or self.compute_loss_func):
                # as Trainer.compute_loss does: the count is over every process and DDP averages gradients
                loss = loss * (self.accelerator.num_processes // self.get_tp_size() if self.args.n_gpu <= 1
                               else self.args.n_gpu)
            return (loss, outputs) if return_outputs else loss

    MaskedSFTTrainer.__name__ = MaskedSFTTrainer.__qualname__ = f"Masked{sft_trainer_class.__name__}"
    return MaskedSFTTrainer
