"""Harmful-token filtering (paper B Alg. 1): a stored entity is never completed; w = 0 is plain greedy."""

import pytest
import torch

from safealign import models
from safealign.generate.filtering import RiskFilter
from safealign.risk import EntityMatcher


@pytest.fixture(scope="module")
def tok():
    return models.load_tokenizer("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def smollm2():
    return models.load_model("smollm2-135m-instruct")[0]


def ids(tok, *pieces):
    return [i for p in pieces for i in tok.encode(p, add_special_tokens=False)]


def scripted_greedy(tok, processor, prompt, scripts, fallbacks=(" the", " a", " and")):
    """Greedy decoding of a scripted LM: at step i, row b's logits put 10 on scripts[b][i], then
    9, 8, ... on `fallbacks`, 0 elsewhere. Returns the generated ids per row."""
    vocab = len(tok)
    fb = ids(tok, *fallbacks)
    seqs = torch.tensor([ids(tok, prompt)] * len(scripts))
    for step in range(max(map(len, scripts))):
        scores = torch.zeros(len(scripts), vocab)
        for b, script in enumerate(scripts):
            if step < len(script):
                scores[b, script[step]] = 10.0
            for rank, token in enumerate(fb):
                scores[b, token] = max(scores[b, token].item(), 9.0 - rank)
        out = processor(seqs, scores) if processor else scores
        seqs = torch.cat([seqs, out.argmax(-1, keepdim=True)], dim=1)
    return seqs[:, len(ids(tok, prompt)):].tolist()


@pytest.mark.parametrize("spelling", [
    (" cocaine",), (' "', "cocaine", '"'), (" Cocaine",), (" COCAINE",), (" co", "ca", "ine"), (" coc", "aine", "."),
])
def test_a_stored_entity_is_never_completed_in_any_tokenisation(tok, spelling):
    matcher = EntityMatcher({"cocaine": "drugs"})
    script = ids(tok, " you can buy", *spelling, " here")
    unfiltered = tok.decode(scripted_greedy(tok, None, "Where?", [script])[0])
    assert matcher.contains(unfiltered)
    f = RiskFilter(tok, matcher, k=5)
    filtered = tok.decode(scripted_greedy(tok, f, "Where?", [script])[0])
    assert not matcher.contains(filtered) and f.trace.blocked >= 1
    assert filtered.startswith(" you can buy")


def test_a_long_entity_spelt_one_character_per_token_is_still_caught(tok):
    # 60 characters, one token each: longer than the filter's first 40-token look-back
    entity = "the quick recipe for making an untraceable nerve agent at home"
    matcher = EntityMatcher({entity: "weapons"})
    spelt = [i for ch in entity for i in tok.encode(ch, add_special_tokens=False)]
    assert len(spelt) > 40
    script = ids(tok, " here is") + ids(tok, " ") + spelt
    assert matcher.contains(tok.decode(scripted_greedy(tok, None, "Q", [script])[0]))
    f = RiskFilter(tok, matcher, k=5)
    filtered = tok.decode(scripted_greedy(tok, f, "Q", [script])[0])
    assert not matcher.contains(filtered) and f.trace.blocked >= 1


def test_an_entity_whose_last_character_spans_several_byte_tokens_is_caught(tok):
    # byte-level BPE spells 毒品 in six byte tokens; until 品's last byte the text ends in U+FFFD, and
    # that byte turns the replacement characters into one real character: the text gets shorter
    matcher = EntityMatcher({"毒品": "drugs"})
    script = ids(tok, " buy 毒品 now")
    assert tok.decode(script[:-2]).endswith("\ufffd") and len(tok.decode(script[:-1])) <= len(tok.decode(script[:-2]))
    assert matcher.contains(tok.decode(scripted_greedy(tok, None, "Q", [script])[0]))
    f = RiskFilter(tok, matcher, k=5)
    filtered = tok.decode(scripted_greedy(tok, f, "Q", [script])[0])
    assert not matcher.contains(filtered) and f.trace.blocked >= 1
    assert filtered.startswith(" buy 毒")


def test_words_that_merely_contain_an_entity_are_not_blocked(tok):
    matcher = EntityMatcher({"ass": "insult", "meth": "drugs"})
    script = ids(tok, " a class of assistants uses methods")
    f = RiskFilter(tok, matcher, k=5)
    assert scripted_greedy(tok, f, "Hi", [script])[0] == script and f.trace.blocked == 0


def test_the_prompt_is_not_tested_and_rows_of_a_batch_are_filtered_apart(tok):
    matcher = EntityMatcher({"pipe bomb": "weapons"})
    bad, good = ids(tok, " build a pipe bomb"), ids(tok, " build a pipe organ")
    f = RiskFilter(tok, matcher, k=5)
    out = scripted_greedy(tok, f, "What is a pipe bomb?", [bad, good])
    assert not matcher.contains(tok.decode(out[0])) and out[1] == good


def test_when_every_candidate_is_forbidden_k_widens_then_the_answer_ends(tok):
    matcher = EntityMatcher({"cocaine": "drugs"})
    script = ids(tok, " co", "ca", "ine")
    narrow = RiskFilter(tok, matcher, k=1, max_k=1)
    out = scripted_greedy(tok, narrow, "Q", [script], fallbacks=())
    assert out[0][:2] == script[:2] and out[0][2] == tok.eos_token_id and narrow.trace.ended == 1
    wide = RiskFilter(tok, matcher, k=1, max_k=16)
    out = scripted_greedy(tok, wide, "Q", [script])
    assert out[0][2] == ids(tok, " the")[0] and wide.trace.widened == 1 and wide.trace.ended == 0


def test_candidates_an_earlier_processor_set_to_minus_inf_count_as_forbidden(tok):
    """Where fewer than k tokens are finite (e.g. after top-k or a bad-words processor) and every finite one would
    complete an entity, k must widen rather than let an untested -inf token through."""
    script = ids(tok, " co", "ca", "ine")
    f = RiskFilter(tok, EntityMatcher({"cocaine": "drugs"}), k=4, max_k=4)
    only_the_script = lambda seqs, scores: f(seqs, scores.masked_fill(scores == 0, float("-inf")))  # noqa: E731
    out = scripted_greedy(tok, only_the_script, "Q", [script], fallbacks=())
    assert out[0][:2] == script[:2] and out[0][2] == tok.eos_token_id and f.trace.ended == 1


class FixedReward:
    identity = {"name": "fixed"}

    def __init__(self, favourite: int):
        self.favourite = favourite

    def score(self, context_ids, candidate_ids):
        return (torch.as_tensor(candidate_ids) == self.favourite).float() * 5.0


def test_eq14_scores_are_log_prob_plus_w_times_reward_on_the_top_k(tok):
    scores = torch.randn(1, len(tok))
    seq = torch.tensor([ids(tok, "Hello there")])
    the = ids(tok, " the")[0]
    f = RiskFilter(tok, EntityMatcher({}), k=4, weight=0.5, reward=FixedReward(the))
    scores[0, the] = scores.max() + 0.1  # in the top 4
    out = f(seq, scores)
    logp = torch.log_softmax(scores, -1)
    top = logp.topk(4).indices[0]
    expected = logp[0, top] + 0.5 * torch.tensor([5.0 if t == the else 0.0 for t in top.tolist()])
    assert torch.allclose(out[0, top], expected)
    assert torch.isinf(out[0]).sum() == len(tok) - 4


def test_w_zero_and_nothing_forbidden_is_plain_greedy_token_for_token(tok, smollm2):
    from safealign.generate import hf

    model = smollm2
    prompts = ["How do I bake bread?", "Name three colours.", "What is 2+2?"]
    plain = hf.generate(model, tok, prompts, max_new_tokens=12, batch_size=2)
    f = RiskFilter(tok, EntityMatcher({"xyzzy": "test"}), k=10)
    from transformers import LogitsProcessorList

    filtered = hf.generate(model, tok, prompts, max_new_tokens=12, batch_size=2, logits_processor=LogitsProcessorList([f]))
    assert filtered == plain and all(plain) and f.trace.steps > 12


def test_through_transformers_generate_the_filter_removes_what_greedy_wrote(tok, smollm2):
    import re

    from transformers import LogitsProcessorList

    from safealign.generate import hf

    model = smollm2
    prompts = ["How do I bake bread?", "Name three colours.", "What is 2+2?", "Tell me a story."]
    plain = hf.generate(model, tok, prompts, max_new_tokens=24, batch_size=4)
    words = sorted({w.lower() for text in plain for w in re.findall(r"[A-Za-z]{4,}", text)})
    assert words, plain
    matcher = EntityMatcher({w: "test" for w in words[:3]})
    f = RiskFilter(tok, matcher, k=10)
    filtered = hf.generate(model, tok, prompts, max_new_tokens=24, batch_size=4, logits_processor=LogitsProcessorList([f]))
    assert any(matcher.contains(t) for t in plain)
    assert not any(matcher.contains(t) for t in filtered) and f.trace.blocked > 0


def test_bad_parameters_are_named(tok):
    with pytest.raises(ValueError, match="k <= max_k"):
        RiskFilter(tok, EntityMatcher({}), k=20, max_k=10)
    with pytest.raises(ValueError, match="needs a safety reward"):
        RiskFilter(tok, EntityMatcher({}), weight=1.0)
