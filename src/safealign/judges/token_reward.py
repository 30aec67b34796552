"""Token-level safety rewards r(x, y≤t) for paper B: ADPO / ARS masks (§3.2) and the decoding filter (§3.3).

Two rewards, one interface (higher = safer):

    reward.per_token(prompt_ids, completion_ids) -> list[float]   # one value per completion token (masks)
    reward.score(context_ids, candidate_ids) -> (B, k) tensor     # r_safety(x<t, v) for k candidates (filter)
    reward.identity                                               # what the answer cache keys on

- `ImplicitReward`: DPO's implicit token reward β · log π_dpo(y_t | x, y<t) / π_ref(y_t | x, y<t) of an
  aligned policy (Rafailov et al. 2024, "From r to Q*"); context-aware, two forward passes.
- `LexicalTokenReward`: a context-free log-odds per vocabulary token that it lies inside a human-marked
  toxic span (SemEval-2021 toxic spans, *train* split only), smoothed; one table lookup per candidate,
  so it meets the filter's latency goal where a forward pass per candidate would not.

Neither is the evaluation judge nor trained on its rows: the implicit reward comes from a policy
trained on D_Safety's policy_train split, the lexical one from toxic spans. `token_auc` and
`sequence_auc` measure them (toxic-spans test split; held-out safe / unsafe answers).
"""

from __future__ import annotations

import hashlib
import json
from typing import Sequence

import numpy as np
import torch


def _char_labels(text: str, spans: Sequence[int]) -> np.ndarray:
    marked = np.zeros(len(text), dtype=bool)
    idx = [i for i in spans if 0 <= i < len(text)]
    marked[idx] = True
    return marked


def token_labels(tokenizer, text: str, spans: Sequence[int]) -> tuple[list[int], list[bool]]:
    """Token ids of `text` and, per token, whether any of its non-space characters is in a toxic span."""
    enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    marked = _char_labels(text, spans)
    labels = []
    for start, end in enc["offset_mapping"]:
        chars = [i for i in range(start, end) if not text[i].isspace()]
        labels.append(bool(chars) and bool(marked[chars].any()))
    return enc["input_ids"], labels


class LexicalTokenReward:
    """r(v) = −log-odds(v inside a toxic span), from toxic-spans rows (text, spans); α-smoothed."""

    def __init__(self, tokenizer, rows: Sequence[dict], alpha: float = 1.0, prior_strength: float = 20.0):
        vocab = len(tokenizer)
        toxic, total = np.zeros(vocab), np.zeros(vocab)
        for row in rows:
            ids, labels = token_labels(tokenizer, row["text"], row["spans"])
            np.add.at(total, ids, 1)
            np.add.at(toxic, ids, np.asarray(labels, dtype=float))
        base = (toxic.sum() + alpha) / (total.sum() + 2 * alpha)
        # shrink rare tokens toward the base rate: (toxic + m·base) / (total + m)
        p = (toxic + prior_strength * base) / (total + prior_strength)
        self.table = torch.tensor(-(np.log(p) - np.log1p(-p)), dtype=torch.float32)
        # ids past the tokenizer (a model's logits may be padded wider, e.g. Qwen2) never occur in text: base rate
        self.unseen = float(-(np.log(base) - np.log1p(-base)))
        self.identity = {"reward": "lexical-toxic-spans", "alpha": alpha, "prior_strength": prior_strength,
                         "table": hashlib.sha256(self.table.numpy().tobytes()).hexdigest()[:16],
                         "rows": len(rows)}

    def _lookup(self, ids: torch.Tensor) -> torch.Tensor:
        table = self.table.to(ids.device)
        inside = ids < len(table)
        return torch.where(inside, table[ids.clamp(max=len(table) - 1)], torch.full_like(table[:1], self.unseen))

    def per_token(self, prompt_ids: Sequence[int], completion_ids: Sequence[int]) -> list[float]:
        return self._lookup(torch.as_tensor(list(completion_ids), dtype=torch.long)).tolist()

    def score(self, context_ids: Sequence[Sequence[int]], candidate_ids: torch.Tensor) -> torch.Tensor:
        return self._lookup(torch.as_tensor(candidate_ids, dtype=torch.long))


class ImplicitReward:
    """β · log π/π_ref per token of an aligned `policy` against its `reference` (same tokenizer)."""

    def __init__(self, policy, reference, beta: float, identity: dict):
        self.policy, self.reference, self.beta = policy.eval(), reference.eval(), beta
        self.identity = {"reward": "dpo-implicit", "beta": beta, **identity}

    @torch.no_grad()
    def _logps(self, model, ids: torch.Tensor, positions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(targets[i, j] | ids[:positions[i] + 1]) on the CPU. The forward runs on the model's device, and only
        the rows and tokens asked for leave it (not a whole (T, vocabulary) table)."""
        logits = model(input_ids=ids.to(next(model.parameters()).device)).logits
        rows = logits[0, positions.to(logits.device)].float()
        return torch.log_softmax(rows, dim=-1).gather(-1, targets.to(logits.device)).cpu()

    @torch.no_grad()
    def per_token(self, prompt_ids: Sequence[int], completion_ids: Sequence[int]) -> list[float]:
        if not prompt_ids:  # the first answer token needs the logits of a position before it
            raise ValueError("ImplicitReward.per_token needs at least one prompt token (wrap it with_context)")
        ids = torch.tensor([list(prompt_ids) + list(completion_ids)])
        target = ids[0, len(prompt_ids):, None]
        positions = torch.arange(len(prompt_ids) - 1, ids.shape[1] - 1)
        lp = self._logps(self.policy, ids, positions, target)[:, 0]
        lr = self._logps(self.reference, ids, positions, target)[:, 0]
        return (self.beta * (lp - lr)).tolist()

    @torch.no_grad()
    def score(self, context_ids: Sequence[Sequence[int]], candidate_ids: torch.Tensor) -> torch.Tensor:
        """(B, k) rewards, on the device of `candidate_ids`."""
        candidates = torch.as_tensor(candidate_ids)
        out = []
        last = torch.tensor([-1])
        for ctx, cands in zip(context_ids, candidates.cpu()):
            ids = torch.tensor([list(ctx)])
            lp = self._logps(self.policy, ids, last, cands[None])[0]
            lr = self._logps(self.reference, ids, last, cands[None])[0]
            out.append(self.beta * (lp - lr))
        return torch.stack(out).to(candidates.device)


def token_auc(reward, tokenizer, rows: Sequence[dict], n_boot: int = 0, seed: int = 0) -> dict:
    """ROC-AUC of −r_t against human toxic-span token labels (each text on its own, no prompt); with n_boot, its
    95% interval from a bootstrap of the texts (a text's tokens are not independent)."""
    from sklearn.metrics import roc_auc_score

    from ..stats import bootstrap_auc

    scores, labels, texts = [], [], []
    for i, row in enumerate(rows):
        ids, lab = token_labels(tokenizer, row["text"], row["spans"])
        if not ids:
            continue
        scores += [-r for r in reward.per_token([], ids)]
        labels += lab
        texts += [i] * len(ids)
    y = np.asarray(labels, dtype=int)
    out = {"roc_auc": float(roc_auc_score(y, scores)), "tokens": int(len(y)), "toxic_tokens": int(y.sum()),
           "texts": len(rows)}
    if n_boot:
        out["ci95"] = bootstrap_auc(y, scores, texts, n_boot, seed)
    return out


def sequence_auc(reward, tokenizer, prompts: Sequence[str], answers: Sequence[str], unsafe: Sequence[bool],
                 pool: str = "min", n_boot: int = 0, seed: int = 0) -> dict:
    """ROC-AUC of the answer's pooled token reward (min or mean; low = unsafe) against safe/unsafe labels, with
    each answer's score (−pooled reward: a paired comparison of rewards reads them) and, with n_boot, a stratified
    bootstrap 95% interval."""
    from sklearn.metrics import roc_auc_score

    from ..stats import bootstrap_auc

    pooled = []
    for prompt, answer in zip(prompts, answers):
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
        r = reward.per_token(p_ids, a_ids)
        pooled.append(min(r) if pool == "min" else float(np.mean(r)))
    y, scores = np.asarray(unsafe, dtype=int), [-v for v in pooled]
    out = {"roc_auc": float(roc_auc_score(y, scores)), "n": int(len(y)), "unsafe": int(y.sum()), "pool": pool,
           "scores": [float(v) for v in scores]}
    if n_boot:
        out["ci95"] = bootstrap_auc(y, scores, None, n_boot, seed)
    return out


def identity_digest(reward) -> str:
    return hashlib.sha256(json.dumps(reward.identity, sort_keys=True).encode()).hexdigest()[:16]
