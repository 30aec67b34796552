"""Answers a model generated, kept (and committed, for the cpu profile) so that judging them again never
means generating them again, nor even having the model's weights on disk.

An entry's key covers everything that decides the answers: the backend's identity (the policy's weights
digest, backend and library versions, the generating code's digest, any logits processor), the source
digest of the code that produced the value, and the call's arguments. Any change there misses the cache
and generates afresh. The judges are deliberately not in the key: a better judge re-scores the same
answers in seconds.

    cache = AnswerCache(path, backend)
    answers = cache.generate(prompts, max_new_tokens=48)          # like backend.generate
    scores = cache.get_or_run("general", ["capability.benchmarks"], inputs, lambda: ...)
    cache.save(keep_only_used=True)
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import digest, io


class AnswerCache:
    def __init__(self, path: str | Path, backend):
        self.path = Path(path)
        self.backend = backend
        try:
            self.entries: dict[str, Any] = io.read_json(self.path) if self.path.exists() else {}
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.path}: not a valid answer cache ({err}); delete it to regenerate") from None
        self.used: set[str] = set()
        self.hits = self.misses = 0
        self.cost = 0.0

    def key(self, call: str, code: Sequence[str], inputs: dict) -> str:
        payload = {"backend": self.backend.identity, "call": call, "code": digest.code_digest(code), "inputs": inputs}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=io._json_default).encode()).hexdigest()

    def get_or_run(self, call: str, code: Sequence[str], inputs: dict, run: Callable[[], Any]) -> Any:
        """The cached result of `run()` for these inputs; runs it (and saves) on a miss. `self.cost` adds up
        the seconds each used entry took when it was computed, hit or miss. `code`: the modules whose source
        (and what they import) decides the value."""
        key = self.key(call, code, inputs)
        self.used.add(key)
        if key in self.entries:
            self.hits += 1
        else:
            self.misses += 1
            start = time.time()
            value = run()
            # through JSON now, so a miss returns exactly what a later hit will
            # the inputs too, so the kept answers can be read (the answer browser) without the code that asked
            self.entries[key] = {"call": call, "inputs": json.loads(json.dumps(inputs, default=io._json_default)),
                                 "value": json.loads(json.dumps(value, default=io._json_default)),
                                 "seconds": round(time.time() - start, 1)}
            self.save()
        self.cost += self.entries[key]["seconds"]
        return self.entries[key]["value"]

    def generate(self, prompts: Sequence[str], **sampling) -> list:
        """backend.generate, cached; `desc` (the progress label) is not part of the key."""
        inputs = {"prompts": list(prompts), **{k: v for k, v in sampling.items() if k != "desc"}}
        return self.get_or_run("generate", ["generate.backend"], inputs,
                               lambda: self.backend.generate(prompts, **sampling))

    def save(self, keep_only_used: bool = False) -> None:
        if keep_only_used:
            self.entries = {k: v for k, v in self.entries.items() if k in self.used}
        io.write_json(self.path, self.entries)
