"""The answer cache: a hit needs the same weights, code, versions and arguments; judges are not in the key."""

import torch

from safealign import models
from safealign.answer_cache import AnswerCache


def tiny():
    return models.load_model("tiny-random-smollm2")


def test_the_same_call_is_generated_once_and_survives_a_reload(tmp_path):
    model, tokenizer = tiny()
    path = tmp_path / "m.answers.json"
    cache = AnswerCache(path, model, tokenizer)
    first = cache.generate(model, tokenizer, ["Hello", "How are you?"], max_new_tokens=4, desc="a")
    again = cache.generate(model, tokenizer, ["Hello", "How are you?"], max_new_tokens=4, desc="another label")
    assert first == again and (cache.hits, cache.misses) == (1, 1)
    reloaded = AnswerCache(path, model, tokenizer)
    assert reloaded.generate(model, tokenizer, ["Hello", "How are you?"], max_new_tokens=4) == first
    assert (reloaded.hits, reloaded.misses) == (1, 0)
    assert reloaded.cost == cache.entries[next(iter(cache.entries))]["seconds"]


def test_other_prompts_or_arguments_miss(tmp_path):
    model, tokenizer = tiny()
    cache = AnswerCache(tmp_path / "m.json", model, tokenizer)
    cache.generate(model, tokenizer, ["Hello"], max_new_tokens=4)
    cache.generate(model, tokenizer, ["Hello!"], max_new_tokens=4)
    cache.generate(model, tokenizer, ["Hello"], max_new_tokens=5)
    assert (cache.hits, cache.misses) == (0, 3)


def test_changed_weights_change_the_key(tmp_path):
    model, tokenizer = tiny()
    before = AnswerCache(tmp_path / "m.json", model, tokenizer).key("generate", ["generation"], {"a": 1})
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-3
    after = AnswerCache(tmp_path / "m.json", model, tokenizer).key("generate", ["generation"], {"a": 1})
    assert before != after


def test_saving_only_what_was_used_drops_stale_entries(tmp_path):
    model, tokenizer = tiny()
    path = tmp_path / "m.json"
    cache = AnswerCache(path, model, tokenizer)
    cache.get_or_run("x", ["generation"], {"n": 1}, lambda: [1, 2])
    cache.get_or_run("x", ["generation"], {"n": 2}, lambda: [3])
    later = AnswerCache(path, model, tokenizer)
    assert later.get_or_run("x", ["generation"], {"n": 2}, lambda: None) == [3]
    later.save(keep_only_used=True)
    assert len(AnswerCache(path, model, tokenizer).entries) == 1
