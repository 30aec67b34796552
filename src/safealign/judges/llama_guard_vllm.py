"""Llama Guard 3 through vLLM (the gpu profile's judge at scale): the same verdicts as `llama_guard`'s
transformers judge, from the same token ids.

    judge = VLLMLlamaGuardJudge("meta-llama/Llama-Guard-3-8B", engine={"tensor_parallel_size": 1})
    judge.judge(prompts, responses)       # [Verdict(safe, score=P(unsafe), category)]

The conversation goes through Llama Guard's chat template exactly as the transformers judge encodes it
and is sent as token ids; decoding is greedy. P(unsafe) is read from the first generated token's
log-probabilities, renormalised over "safe" and "unsafe" as the transformers judge does over the full
softmax; vLLM returns only the top `logprobs` tokens, so a word outside them counts as probability 0 (with
20 of them this happens only when neither word leads, and then the parsed verdict decides, as it does for
the transformers judge on an unparseable answer). vLLM is imported on first use only.
"""

from __future__ import annotations

import math
from .base import Verdict
from .llama_guard import TEMPLATE, LlamaGuardJudge, UnparseableVerdict, category_names, parse_output

TOP_LOGPROBS = 20


class VLLMLlamaGuardJudge(LlamaGuardJudge):
    def __init__(self, model: str, engine: dict | None = None, name: str | None = None, max_new_tokens: int = 10,
                 tokenizer=None):
        self.model_id, self.engine = model, {"dtype": "bfloat16", "seed": 0, **(engine or {})}
        self.name, self.max_new_tokens, self._llm = name or model.rsplit("/", 1)[-1].lower(), max_new_tokens, None
        self.batch_size = 1 << 30      # vLLM batches on its own; equal lengths keep no padding anyway
        if tokenizer is None:
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(model)
        self.tokenizer = tokenizer
        if tokenizer.chat_template is None:
            tokenizer.chat_template = TEMPLATE
        self.safe_id, self.unsafe_id = (tokenizer.encode(w, add_special_tokens=False)[0] for w in ("safe", "unsafe"))
        if self.safe_id == self.unsafe_id:
            raise ValueError("the tokenizer gives 'safe' and 'unsafe' the same first token; cannot score P(unsafe)")

    def _engine(self):
        if self._llm is None:
            from ..generate.vllm_backend import start_engine

            self._llm = start_engine(self.model_id, self.engine, "Llama Guard through vLLM",
                                     "the transformers judge (judges.llama_guard) runs without it")
        return self._llm

    def p_unsafe(self, first_logprobs: dict) -> float | None:
        """P(unsafe) / (P(safe) + P(unsafe)) from the first token's top log-probabilities (None: neither is there)."""
        def prob(token_id: int) -> float:
            entry = first_logprobs.get(token_id)
            return 0.0 if entry is None else math.exp(getattr(entry, "logprob", entry))

        safe, unsafe = prob(self.safe_id), prob(self.unsafe_id)
        return None if safe + unsafe == 0 else unsafe / (safe + unsafe)

    def _one_batch(self, batch: list[list[int]]) -> list[Verdict]:
        llm = self._engine()
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=self.max_new_tokens, temperature=0.0, logprobs=TOP_LOGPROBS,
                                skip_special_tokens=True)
        outputs = llm.generate([{"prompt_token_ids": ids} for ids in batch], params, use_tqdm=False)
        verdicts = []
        for out in outputs:
            completion = out.outputs[0]
            score = self.p_unsafe(completion.logprobs[0]) if completion.logprobs else None
            try:
                safe, codes = parse_output(completion.text)
            except UnparseableVerdict:
                if score is None:
                    raise
                safe, codes = score < 0.5, []
            if score is None:
                score = 0.0 if safe else 1.0
            verdicts.append(Verdict(safe=safe, score=float(score), category=category_names(codes)))
        return verdicts
