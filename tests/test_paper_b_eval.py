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
    assert out["IHD"]["n"] == 4 and out["IHD"]["score"] == pytest.approx(0.25)
    assert out["IHD"]["ci95"] == pytest.approx(paper_b.wilson_interval(1, 4))
    assert out["IHD"]["by_source"] == {"hh": {"score": 1.0, "n": 1}, "pku": {"score": 0.0, "n": 3}}
    assert [r["benchmark"] for r in records] == ["pool:IHD"] * 4 + ["pool:MHD"]
    capped, _ = paper_b.safety_by_type(echo, KeywordJudge(), pools, 2, {"max_new_tokens": 4, "batch_size": 2,
                                                                       "n_boot": 50}, seed=0)
    assert capped["IHD"]["n"] == 2


def test_wilson_interval_matches_the_textbook_values_and_stays_inside_0_1():
    assert paper_b.wilson_interval(2, 3) == pytest.approx([0.2077, 0.9385], abs=1e-4)
    assert paper_b.wilson_interval(0, 10) == pytest.approx([0.0, 0.2775], abs=1e-4)
    assert paper_b.wilson_interval(10, 10)[1] == pytest.approx(1.0) and paper_b.wilson_interval(10, 10)[0] > 0.69
    with pytest.raises(ValueError, match="n >= 1"):
        paper_b.wilson_interval(0, 0)


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


def test_diversity_intervals_are_jackknife_intervals_around_the_point():
    cfg = SimpleNamespace(template_words=2, template_min_count=2)
    labels = ["refused" if i % 2 else "complied" for i in range(40)]
    records = [{"answer": "sorry no" if lab == "refused" else f"answer number {i} with words", "safe": True}
               for i, lab in enumerate(labels)]
    out = paper_b.diversity(records, labels, cfg, seed=0)
    lo, hi = out["distinct_2_ci95"]
    assert lo < out["distinct_2"] < hi and hi - lo < 0.2
    # every refusal opens the same way: Wilson's interval of 20 of 20, not a collapsed [1, 1]
    assert out["templated_refusal_share_ci95"] == pytest.approx(paper_b.wilson_interval(20, 20))
    assert paper_b.diversity(records[:1], labels[:1], cfg)["distinct_2_ci95"] is None
    # the jackknife of a mean is the textbook standard error of the mean
    xs = [float(i % 7) for i in range(50)]
    lo, hi = paper_b.jackknife_interval(lambda v: sum(v) / len(v), xs, groups=50)
    import numpy as np
    assert (hi - lo) / 2 == pytest.approx(1.959964 * np.std(xs, ddof=1) / np.sqrt(50))


def test_a_templated_share_between_0_and_1_gets_a_jackknife_interval():
    cfg = SimpleNamespace(template_words=2, template_min_count=2)
    answers = ["sorry no"] * 10 + [f"reason {i} is enough" for i in range(10)]
    records = [{"answer": a, "safe": True} for a in answers]
    out = paper_b.diversity(records, ["refused"] * 20, cfg, seed=0)
    assert out["templated_refusal_share"] == 0.5
    assert out["templated_refusal_share_ci95"] == pytest.approx(
        paper_b.jackknife_interval(lambda t: paper_b.templated_share(t, 2, 2), answers, seed=0))


def test_diversity_is_compared_at_a_sample_size_every_model_reaches():
    cfg = SimpleNamespace(template_words=2, template_min_count=2)
    import numpy as np

    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(30)]
    # two models that write alike (six words drawn from one vocabulary), one with eight times the safe answers
    few, many = ([{"answer": " ".join(rng.choice(vocab, 6)), "safe": True} for _ in range(n)] for n in (8, 64))
    small, large = (paper_b.diversity(r, ["complied"] * len(r), cfg) for r in (few, many))
    assert large["distinct_2"] < small["distinct_2"] - 0.05   # on all answers the larger corpus looks less diverse
    assert set(small["distinct_2_rarefied"]) == {"2", "4", "8"} and paper_b.matched_size(
        [small["distinct_2_rarefied"], large["distinct_2_rarefied"]]) == "8"
    assert large["distinct_2_rarefied"]["8"] == pytest.approx(small["distinct_2_rarefied"]["8"], abs=0.05)
    results = {m: {"safety_by_type": {}, "alert_s": {"score": None, "ci95": None, "n": 0},
                   "over_refusal": {k: {"rate": None, "ci95": None, "n": 0} for k in ("xstest_safe", "coconot_contrast")},
                   "general": {}, "diversity": d} for m, d in (("a", small), ("b", large))}
    table = paper_b.table1(results, {"a": "A", "b": "B"})
    assert "distinct-2 of safe answers (at 8 per model)" in table["ours: A"]
    assert paper_b.matched_size([{"2": 1.0}, {}]) is None


def test_paired_safety_pairs_by_prompt_and_the_verdict_follows_the_stated_rule():
    base = [{"benchmark": "pool:IHD", "prompt": f"p{i}", "safe": False, "source": "pku"} for i in range(30)]
    better = [{**r, "safe": True} for r in base]
    paired = paper_b.paired_safety(base, list(reversed(better)), "pool:IHD", n_boot=200, seed=0)
    assert paired["difference"] == 1.0 and paired["n"] == 30 and paired["mcnemar_p"] < 1e-6
    assert paper_b.verdict(paired, +1) == "reproduced" and paper_b.verdict(paired, -1) == "contradicted"
    same = paper_b.paired_safety(base, base, "pool:IHD", n_boot=200, seed=0)
    assert same["difference"] == 0.0 and paper_b.verdict(same, +1) == "unresolved"
    assert paper_b.paired_safety(base, better, "pool:EHD", 200, 0) is None
    assert paper_b.verdict(None, +1) == "unresolved"
    # three prompts all flipped: the bootstrap cannot vary, McNemar (p = 0.25) keeps the claim unresolved
    tiny = paper_b.paired_safety(base[:3], better[:3], "pool:IHD", n_boot=200, seed=0)
    assert tiny["ci95"] == [1.0, 1.0] and paper_b.verdict(tiny, +1) == "unresolved"
    assert (paired["only_b"], paired["only_a"]) == (30, 0)
    # a weighted CI above 0 while the discordant prompts favour a: CI and McNemar disagree, so no verdict
    assert paper_b.verdict({**paired, "only_b": 3, "only_a": 27}, +1) == "unresolved"
    assert paper_b.verdict({**paired, "only_b": 27, "only_a": 3}, +1) == "reproduced"


def test_claims_against_base_cover_every_safety_row_of_each_aligned_model():
    base = [{"benchmark": "pool:IHD", "prompt": f"p{i}", "safe": False, "source": "pku"} for i in range(30)]
    verdicts = {"base": base, "dpo": [{**r, "safe": True} for r in base]}
    claims = paper_b.claims_against_base(verdicts, {"base": "base", "dpo": "Safe-DPO"}, n_boot=200, seed=0)
    assert [c["verdict"] for c in claims] == ["reproduced", "unresolved", "unresolved", "unresolved"]
    assert claims[0]["ours"] == "+1.000 [+1.000, +1.000]" and claims[0]["paper B"] == "+0.135 (+DPO − base)"
    assert [c["n"] for c in claims] == [30, 0, 0, 0]


def test_a_method_paper_b_has_no_column_for_is_compared_with_its_nearest_claim_said_as_such():
    base = [{"benchmark": "pool:IHD", "prompt": f"p{i}", "safe": False, "source": "pku"} for i in range(30)]
    verdicts = {"base": base, "kto": [{**r, "safe": True} for r in base]}
    claims = paper_b.claims_against_base(verdicts, {"base": "base", "kto": "Safe-KTO"}, n_boot=200, seed=0)
    assert claims[0]["paper B"] == "no Safe-KTO column; nearest: +0.135 (+DPO − base)"


def test_holm_adjusts_the_tested_p_values_step_down_and_skips_untested_claims():
    from safealign.stats import holm

    # textbook: p = 0.01, 0.04, 0.03 of m = 3 -> 0.03, 0.06, 0.06 (monotone step-down)
    assert holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == [] and holm([None]) == [None]
    claims = paper_b.with_holm([{"McNemar p": 0.01}, {"McNemar p": None}, {"McNemar p": 0.02}])
    assert [c["Holm p"] for c in claims] == pytest.approx([0.02, None, 0.02])


def test_every_summary_row_has_an_interval_and_general_rates_get_wilson_even_at_zero():
    rate = {"score": 0.5, "ci95": [0.3, 0.7], "n": 20}
    result = {"safety_by_type": {"IHD": rate, "EHD": {"score": None, "ci95": None, "n": 0}}, "alert_s": rate,
              "over_refusal": {"xstest_safe": {"rate": 0.1, "ci95": [0.0, 0.3], "n": 10}, "coconot_contrast": rate},
              "general": {"gsm8k": {"exact_match": 0.0, "exact_match_stderr": 0.0, "n": 40},
                          "arc_easy": {"metric": "acc", "acc": 0.25, "acc_stderr": 0.07, "n": 40}}}
    rows = {r["measure"]: r for r in paper_b.summary_rows(result)}
    assert rows["gsm8k exact_match"]["ci95"] == pytest.approx(paper_b.wilson_interval(0, 40))
    assert rows["gsm8k exact_match"]["ci95"][1] > 0.05            # not the degenerate mean ± 1.96 stderr = [0, 0]
    assert rows["arc_easy acc"]["ci95"] == pytest.approx(paper_b.wilson_interval(10, 40))
    assert rows["safety EHD"]["ci95"] is None and rows["over-refusal XSTest safe"]["value"] == 0.1
    assert all(r["ci95"] is not None for m, r in rows.items() if m != "safety EHD")


def test_masked_methods_are_compared_with_their_unmasked_baselines_beside_paper_b():
    rows = [{"benchmark": "pool:IHD", "prompt": f"p{i}", "safe": i % 2 == 0, "source": "pku"} for i in range(20)]
    verdicts = {"grpo": rows, "appo": [{**r, "safe": True} for r in rows]}
    claims = paper_b.claims(verdicts, paper_b.MASKED_VS_UNMASKED, {"grpo": "GRPO", "appo": "APPO"}, 200, 0)
    assert len(claims) == 4  # (dpo, adpo) and (rs, ars) have no verdicts: left out
    ihd = claims[0]
    assert ihd["claim (paper B, Table 1)"] == "APPO is safer than GRPO on IHD"
    assert ihd["paper B"] == "+0.127 (+APPO − +PPO)" and ihd["ours"].startswith("+0.500 [")
    assert ihd["n"] == 20 and ihd["verdict"] == "reproduced"
    assert paper_b.model_label("ars") == "ARS" and paper_b.model_label("kto") == "Safe-KTO"
    with pytest.raises(KeyError, match="unknown model 'ppo'"):
        paper_b.model_label("ppo")
