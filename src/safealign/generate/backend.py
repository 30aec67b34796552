"""The generation contract every backend keeps, and the transformers backend.

    backend.generate(prompts, **sampling) -> answers     # greedy unless do_sample=True; input order kept
    backend.identity                                     # everything that decides the answers, as JSON

The identity is what the answer cache keys on: the policy's weights (a file digest, known without loading
them), the backend and library versions, the source digest of the generating code and of any logits
processor. The model is loaded on first use only, so answers found in the cache need no weights on disk.
Logits processors (paper B's decoding-time filter) are named in the profile and built here from
`PROCESSORS`, never passed in as objects, so the identity can name them.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from .. import digest

# name -> (module that defines it, factory(tokenizer, settings) -> transformers.LogitsProcessor)
PROCESSORS: dict[str, tuple[str, Callable]] = {}


def register_processor(name: str, module: str, factory: Callable) -> None:
    """Make a logits processor available to every backend under `name` (`module`: its safealign module)."""
    PROCESSORS[name] = (module, factory)


class Backend(Protocol):
    identity: dict

    def generate(self, prompts: Sequence[str], **sampling) -> list: ...


def library_versions() -> dict[str, str]:
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__}


GENERATION_BACKENDS = ("transformers", "vllm")


def make_backend(settings, load: Callable[[], tuple], model_identity: dict, folder: str):
    """The profile's generation backend (eval.generation.backend) for the model at `folder`: transformers
    (loads through `load` on first use) or vLLM (loads `folder` itself)."""
    cfg = settings["eval"]["generation"]
    if cfg["backend"] == "vllm":
        from .vllm_backend import VLLMBackend

        return VLLMBackend(folder, model_identity, engine=dict(cfg["engine_args"]))
    if cfg["backend"] != "transformers":
        raise ValueError(f"eval.generation.backend {cfg['backend']!r} in profiles.yaml: choose one of "
                         f"{' | '.join(GENERATION_BACKENDS)}")
    if cfg["engine_args"]:
        raise ValueError(f"eval.generation.engine_args {dict(cfg['engine_args'])} apply to backend vllm only")
    return HFBackend(load, model_identity, settings=settings, folder=folder)


class HFBackend:
    """transformers' `generate` (generate.hf): batched, left-padded, seeded; loads the model lazily."""

    def __init__(self, load: Callable[[], tuple], model_identity: dict, logits_processor: str | None = None,
                 settings=None, folder: str | None = None):
        if logits_processor is not None and logits_processor not in PROCESSORS:
            raise ValueError(f"unknown logits processor {logits_processor!r}; registered: {sorted(PROCESSORS)}")
        self._load, self._loaded = load, None
        self._processor, self._settings = logits_processor, settings
        self.folder = folder  # the weights' folder or hub id, for engines that load the model themselves (vLLM)
        self.identity = {
            "backend": "transformers", "versions": library_versions(), "model": model_identity,
            "code": digest.code_digest(["generate.hf"]),
            "logits_processor": None if logits_processor is None else {
                "name": logits_processor, "code": digest.code_digest([PROCESSORS[logits_processor][0]])},
        }

    @property
    def model(self):
        return self._model_and_tokenizer()[0]

    @property
    def tokenizer(self):
        return self._model_and_tokenizer()[1]

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def _model_and_tokenizer(self):
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded

    def generate(self, prompts: Sequence[str], **sampling) -> list:
        from . import hf

        processors = None
        if self._processor is not None:
            from transformers import LogitsProcessorList

            processors = LogitsProcessorList([PROCESSORS[self._processor][1](self.tokenizer, self._settings)])
        return hf.generate(self.model, self.tokenizer, prompts, logits_processor=processors, **sampling)
