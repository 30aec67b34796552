"""The vLLM generation backend (gpu profile): the same contract as `backend.HFBackend`.

    backend = VLLMBackend("Qwen/Qwen2-7B-Instruct", {"hub_id": ...}, engine={"tensor_parallel_size": 2})
    backend.generate(prompts, max_new_tokens=256)      # greedy; input order kept; one string per prompt
    backend.identity                                   # what the answer cache keys on

vLLM is imported on first generation only, so the identity (and the answer cache) work on machines without
it, such as the cpu profile's. Prompts go through the model's chat template exactly as `generate.hf` sends
them, and answers are stripped the same way, so a cached answer means the same thing whichever backend
wrote it; the identity names the backend, so the cache never mixes them. vLLM batches on its own
(continuous batching): `batch_size` is accepted and ignored. Paper B's decoding-time filter is a
transformers `LogitsProcessor` and is not available here (the constructor refuses it).
"""

from __future__ import annotations

from importlib import metadata
from typing import Sequence

from .. import digest
from .backend import library_versions

# engine settings that change the answers, and so belong to the identity (the rest only change speed)
ANSWER_ENGINE_KEYS = ("dtype", "max_model_len", "quantization", "tokenizer_mode", "seed")


def vllm_version() -> str | None:
    try:
        return metadata.version("vllm")
    except metadata.PackageNotFoundError:
        return None


def start_engine(model: str, engine_args: dict, who: str, instead: str):
    """vLLM's `LLM` for `model`, imported only now; without vLLM, an error saying who needed it and what to use."""
    try:
        from vllm import LLM
    except ImportError as err:
        raise ImportError(f"{who} needs vLLM (`pip install vllm` on a CUDA machine); {instead}") from err
    return LLM(model=model, **engine_args)


def prompt_ids(tokenizer, prompts: Sequence[str], system: str | None, max_prompt_tokens: int) -> list[list[int]]:
    """Token ids of each chat prompt exactly as generate.hf feeds them: the chat template, no extra special
    tokens, the first max_prompt_tokens kept (transformers truncates on the right)."""
    from .hf import chat_inputs

    return [tokenizer(text, add_special_tokens=False)["input_ids"][:max_prompt_tokens]
            for text in chat_inputs(tokenizer, prompts, system)]


class VLLMBackend:
    def __init__(self, model: str, model_identity: dict, engine: dict | None = None, logits_processor: str | None = None):
        if logits_processor is not None:
            raise ValueError(f"the vLLM backend cannot run logits processor {logits_processor!r} (a transformers "
                             "LogitsProcessor); generate with the transformers backend instead")
        self._model, self._engine_args, self._llm = model, {"dtype": "bfloat16", "seed": 0, **(engine or {})}, None
        self.identity = {
            "backend": "vllm", "versions": {**library_versions(), "vllm": vllm_version()}, "model": model_identity,
            "engine": {k: self._engine_args.get(k) for k in ANSWER_ENGINE_KEYS},
            "code": digest.code_digest(["generate.vllm_backend"]),
            "logits_processor": None,
        }

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def _engine(self):
        if self._llm is None:
            self._llm = start_engine(self._model, self._engine_args, "the vLLM backend",
                                     "the cpu profile generates with transformers")
        return self._llm

    def sampling_params(self, max_new_tokens: int = 64, do_sample: bool = False, temperature: float = 1.0,
                        num_return_sequences: int = 1, seed: int = 0):
        from vllm import SamplingParams

        return SamplingParams(n=num_return_sequences, max_tokens=max_new_tokens,
                              temperature=temperature if do_sample else 0.0, seed=seed if do_sample else None,
                              skip_special_tokens=True)

    def generate(self, prompts: Sequence[str], max_new_tokens: int = 64, batch_size: int | None = None,
                 system: str | None = None, do_sample: bool = False, temperature: float = 1.0,
                 num_return_sequences: int = 1, max_prompt_tokens: int = 512, seed: int = 0,
                 desc: str = "generate") -> list:
        llm = self._engine()
        params = self.sampling_params(max_new_tokens, do_sample, temperature, num_return_sequences, seed)
        outputs = llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids(llm.get_tokenizer(), prompts, system,
                                                                                  max_prompt_tokens)],
                               params, use_tqdm=True)
        answers = [[o.text.strip() for o in out.outputs] for out in outputs]
        return answers if num_return_sequences > 1 else [a[0] for a in answers]
