"""Claims are checked paired: the same prompts for both models, the paired CI of the difference as the rule."""

import pytest

from safealign.report import paired


def test_a_one_in_twenty_difference_is_not_resolved_but_twenty_in_four_hundred_is():
    small = paired.paired_difference([True] * 19 + [False], [True] * 20, ["c"] * 20, {"c": 1.0}, seed=0)
    assert small["difference"] == pytest.approx(0.05) and not small["resolved"]
    a = [True] * 200 + [False] * 200
    b = [True] * 220 + [False] * 180          # 20 prompts turn safe, none turn unsafe
    large = paired.paired_difference(a, b, ["c"] * 400, {"c": 1.0}, seed=0)
    assert large["resolved"] and large["ci95"][0] > 0 and large["discordant"] == 20 and large["mcnemar_p"] < 1e-5


def test_the_difference_is_weighted_by_the_population_of_each_group():
    a = [False, False, True, True]
    b = [True, True, True, True]               # all of group x's change
    out = paired.paired_difference(a, b, ["x", "x", "y", "y"], {"x": 3.0, "y": 1.0}, seed=0)
    assert out["difference"] == pytest.approx(0.75)


def test_models_that_answered_other_prompts_are_refused():
    a = [{"benchmark": "alert", "prompt": "p1", "category": "c", "safe": True}]
    b = [{"benchmark": "alert", "prompt": "p2", "category": "c", "safe": True}]
    with pytest.raises(ValueError, match="did not answer the same prompts"):
        paired.matched(a, b, "alert")


def test_asr_differences_have_the_sign_of_the_asr():
    rec = lambda safe: [{"benchmark": "alert_adversarial", "prompt": f"p{i}", "attack": "suffix",  # noqa: E731
                         "category": "crime_theft", "safe": s} for i, s in enumerate(safe)]
    evals = {"base": {"asr": {"cell_weights": {"suffix | crime_theft": 1.0}}}}
    out = paired.versus({"base": rec([False] * 10), "dpo": rec([True] * 10)}, evals, "base", "dpo", "asr")
    assert out["difference"] == pytest.approx(-1.0) and out["ci95"][1] <= 0 and out["resolved"]
    assert paired.versus({"base": rec([False])}, evals, "base", "dpo", "asr") is None


def test_a_repeated_prompt_pairs_copy_by_copy_and_no_row_is_dropped():
    def rec(safe):
        return [{"benchmark": "alert", "prompt": p, "category": "c", "safe": v} for p, v in zip(["p", "q", "p"], safe)]

    safe_a, safe_b, groups = paired.matched(rec([True, True, False]), rec([True, True, True]), "alert")
    assert len(safe_a) == 3 and sorted(zip(safe_a, safe_b)) == [(False, True), (True, True), (True, True)]


def test_adversarial_verdicts_are_weighted_by_attack_and_category_cells():
    rows = [{"benchmark": "alert_adversarial", "prompt": f"p{i}", "attack": "suffix", "category": c, "safe": True}
            for i, c in enumerate(["a", "a", "b", "b"])]
    base = [{**r, "safe": r["category"] == "b"} for r in rows]        # unsafe on every "a" prompt
    evals = {"base": {"asr": {"cell_weights": {"suffix | a": 0.9, "suffix | b": 0.1}}}}
    out = paired.versus({"base": base, "dpo": rows}, evals, "base", "dpo", "asr")
    assert out["difference"] == pytest.approx(-0.9)   # ASR falls by the "a" cell's share of the attack, not by half
