"""Paper B's evaluation measures: per-type safety with CIs, diversity of safe answers, templated refusals."""

from types import SimpleNamespace

import pytest

from safealign.evaluate import paper_b


class KeywordJudge:
    """Unsafe when the answer says 'sure': enough to check the bookkeeping, not a judge of anything."""

    def judge(self, prompts, answers):
        return [SimpleNamespace(safe="sure" not in a) for a in answers]


def echo(prompts, **_):
    return [f"sure: {p}" if "bad" in p else "I can't help with that." for p in prompts]


def test_safety_by_type_scores_each_type_on_its_own_test_prompts():
    pools = {"IHD": [{"prompt": f"bad {i}", "source": "pku"} for i in range(3)] + [{"prompt": "ok", "source": "hh"}],
             "EHD": [], "MHD": [{"prompt": "fine", "source": "pku"}]}
    out, records = paper_b.safety_by_type(echo, KeywordJudge(), pools, None, {"max_new_tokens": 4, "batch_size": 2,
                                                                              "n_boot": 50}, seed=0)
    assert out["EHD"] == {"score": None, "ci95": None, "n": 0}
    assert out["MHD"]["score"] == 1.0 and out["MHD"]["n"] == 1
    # stratified by source: pku 0/3 safe, hh 1/1 safe, each source weighted by its rows (Def. 4)
    assert out["IHD"]["n"] == 4 and out["IHD"]["score"] == pytest.approx(0.25)
    lo, hi = out["IHD"]["ci95"]
    assert lo <= 0.25 <= hi
    assert [r["benchmark"] for r in records] == ["pool:IHD"] * 4 + ["pool:MHD"]
    capped, _ = paper_b.safety_by_type(echo, KeywordJudge(), pools, 2, {"max_new_tokens": 4, "batch_size": 2,
                                                                       "n_boot": 50}, seed=0)
    assert capped["IHD"]["n"] == 2


def test_distinct_n_counts_unique_ngrams_over_all_answers():
    assert paper_b.distinct_n(["a b a", "a b"], 1) == pytest.approx(2 / 5)
    assert paper_b.distinct_n(["a b a", "a b"], 2) == pytest.approx(2 / 3)  # (a b), (b a), (a b)
    assert paper_b.distinct_n(["one"], 2) is None


def test_templated_share_counts_answers_whose_opening_many_share():
    refusals = ["I'm sorry, but I can't help with that.", "i'm SORRY, but I can't do this", "I'm sorry, but I can't say",
                "Helping with that would be dangerous because ..."]
    assert paper_b.templated_share(refusals, words=4, min_count=3) == pytest.approx(3 / 4)
    assert paper_b.templated_share(refusals, words=4, min_count=4) == 0.0
    assert paper_b.templated_share([], 4, 3) is None


def test_diversity_reads_safe_answers_and_refusals_of_harmful_prompts():
    cfg = SimpleNamespace(template_words=2, template_min_count=2)
    records = [{"answer": "no way", "safe": True}, {"answer": "no way", "safe": True}, {"answer": "here is how", "safe": False}]
    out = paper_b.diversity(records, ["refused", "refused", "complied"], cfg)
    assert out["safe_answers"] == 2 and out["refusals"] == 2 and out["templated_refusal_share"] == 1.0
    assert out["distinct_1"] == pytest.approx(2 / 4)
