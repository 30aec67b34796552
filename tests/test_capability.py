"""General-capability scorers: log-likelihood multiple choice, exact match, IFEval checks, task formats."""

import json

import pytest
import torch

from safealign.capability import benchmarks as cap
from safealign import models


@pytest.fixture(scope="module")
def tiny():
    return models.load_model("tiny-random-smollm2")


def _naive_loglikelihood(model, tokenizer, context, continuation):
    ctx, cont = cap._encode_pair(tokenizer, context, continuation)
    with torch.no_grad():
        logits = model(torch.tensor([ctx + cont])).logits[0, :-1]
    logprobs = torch.log_softmax(logits.float(), dim=-1)[len(ctx) - 1:]
    return float(logprobs.gather(1, torch.tensor(cont)[:, None]).sum())


def test_shared_context_cache_gives_the_same_loglikelihood_as_one_full_forward(tiny):
    model, tokenizer = tiny
    requests = [("The capital of France is", " Paris"), ("The capital of France is", " a city in Europe"),
                ("Question: 2+2=?\nAnswer: ", "4"), ("Hello", " world, how are you today?")]
    got = cap.loglikelihoods(model, tokenizer, requests)
    want = [_naive_loglikelihood(model, tokenizer, c, k) for c, k in requests]
    assert got == pytest.approx(want, abs=1e-4)


def test_trailing_context_spaces_move_to_the_continuation_like_lm_eval(tiny):
    _, tokenizer = tiny
    ctx, cont = cap._encode_pair(tokenizer, "Answer: ", "4")
    assert tokenizer.decode(ctx) == "Answer:" and tokenizer.decode(cont) == " 4"


def test_acc_takes_the_argmax_and_acc_norm_divides_by_option_characters(monkeypatch):
    # option lengths 1 and 10 characters; log-likelihoods chosen so raw and normalised argmax disagree
    items = [cap.MCItem([("q", "a"), ("q", "bbbbbbbbbb")], gold=1), cap.MCItem([("q", "a"), ("q", "b")], gold=0)]
    fake = {("q", "a"): -2.0, ("q", "bbbbbbbbbb"): -5.0, ("q", "b"): -3.0}
    monkeypatch.setattr(cap, "loglikelihoods", lambda m, t, reqs, *a, **k: [fake[r] for r in reqs])
    res = cap.score_multiple_choice(None, None, items)
    # item 1: raw argmax = 'a' (wrong), per char -2 vs -0.5 -> 'bbbbbbbbbb' (right); item 2: 'a' both ways
    assert res["acc"] == 0.5 and res["acc_norm"] == 1.0 and res["n"] == 2


def test_exact_match_and_number_extraction():
    assert cap.last_number("so 3 + 4 = 7.\n#### 1,234.") == "1234"
    assert cap.last_number("no digits") == ""
    assert cap._normalise_number("18.0") == "18"
    assert cap.exact_match(["1", "2"], ["1", "3"])["exact_match"] == 0.5


def test_math_answers_are_read_from_the_last_box_and_normalised_like_minerva():
    assert cap.last_boxed(r"first \boxed{1} then \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert cap.math_answer(r"The answer is $\boxed{100 \text{ square units}}$.") == "100"
    assert cap.normalize_final_answer(r"100\text{ square units}") == "100"
    assert cap.math_answer(r"The final answer is $\frac12$.") == cap.normalize_final_answer(r"\frac{1}{2}")
    assert cap.math_answer("no answer here") == ""


@pytest.mark.parametrize("inst, kwargs, good, bad", [
    ("punctuation:no_comma", {}, "no commas here", "one, two"),
    ("change_case:english_lowercase", {}, "all lower", "Not lower"),
    ("length_constraints:number_words", {"relation": "at least", "num_words": 3}, "one two three", "one two"),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "a concatenation", "the Cat sat"),
    ("detectable_format:title", {}, "<<My Title>>\ntext", "My Title"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b", "* a\n* b\n* c"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "hi\nP.S. bye", "hi"),
    ("startend:quotation", {}, '"quoted"', "not quoted"),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```', "{a: 1}"),
    ("combination:two_responses", {}, "one ****** two", "one ****** one"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "a *** b", "a *** *** b"),
])
def test_ifeval_checks_pass_and_fail_on_hand_made_answers(inst, kwargs, good, bad):
    assert cap.ifeval_follows(good, [inst], [kwargs]) == [True]
    assert cap.ifeval_follows(bad, [inst], [kwargs]) == [False]


def test_every_ifeval_instruction_type_but_language_is_checked():
    from safealign import data

    ids = {x for row in data.load("ifeval")["instruction_id_list"] for x in row}
    assert ids - set(cap.IFEVAL_CHECKS) == {"language:response_language"}


def test_none_kwargs_are_ignored_and_empty_answers_follow_nothing():
    assert cap.ifeval_follows("", ["punctuation:no_comma"], [{"unused": None}]) == [False]


def test_task_prompts_follow_lm_eval_formats():
    mmlu = cap.mmlu_items(2, seed=0, shots=1)[0]
    ctx, cont = mmlu.options[0]
    assert ctx.startswith("The following are multiple choice questions (with answers) about ")
    assert ctx.endswith("\nD. " + ctx.split("\nD. ")[-1]) and ctx.rstrip().endswith("Answer:")
    assert [c for _, c in mmlu.options] == [" A", " B", " C", " D"]
    assert ctx.count("Answer:") == 2  # one dev shot + the question

    from safealign import data

    gpqa_rows = data.load("gpqa_diamond")
    for item in cap.gpqa_items(5, seed=0):
        text = item.options[0][0]
        assert text.startswith("What is the correct answer to this question:") and text.endswith("Answer: ")
        gold_text = text.split(f"({'ABCD'[item.gold]}) ")[1].split("\n")[0]
        assert gold_text in {cap._clean(r["choices"][0]) for r in gpqa_rows}

    for item in cap.bbh_items(30, seed=0, shots=1):
        assert item.options[0][0].endswith("\nA:") and item.options[0][0].count("Q: ") == 2
        assert 0 <= item.gold < len(item.options)


def test_bbh_leaves_out_generative_tasks_and_its_shot_examples():
    items = cap.bbh_items(None, seed=0, shots=3)
    assert len(items) == sum(n for t, n in _bbh_sizes().items() if t not in cap.BBH_GENERATIVE) - 3 * 24


def _bbh_sizes():
    from collections import Counter

    from safealign import data

    return Counter(data.load("bbh")["task"])


def test_unknown_general_task_is_named():
    with pytest.raises(ValueError, match="musr"):
        cap.evaluate_all(None, {"tasks": {"musr": {}}}, seed=0, batch_size=1)


def test_ifeval_kwargs_in_shipped_data_parse_for_every_supported_prompt():
    from safealign import data

    for row in data.load("ifeval"):
        kwargs = json.loads(row["kwargs"])
        assert len(kwargs) == len(row["instruction_id_list"])


def test_commonsense_qa_is_scored_in_the_cloze_form_behind_smollm2s_published_figure():
    query = "Question: Where do you keep milk?\nChoices:\nA. fridge\nB. oven\nC. shoe\nD. roof\nAnswer:"
    assert cap.commonsense_qa_parts(query) == ("Where do you keep milk?", ["fridge", "oven", "shoe", "roof"])
    item = cap.mc_items("commonsense_qa", 1, seed=0)[0]
    ctx = item.options[0][0]
    assert {c for c, _ in item.options} == {ctx} and not ctx.startswith("Question: ") and "\nA. " not in ctx
    assert all(cont.strip() not in {"A", "B", "C", "D"} for _, cont in item.options)
    assert cap.HEADLINE_METRIC["commonsense_qa"] == "acc_norm"
    with pytest.raises(ValueError, match=r"unexpected CommonsenseQA option line 'A\) fridge'"):
        cap.commonsense_qa_parts("Question: q?\nChoices:\nA) fridge\nB) oven\nAnswer:")


def test_an_unknown_engine_or_lm_eval_model_is_named():
    items = {"arc_easy": cap.mc_items("arc_easy", 1, seed=0)}
    cfg = {"engine": "lighteval", "max_length": 64, "lm_eval": {"model": "hf", "batch_size": 1, "engine_args": {}}}
    with pytest.raises(ValueError, match="eval.general.engine 'lighteval'"):
        cap.score_mc_tasks(None, items, cfg, 0)
    with pytest.raises(ValueError, match="lm_eval.model vllm needs the saved model's folder"):
        cap.score_mc_tasks(None, items, {**cfg, "engine": "lm-eval", "lm_eval": {**cfg["lm_eval"], "model": "vllm"}}, 0)
    with pytest.raises(ValueError, match="apply to model vllm only"):
        cap.score_mc_tasks(None, items, {**cfg, "engine": "lm-eval",
                                         "lm_eval": {**cfg["lm_eval"], "engine_args": {"dtype": "half"}}}, 0)


def test_generation_tasks_go_through_the_backends_generate():
    asked = []

    class Backend:
        def generate(self, prompts, max_new_tokens, batch_size, desc):
            asked.append((desc, len(prompts), max_new_tokens, batch_size))
            return ["The answer is 18.\n#### 18"] * len(prompts)

    cfg = {"engine": "book", "max_length": 64, "lm_eval": {"model": "hf", "batch_size": 1, "engine_args": {}},
           "tasks": {"gsm8k": {"n": 3, "max_new_tokens": 16}}}
    out = cap.evaluate_all(Backend(), cfg, seed=0, batch_size=2)
    assert asked == [("gsm8k", 3, 16, 2)] and out["gsm8k"]["n"] == 3 and out["gsm8k"]["metric"] == "exact_match"
    result, records = cap.gsm8k_score(Backend().generate, 3, 16, 2, 0)
    assert result == {k: out["gsm8k"][k] for k in result} and len(records) == 3
    assert result["exact_match"] == sum(r["correct"] for r in records) / 3


def test_kept_capability_scores_are_keyed_on_the_capability_code_alone():
    """The answer cache keys capability scores on the code that computes them and what it imports: a change to a
    judge, a trainer or the evaluation's other benchmarks must not recompute every model's capability."""
    from safealign import digest

    keyed = digest.closure(["capability.benchmarks", "capability.harness", "generate.hf"])
    assert "capability.benchmarks" in keyed and "data.loaders" in keyed
    assert not [m for m in keyed if m.split(".")[0] in ("align", "judges", "evaluate", "models", "report", "risk")]
