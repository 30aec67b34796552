"""Batched chat generation: chat template, left padding, KV cache, deterministic settings."""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm.auto import tqdm


def chat_inputs(tokenizer, prompts: Sequence[str], system: str | None = None) -> list[str]:
    texts = []
    for prompt in prompts:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        texts.append(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return texts


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 64, batch_size: int = 16,
             system: str | None = None, do_sample: bool = False, temperature: float = 1.0,
             num_return_sequences: int = 1, max_prompt_tokens: int = 512, seed: int = 0,
             desc: str = "generate", logits_processor=None) -> list[list[str]] | list[str]:
    """Answers to `prompts` (one string each, or a list of n strings when num_return_sequences > 1).

    Greedy by default. Prompts are sorted by length so batches pad little; results come back in the
    input order. Sampling is seeded per batch so the same call gives the same texts.
    """
    texts = chat_inputs(tokenizer, prompts, system)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    results: list = [None] * len(texts)
    device = next(model.parameters()).device
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", leave=False):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                            max_length=max_prompt_tokens, add_special_tokens=False).to(device)
            if do_sample:
                torch.manual_seed(seed + start)
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=do_sample,
                temperature=temperature if do_sample else None, top_p=None, top_k=None,
                num_return_sequences=num_return_sequences, pad_token_id=tokenizer.pad_token_id, use_cache=True,
                logits_processor=logits_processor,
            )
            decoded = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            for j, i in enumerate(idx):
                chunk = decoded[j * num_return_sequences:(j + 1) * num_return_sequences]
                results[i] = [t.strip() for t in chunk] if num_return_sequences > 1 else chunk[0].strip()
    finally:
        tokenizer.padding_side = padding_side
    return results
