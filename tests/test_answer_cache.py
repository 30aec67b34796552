"""The answer cache: a hit needs the same backend identity (weights digest, code, versions, logits
processor) and the same arguments; judges are not in the key, and a hit never loads the model."""

import pytest

from safealign import models
from safealign.generate import backend as backends
from safealign.generate.answer_cache import AnswerCache


def tiny_backend(weights="w0", loads=None, processor=None):
    def load():
        if loads is not None:
            loads.append(1)
        return models.load_model("tiny-random-smollm2")
    return backends.HFBackend(load, {"model": "tiny", "weights": weights}, logits_processor=processor)


def test_the_same_call_is_generated_once_and_survives_a_reload(tmp_path):
    path = tmp_path / "m.json"
    cache = AnswerCache(path, tiny_backend())
    first = cache.generate(["Hello", "How are you?"], max_new_tokens=4, desc="a")
    again = cache.generate(["Hello", "How are you?"], max_new_tokens=4, desc="another label")
    assert first == again and (cache.hits, cache.misses) == (1, 1)
    reloaded = AnswerCache(path, tiny_backend())
    assert reloaded.generate(["Hello", "How are you?"], max_new_tokens=4) == first
    assert (reloaded.hits, reloaded.misses) == (1, 0)
    assert reloaded.cost == cache.entries[next(iter(cache.entries))]["seconds"]


def test_a_hit_never_loads_the_model(tmp_path):
    path = tmp_path / "m.json"
    AnswerCache(path, tiny_backend()).generate(["Hello"], max_new_tokens=4)
    loads = []
    backend = tiny_backend(loads=loads)
    AnswerCache(path, backend).generate(["Hello"], max_new_tokens=4)
    assert loads == [] and not backend.loaded


def test_other_prompts_or_arguments_miss(tmp_path):
    cache = AnswerCache(tmp_path / "m.json", tiny_backend())
    cache.generate(["Hello"], max_new_tokens=4)
    cache.generate(["Hello!"], max_new_tokens=4)
    cache.generate(["Hello"], max_new_tokens=5)
    assert (cache.hits, cache.misses) == (0, 3)


def test_the_cache_misses_when_the_backend_identity_changes(tmp_path, monkeypatch):
    key = lambda b: AnswerCache(tmp_path / "m.json", b).key("generate", ["generate.backend"], {"a": 1})  # noqa: E731
    base = key(tiny_backend())
    assert key(tiny_backend()) == base
    assert key(tiny_backend(weights="w1")) != base                     # other weights
    monkeypatch.setitem(backends.PROCESSORS, "noop", ("generate.hf", lambda tok, settings: None))
    assert key(tiny_backend(processor="noop")) != base                 # a logits processor
    other_versions = lambda: {"torch": "0", "transformers": "0"}       # noqa: E731
    monkeypatch.setattr(backends, "library_versions", other_versions)
    assert key(tiny_backend()) != base                                 # other library versions


def test_an_unknown_logits_processor_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown logits processor 'nope'"):
        tiny_backend(processor="nope")


def test_saving_only_what_was_used_drops_stale_entries(tmp_path):
    path = tmp_path / "m.json"
    cache = AnswerCache(path, tiny_backend())
    cache.get_or_run("x", ["generate.hf"], {"n": 1}, lambda: [1, 2])
    cache.get_or_run("x", ["generate.hf"], {"n": 2}, lambda: [3])
    later = AnswerCache(path, tiny_backend())
    assert later.get_or_run("x", ["generate.hf"], {"n": 2}, lambda: None) == [3]
    later.save(keep_only_used=True)
    assert len(AnswerCache(path, tiny_backend()).entries) == 1


def test_model_weights_digest_follows_the_bytes(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"abc")
    before = models.weights_digest(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"abd")
    assert models.weights_digest(tmp_path) != before
    with pytest.raises(FileNotFoundError, match="holds no weight files"):
        models.weights_digest(tmp_path / "missing")
