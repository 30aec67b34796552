"""The vLLM backend keeps the generation contract: identity like the transformers backend's (and never
equal to it), prompts fed token for token as generate.hf feeds them, answers in input order. vLLM itself
is absent here (and on CI): a stand-in module plays the engine, and the real import is guarded."""

import sys
import types

import pytest

from safealign import models
from safealign.generate import backend as backends
from safealign.generate import vllm_backend
from safealign.generate.answer_cache import AnswerCache

MODEL = {"model": "tiny", "weights": "w0"}


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_model("tiny-random-smollm2")[1]


def hf_backend():
    return backends.HFBackend(lambda: models.load_model("tiny-random-smollm2"), MODEL)


def test_the_identity_has_the_transformers_contract_and_names_its_backend():
    hf, vl = hf_backend().identity, vllm_backend.VLLMBackend("tiny", MODEL).identity
    assert set(hf) <= set(vl) and vl["model"] == hf["model"] and vl["logits_processor"] is None
    assert vl["backend"] == "vllm" != hf["backend"]
    assert set(hf["versions"]) <= set(vl["versions"]) and "vllm" in vl["versions"]
    assert vl["engine"]["dtype"] == "bfloat16"


def test_the_cache_never_serves_one_backends_answers_to_the_other(tmp_path):
    key = lambda b: AnswerCache(tmp_path / "m.json", b).key("generate", ["generate.backend"], {"a": 1})  # noqa: E731
    assert key(vllm_backend.VLLMBackend("tiny", MODEL)) != key(hf_backend())
    assert key(vllm_backend.VLLMBackend("tiny", MODEL, engine={"dtype": "float32"})) != \
        key(vllm_backend.VLLMBackend("tiny", MODEL))
    assert key(vllm_backend.VLLMBackend("tiny", MODEL, engine={"gpu_memory_utilization": 0.5})) == \
        key(vllm_backend.VLLMBackend("tiny", MODEL))  # speed settings do not change answers


def test_prompts_are_the_token_ids_transformers_generates_from(tokenizer):
    from safealign.generate.hf import chat_inputs

    prompts = ["Hello", "How do I kill a Python process? " * 40]
    ids = vllm_backend.prompt_ids(tokenizer, prompts, None, max_prompt_tokens=64)
    expected = tokenizer(chat_inputs(tokenizer, prompts), truncation=True, max_length=64,
                         add_special_tokens=False)["input_ids"]
    assert ids == expected and len(ids[1]) == 64


def test_the_decoding_filter_is_refused():
    with pytest.raises(ValueError, match="logits processor 'risk_filter'"):
        vllm_backend.VLLMBackend("tiny", MODEL, logits_processor="risk_filter")


@pytest.mark.skipif(vllm_backend.vllm_version() is not None, reason="vLLM is installed")
def test_without_vllm_generation_says_how_to_get_it():
    with pytest.raises(ImportError, match="pip install vllm"):
        vllm_backend.VLLMBackend("tiny", MODEL).generate(["Hello"])


def test_generation_through_a_stand_in_engine(monkeypatch, tokenizer, tmp_path):
    calls = []

    class SamplingParams:
        def __init__(self, **kw):
            self.kw = kw

    class LLM:
        def __init__(self, model, **engine):
            calls.append(("engine", model, engine))

        def get_tokenizer(self):
            return tokenizer

        def generate(self, inputs, params, use_tqdm=True):
            calls.append(("generate", inputs, params.kw))
            out = types.SimpleNamespace
            return [out(outputs=[out(text=f" answer {i}.{j} ") for j in range(params.kw["n"])]) for i in range(len(inputs))]

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=LLM, SamplingParams=SamplingParams))
    backend = vllm_backend.VLLMBackend("tiny", MODEL, engine={"tensor_parallel_size": 2})
    assert backend.generate(["a", "b"], max_new_tokens=7) == ["answer 0.0", "answer 1.0"]
    assert backend.generate(["a"], do_sample=True, temperature=0.7, num_return_sequences=2, seed=3) == \
        [["answer 0.0", "answer 0.1"]]
    (_, model, engine), (_, inputs, greedy), (_, _, sampled) = calls
    assert model == "tiny" and engine["tensor_parallel_size"] == 2
    assert inputs[0]["prompt_token_ids"] == vllm_backend.prompt_ids(tokenizer, ["a"], None, 512)[0]
    assert greedy["temperature"] == 0.0 and greedy["max_tokens"] == 7 and greedy["seed"] is None
    assert (sampled["temperature"], sampled["n"], sampled["seed"]) == (0.7, 2, 3)
    cache = AnswerCache(tmp_path / "m.json", backend)
    assert cache.generate(["a"], max_new_tokens=7) == ["answer 0.0"] and cache.misses == 1


def _generation_settings(backend, engine_args=None):
    return {"eval": {"generation": {"backend": backend, "engine_args": engine_args or {}}}}


def test_the_profile_chooses_the_generation_backend():
    load = lambda: models.load_model("tiny-random-smollm2")  # noqa: E731
    hf = backends.make_backend(_generation_settings("transformers"), load, MODEL, "/models/tiny")
    assert isinstance(hf, backends.HFBackend) and hf.folder == "/models/tiny" and not hf.loaded
    vl = backends.make_backend(_generation_settings("vllm", {"tensor_parallel_size": 2, "dtype": "half"}), load, MODEL,
                               "/models/tiny")
    assert isinstance(vl, vllm_backend.VLLMBackend) and vl.identity["engine"]["dtype"] == "half"
    with pytest.raises(ValueError, match="eval.generation.backend 'sglang'"):
        backends.make_backend(_generation_settings("sglang"), load, MODEL, "/m")
    with pytest.raises(ValueError, match="apply to backend vllm only"):
        backends.make_backend(_generation_settings("transformers", {"dtype": "half"}), load, MODEL, "/m")
