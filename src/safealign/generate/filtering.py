"""Harmful-token filtering at generation (paper B §3.3, eq. 14 and Algorithm 1) as a `LogitsProcessor`.

At each step, for each sequence, the top-k next tokens v are rescored

    s(v) = log p(v | x<t) + w · r_safety(x[t-200:t], v)          (eq. 14)

and every candidate that *completes* an entity of the risk store gets s(v) = −∞ (Algorithm 1). Two
departures from the printed algorithm, both on purpose:
- the forbidden-entity test is made per candidate (the printed loop tests it once, outside the loop
  over candidates);
- when all k candidates are forbidden, k is widened (×4, up to `max_k`); if every candidate is still
  forbidden the sequence ends (EOS): ending an answer early is the safe continuation that needs no
  made-up text.
Tokens outside the top k get −∞, so greedy decoding picks the best allowed candidate; with w = 0 and
nothing forbidden the choice is plain greedy's, token for token.

"Completes" is tested on text, not token ids: the generated tail plus the candidate is decoded and
normalised (`risk.normalise`), and a whole-word match that ends past the text the tail alone already
spelt forbids it — so multi-token spellings, leading-space variants, case and spacing tricks are all
caught. "Already spelt" is the common prefix of the two texts, not the tail's length: with byte-level
BPE a tail that stops inside a multi-byte character decodes to U+FFFD, and the candidate that finishes
the character rewrites the tail's end (and can make the text shorter). The prompt is not tested: an
entity the user wrote is not one the model completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import torch

from safealign.risk.matcher import EntityMatcher, normalise

ENTITY_WINDOW_TOKENS = 40    # the first look-back; widened until it holds the longest entity (see _tail)
REWARD_WINDOW_TOKENS = 200   # eq. 14's context for r_safety
REPLACEMENT = "\ufffd"        # what byte-level BPE decodes an unfinished multi-byte character to


class TokenSafetyReward(Protocol):
    """r_safety(context, v): higher is safer (judges.token_reward). `identity` names it for the answer cache."""

    identity: dict

    def score(self, context_ids: Sequence[Sequence[int]], candidate_ids: torch.Tensor) -> torch.Tensor:
        """(B, k) rewards for the candidate next tokens `candidate_ids[b]` after `context_ids[b]`."""
        ...


@dataclass
class FilterTrace:
    """What the filter did, for the book's token-by-token example and the latency/blocking counts."""

    steps: int = 0
    blocked: int = 0        # candidates set to −∞ because they complete a stored entity
    widened: int = 0        # times k was widened because every candidate was forbidden
    ended: int = 0          # times a sequence was ended (EOS) because everything was forbidden
    events: list = field(default_factory=list)  # (row, step, blocked candidate texts, chosen text), if kept


class RiskFilter:
    """transformers `LogitsProcessor` for greedy decoding with the store's `matcher` and an optional reward."""

    def __init__(self, tokenizer, matcher: EntityMatcher, k: int = 10, weight: float = 0.0,
                 reward: TokenSafetyReward | None = None, max_k: int = 160, keep_events: bool = False):
        if k < 1 or max_k < k:
            raise ValueError(f"filter: need 1 <= k <= max_k, got k={k}, max_k={max_k}")
        if weight and reward is None:
            raise ValueError("filter: weight w > 0 needs a safety reward")
        self.tokenizer, self.matcher, self.k, self.max_k = tokenizer, matcher, k, max_k
        self._longest_entity = max(map(len, matcher.entities), default=0)  # normalised characters
        self.weight, self.reward, self.keep_events = weight, reward, keep_events
        self.trace = FilterTrace()
        self._previous: torch.Tensor | None = None
        self._prompt_length = 0

    # a new batch is any call that does not extend the previous call's sequences by one token
    def _track_batch(self, input_ids: torch.Tensor) -> None:
        p = self._previous
        if (p is None or p.shape[0] != input_ids.shape[0] or p.shape[1] + 1 != input_ids.shape[1]
                or not torch.equal(p, input_ids[:, :-1])):
            self._prompt_length = input_ids.shape[1]
        self._previous = input_ids

    def _completes_entity(self, generated: list[int], candidates: list[int]) -> list[bool]:
        if not len(self.matcher):
            return [False] * len(candidates)
        tail, tail_text = self._tail(generated)
        texts = self.tokenizer.batch_decode([tail + [c] for c in candidates], skip_special_tokens=True)
        out = []
        for text in texts:
            norm = normalise(text)
            unchanged = _common_prefix_length(tail_text, norm)
            out.append(any(m.end > unchanged for m in self.matcher.find(norm, normalised=True)))
        return out

    def _tail(self, generated: list[int]) -> tuple[list[int], str]:
        """The generated tokens an entity ending in the next token can start in, and their normalised text.

        Forty tokens usually hold far more than the longest entity, but a tail spelt one character (or one
        byte) per token may not: the window doubles until its text is longer than the longest stored entity
        (plus one character, for the whole-word test at its start) or holds everything generated. A window
        that starts inside a multi-byte character (its text starts with U+FFFD) is widened too, so the
        character before an entity is the real one.
        """
        need = self._longest_entity + 1
        window = ENTITY_WINDOW_TOKENS
        while True:
            tail = generated[-window:]
            text = normalise(self.tokenizer.decode(tail, skip_special_tokens=True))
            if (len(text) > need and not text.startswith(REPLACEMENT)) or window >= len(generated):
                return tail, text
            window *= 2

    def _allowed(self, generated: list[int], logp_row: torch.Tensor, k: int):
        values, indices = logp_row.topk(min(k, logp_row.shape[-1]))
        forbidden = torch.tensor(self._completes_entity(generated, indices.tolist()), dtype=torch.bool)
        # a candidate an earlier processor already set to -inf is no choice: with it, all-forbidden must still widen k
        return values, indices, forbidden | ~torch.isfinite(values)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._track_batch(input_ids)
        self.trace.steps += 1
        logp = torch.log_softmax(scores.float(), dim=-1)
        out = torch.full_like(scores, float("-inf"))
        rows = []
        for b in range(input_ids.shape[0]):
            generated = input_ids[b, self._prompt_length:].tolist()
            k = self.k
            values, indices, forbidden = self._allowed(generated, logp[b], k)
            while forbidden.all() and k < self.max_k:
                k = min(4 * k, self.max_k)
                self.trace.widened += 1
                values, indices, forbidden = self._allowed(generated, logp[b], k)
            self.trace.blocked += int(forbidden.sum())
            rows.append((b, generated, values, indices, forbidden))
        if self.weight and self.reward is not None:
            contexts = [self._unpadded(input_ids[b, -REWARD_WINDOW_TOKENS:].tolist()) for b, *_ in rows]
            rewards = self._rewards(contexts, [idx for *_, idx, _ in rows])
        for i, (b, generated, values, indices, forbidden) in enumerate(rows):
            adjusted = values.clone()
            if self.weight and self.reward is not None:
                adjusted = adjusted + self.weight * rewards[i][: len(values)]
            adjusted[forbidden] = float("-inf")
            if forbidden.all():
                self.trace.ended += 1
                out[b, self._end_token()] = 0.0
            else:
                out[b, indices] = adjusted.to(out.dtype)
            if self.keep_events and forbidden.any():
                chosen = int(indices[adjusted.argmax()]) if not forbidden.all() else self._end_token()
                self.trace.events.append({
                    "row": b, "step": len(generated), "so_far": self.tokenizer.decode(generated[-ENTITY_WINDOW_TOKENS:]),
                    "blocked": [self.tokenizer.decode([int(t)]) for t in indices[forbidden]],
                    "chosen": self.tokenizer.decode([chosen])})
        return out

    def _rewards(self, contexts: list[list[int]], candidates: list[torch.Tensor]) -> list[torch.Tensor]:
        width = max(len(c) for c in candidates)
        eos = self._end_token()
        padded = torch.stack([torch.cat([c, c.new_full((width - len(c),), eos)]) for c in candidates])
        scores = torch.as_tensor(self.reward.score(contexts, padded), dtype=torch.float32)
        if scores.shape != (len(contexts), width):
            raise ValueError(f"filter: the safety reward returned shape {tuple(scores.shape)}, "
                             f"expected {(len(contexts), width)}")
        return list(scores)

    def _unpadded(self, ids: list[int]) -> list[int]:
        pad, start = self.tokenizer.pad_token_id, 0
        while start < len(ids) - 1 and ids[start] == pad:  # left padding of the batch
            start += 1
        return ids[start:]

    def _end_token(self) -> int:
        eos = self.tokenizer.eos_token_id
        return eos[0] if isinstance(eos, list) else eos


def _common_prefix_length(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
