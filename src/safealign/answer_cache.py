"""Answers a model generated, kept so that judging them again does not mean generating them again.

An entry's key covers everything that decides the answers: a digest of the model's weights, its chat
template, the source of the code that generates, the torch/transformers versions and the call's
arguments. Any change there misses the cache and generates afresh. The judges are deliberately not in
the key: a better judge re-scores the same answers in seconds instead of minutes.

    cache = AnswerCache(path, model, tokenizer)
    answers = cache.generate(model, tokenizer, prompts, max_new_tokens=48)       # like generation.generate
    scores = cache.get_or_run("general", ["capability", "generation"], inputs, lambda: ...)
    cache.save(keep_only_used=True)
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from . import generation, io, paths


def weights_digest(model) -> str:
    """sha256 over every tensor of the model (name, dtype, shape, bytes), in name order."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        # as raw bytes (numpy has no bfloat16)
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def _source_digest(modules: Sequence[str]) -> dict[str, str]:
    return {m: hashlib.sha256((paths.PACKAGE_DIR / f"{m}.py").read_bytes()).hexdigest() for m in modules}


def _versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


class AnswerCache:
    def __init__(self, path: str | Path, model, tokenizer):
        self.path = Path(path)
        self.model_key = {"weights": weights_digest(model), "chat_template": tokenizer.chat_template or "",
                          "vocab": len(tokenizer), "versions": _versions()}
        self.entries: dict[str, Any] = io.read_json(self.path) if self.path.exists() else {}
        self.used: set[str] = set()
        self.hits = self.misses = 0
        self.cost = 0.0

    def key(self, call: str, code: Sequence[str], inputs: dict) -> str:
        payload = {"model": self.model_key, "call": call, "code": _source_digest(code), "inputs": inputs}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    def get_or_run(self, call: str, code: Sequence[str], inputs: dict, run: Callable[[], Any]) -> Any:
        """The cached result of `run()` for these inputs; runs it (and saves) on a miss. `self.cost` adds up
        the seconds each used entry took when it was computed, hit or miss."""
        key = self.key(call, code, inputs)
        self.used.add(key)
        if key in self.entries:
            self.hits += 1
        else:
            self.misses += 1
            start = time.time()
            value = run()
            # through JSON now, so a miss returns exactly what a later hit will
            self.entries[key] = {"value": json.loads(json.dumps(value, default=io._json_default)),
                                 "seconds": round(time.time() - start, 1)}
            self.save()
        self.cost += self.entries[key]["seconds"]
        return self.entries[key]["value"]

    def generate(self, model, tokenizer, prompts: Sequence[str], **kwargs) -> list:
        """generation.generate, cached; `desc` (the progress label) is not part of the key."""
        inputs = {"prompts": list(prompts), **{k: v for k, v in kwargs.items() if k != "desc"}}
        return self.get_or_run("generate", ["generation"], inputs,
                               lambda: generation.generate(model, tokenizer, prompts, **kwargs))

    def save(self, keep_only_used: bool = False) -> None:
        if keep_only_used:
            self.entries = {k: v for k, v in self.entries.items() if k in self.used}
        io.write_json(self.path, self.entries)
