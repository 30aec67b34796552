"""Prompt-level splits shared by every notebook.

A prompt's split is a pure function of its normalised text, a seed and the fractions, so the data
notebook, the judge and the aligner agree without passing files around, and a prompt can never
appear in two splits (the judge must not learn from prompts the policy is aligned on).
"""

from __future__ import annotations

import hashlib
import re

SPLITS = ("policy_train", "judge_train", "test")


def normalise_prompt(prompt: str) -> str:
    return re.sub(r"\s+", " ", prompt).strip().lower()


def _unit_interval(text: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(prompt: str, fractions: dict[str, float], seed: int = 0) -> str:
    """The split ('policy_train' | 'judge_train' | 'test') that `prompt` belongs to."""
    if set(fractions) != set(SPLITS):
        raise ValueError(f"split fractions must name exactly {SPLITS}, got {sorted(fractions)}")
    if any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-9:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    u, edge = _unit_interval(normalise_prompt(prompt), seed), 0.0
    for name in SPLITS:
        edge += fractions[name]
        if u < edge:
            return name
    return SPLITS[-1]
