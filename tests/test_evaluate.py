"""Paper A's safety metrics on hand-made judge outputs (Defs. 4-5, Figure 6) and XSTest over-refusal."""

import pytest

from safealign import data, evaluate, report


def test_every_alert_category_maps_to_one_of_paper_a_six_macro_categories():
    categories = set(data.load("alert")["category"])
    assert len(categories) == 32
    assert categories == set(evaluate.ALERT_TAXONOMY)
    assert set(evaluate.ALERT_TAXONOMY.values()) == set(evaluate.MACRO_CATEGORIES)
    assert len(evaluate.MACRO_CATEGORIES) == 6


def test_unknown_category_is_named_in_the_error():
    with pytest.raises(KeyError, match="hate_aliens"):
        evaluate.macro_category("hate_aliens")


def test_safety_score_per_category_and_overall_weighted_by_prompt_counts():
    # hate_women: 1 of 2 safe; crime_tax: 3 of 3 safe; crime_cyber: 0 of 1 safe
    safe = [True, False, True, True, True, False]
    cats = ["hate_women", "hate_women", "crime_tax", "crime_tax", "crime_tax", "crime_cyber"]
    s = evaluate.safety_score(safe, cats, n_boot=200)
    assert s["by_category"]["hate_women"]["score"] == 0.5
    assert s["by_category"]["crime_tax"]["score"] == 1.0
    assert s["by_category"]["crime_cyber"]["score"] == 0.0
    # Def. 4 with |P_c| = evaluated counts: (2*0.5 + 3*1 + 1*0) / 6
    assert s["overall"] == pytest.approx(4 / 6)
    assert s["by_macro"]["Hate Speech & Discrimination"]["score"] == 0.5
    assert s["by_macro"]["Criminal Planning"]["score"] == pytest.approx(3 / 4)
    assert set(s["by_macro"]) == {"Hate Speech & Discrimination", "Criminal Planning"}


def test_safety_score_with_population_weights_reweights_a_stratified_subset():
    safe = [True, False, True, True, True, False]
    cats = ["hate_women", "hate_women", "crime_tax", "crime_tax", "crime_tax", "crime_cyber"]
    population = {"hate_women": 20, "crime_tax": 60, "crime_cyber": 20}
    s = evaluate.safety_score(safe, cats, population=population, n_boot=200)
    assert s["overall"] == pytest.approx(0.2 * 0.5 + 0.6 * 1.0 + 0.2 * 0.0)
    # within Criminal Planning the population weights are 60:20
    assert s["by_macro"]["Criminal Planning"]["score"] == pytest.approx(0.75 * 1.0 + 0.25 * 0.0)
    assert s["by_category"]["crime_tax"]["weight"] == pytest.approx(0.6)


def test_asr_per_attack_and_overall_weighted_by_attack_size():
    safe = [False, True, True, True,  # suffix: 1 of 4 unsafe
            False, False,  # prefix: 2 of 2 unsafe
            True, True]  # jailbreaking: 0 of 2
    attacks = ["adversarial_suffix"] * 4 + ["adversarial_prefix"] * 2 + ["jailbreaking"] * 2
    asr = evaluate.attack_success_rate(safe, attacks, n_boot=200)
    assert asr["by_attack"]["adversarial_suffix"]["score"] == 0.25
    assert asr["by_attack"]["adversarial_prefix"]["score"] == 1.0
    assert asr["by_attack"]["jailbreaking"]["score"] == 0.0
    assert asr["overall"] == pytest.approx((4 * 0.25 + 2 * 1.0 + 2 * 0.0) / 8)
    weighted = evaluate.attack_success_rate(safe, attacks, n_boot=200, population={
        "adversarial_suffix": 1, "adversarial_prefix": 1, "jailbreaking": 2})
    assert weighted["overall"] == pytest.approx(0.25 * 0.25 + 0.25 * 1.0 + 0.5 * 0.0)


def test_asr_of_a_subset_spread_over_categories_estimates_the_attacks_own_mix():
    # the subset holds one prompt of each category; the population has nine "crime" prompts to one "hate"
    safe = [False, True]                        # the crime prompt succeeds, the hate prompt does not
    attacks, categories = ["adversarial_suffix"] * 2, ["crime_theft", "hate_body"]
    population = {"adversarial_suffix | crime_theft": 9, "adversarial_suffix | hate_body": 1}
    asr = evaluate.attack_success_rate(safe, attacks, population, n_boot=200, categories=categories)
    assert asr["by_attack"]["adversarial_suffix"]["score"] == pytest.approx(0.9) and asr["overall"] == pytest.approx(0.9)
    assert asr["cell_weights"] == pytest.approx({"adversarial_suffix | crime_theft": 0.9,
                                                 "adversarial_suffix | hate_body": 0.1})
    assert evaluate.attack_success_rate(safe, attacks, n_boot=200)["overall"] == pytest.approx(0.5)  # the subset's mix
    two = evaluate.attack_success_rate([False, True, True], attacks + ["jailbreaking"],
                                       {**population, "jailbreaking | hate_body": 30}, n_boot=200,
                                       categories=categories + ["hate_body"])
    assert two["by_attack"]["jailbreaking"]["weight"] == pytest.approx(0.75)   # |P_a| over every attack's cells
    assert two["overall"] == pytest.approx(0.25 * 0.9)
    # an attack keeps its whole weight when the subset misses some of its cells
    partial = evaluate.attack_success_rate([False, True], ["adversarial_suffix", "jailbreaking"],
                                           {**population, "jailbreaking | hate_body": 30}, n_boot=200,
                                           categories=["crime_theft", "hate_body"])
    assert partial["by_attack"]["adversarial_suffix"]["weight"] == pytest.approx(0.25)
    assert partial["overall"] == pytest.approx(0.25)


def test_asr_rejects_unknown_attack_types():
    with pytest.raises(ValueError, match="rot13"):
        evaluate.attack_success_rate([True], ["rot13"])


def test_bootstrap_ci_brackets_the_estimate_is_reproducible_and_shrinks_with_data():
    cats = ["sex_porn"] * 10 + ["hate_poor"] * 10
    safe = [i % 2 == 0 for i in range(20)]
    a = evaluate.safety_score(safe, cats, n_boot=500, seed=3)
    b = evaluate.safety_score(safe, cats, n_boot=500, seed=3)
    assert a == b
    low, high = a["ci95"]
    assert low <= a["overall"] <= high and low < high
    big = evaluate.safety_score(safe * 20, cats * 20, n_boot=500, seed=3)
    assert big["ci95"][1] - big["ci95"][0] < (high - low) / 2
    constant = evaluate.safety_score([True] * 5, ["sex_porn"] * 5, n_boot=100)
    assert constant["ci95"][1] == 1.0 and 0.5 < constant["ci95"][0] < 1.0    # Wilson's, not a collapsed [1, 1]


def test_toxicity_expected_max_and_average_on_hand_made_scores():
    scores = [[0.1, 0.5, 0.3], [0.2, 0.2, 0.2], [0.9, 0.0, 0.0]]
    tox = evaluate.toxicity_metrics(scores, n_boot=200)
    assert tox["expected_max"] == pytest.approx((0.5 + 0.2 + 0.9) / 3)
    assert tox["average"] == pytest.approx(sum(map(sum, scores)) / 9)
    assert tox["n_prompts"] == 3 and tox["n_generations"] == 3
    assert tox["expected_max_ci95"][0] <= tox["expected_max"] <= tox["expected_max_ci95"][1]


def test_toxicity_needs_the_same_number_of_generations_per_prompt():
    with pytest.raises(ValueError, match="different numbers"):
        evaluate.toxicity_metrics([[0.1, 0.2], [0.3]])


def test_over_refusal_counts_full_and_partial_refusals():
    r = evaluate.refusal_rate(["refused", "complied", "partial", "complied"])
    assert r["rate"] == 0.5 and r["full_refusal"] == 0.25 and r["partial_refusal"] == 0.25 and r["n"] == 4
    with pytest.raises(ValueError, match="maybe"):
        evaluate.refusal_rate(["maybe"])


def test_rates_of_zero_or_one_get_an_interval_that_does_not_collapse():
    from safealign.stats import wilson_interval

    none_refused = evaluate.refusal_rate(["complied"] * 40)
    assert none_refused["rate"] == 0.0 and none_refused["ci95"] == pytest.approx(wilson_interval(0, 40))
    assert none_refused["ci95"][1] > 0.05                                  # not the bootstrap's [0, 0]
    # every category all safe: per category Wilson, overall Wilson at Kish's effective n (equal weights: n)
    s = evaluate.stratified_rate([1.0] * 20, ["a"] * 10 + ["b"] * 10, n_boot=200, seed=0)
    assert s["overall"] == 1.0 and s["ci95"] == pytest.approx(wilson_interval(20, 20))
    assert s["by_group"]["a"]["ci95"] == pytest.approx(wilson_interval(10, 10))
    # a stratum that varies keeps the stratified bootstrap overall; constant strata still get Wilson
    mixed = evaluate.stratified_rate([1.0] * 10 + [0.0, 1.0] * 5, ["a"] * 10 + ["b"] * 10, n_boot=200, seed=0)
    assert mixed["ci95"][0] < mixed["overall"] < mixed["ci95"][1]
    assert mixed["by_group"]["a"]["ci95"] == pytest.approx(wilson_interval(10, 10))
    # values that are not yes/no keep the percentile bootstrap per group
    graded = evaluate.stratified_rate([0.2, 0.4, 0.6, 0.8], ["a", "a", "a", "a"], n_boot=200, seed=0)
    assert 0.2 <= graded["by_group"]["a"]["ci95"][0] < graded["by_group"]["a"]["ci95"][1] <= 0.8


def test_stratified_subset_covers_every_stratum_and_spreads_over_a_second_label():
    adv = data.load("alert_adversarial")
    idx = evaluate.stratified_indices(adv["attack_type"], 8, seed=0, spread=adv["category"])
    picked = adv.select(idx)
    counts = evaluate.group_sizes(picked["attack_type"])
    assert counts == {a: 8 for a in evaluate.ATTACKS}
    for attack in evaluate.ATTACKS:  # 8 picks per attack hit as many categories as the attack has (7-8)
        available = {c for a, c in zip(adv["attack_type"], adv["category"]) if a == attack}
        cats = [c for a, c in zip(picked["attack_type"], picked["category"]) if a == attack]
        assert len(set(cats)) == min(8, len(available))
    assert idx == evaluate.stratified_indices(adv["attack_type"], 8, seed=0, spread=adv["category"])
    alert = data.load("alert")
    every = evaluate.stratified_indices(alert["category"], None)
    assert every == list(range(len(alert)))


def test_seed_numbers_are_transcribed_whole():
    from safealign.report import paper_a as s

    for table, columns in [(s.TABLE2, s.TABLE2_COLUMNS), (s.TABLE3, s.TABLE3_COLUMNS), (s.TABLE4, s.TABLE4_COLUMNS),
                           (s.TABLE5, s.TABLE5_COLUMNS)]:
        assert all(len(row) == len(columns) for row in table.values())
    assert list(s.TABLE2)[:-1] == list(evaluate.MACRO_CATEGORIES)
    assert list(s.TABLE4)[:-1] == list(evaluate.ATTACKS.values())
    assert s.column(s.TABLE2, s.TABLE2_COLUMNS, "Instruct")["Overall Safety Score S"] == 64.42
    assert s.column(s.TABLE4, s.TABLE4_COLUMNS, "Safe-rDPO")["Overall ASR Score"] == 0.06
    assert all(len(row) == len(s.TABLE6_COLUMNS) for row in s.TABLE6.values())


def test_pareto_front_keeps_only_undominated_models():

    points = {"a": (0.5, 0.9), "b": (0.6, 0.8), "c": (0.4, 0.7), "d": (0.6, 0.9)}
    assert report.pareto_front(points) == ["d"]
    assert sorted(report.pareto_front({"a": (0.5, 0.9), "b": (0.6, 0.8)})) == ["a", "b"]


@pytest.mark.slow
def test_smoke_evaluation_writes_every_required_metric_and_the_results_chapter_builds():
    from safealign import io, paths, pipeline

    pipeline.run("smoke", only=["data", "judges", "harm-judges", "align-ipo"])  # upstream, if stale
    pipeline.run("smoke", force=["eval-base", "eval-ipo", "results"], only=["eval-base", "eval-ipo", "results"])
    for model in ("base", "ipo"):
        r = io.read_result("smoke", f"eval/{model}")
        assert {"overall", "ci95", "by_category", "by_macro"} <= set(r["safety_score"])
        assert len(r["safety_score"]["by_category"]) == 32
        assert set(r["asr"]["by_attack"]) == set(evaluate.ATTACKS)
        for system in ("benign", "adversarial"):
            assert {"expected_max", "average"} <= set(r["toxicity"][system])
        assert {"mmlu", "bbh", "gpqa_diamond", "math_hard", "ifeval", "mmlu_pro"} <= set(r["general"])
        assert 0 <= r["over_refusal"]["rate"] <= 1
        assert r["judge"]["safety"] and r["judge"]["agreement"]["safety_judge"]
        for judge in r["judge"]["other_safety_judges"]:  # the same answers under the other judges
            assert 0 <= r["safety_score"]["other_judges"][judge]["overall"] <= 1
            assert 0 <= r["asr"]["other_judges"][judge]["overall"] <= 1
    # evaluating again finds every answer and capability score in the cache and writes the same numbers
    first = io.read_result("smoke", "eval/base")
    pipeline.run("smoke", force=["eval-base"], only=["eval-base"])
    again = io.read_result("smoke", "eval/base")
    assert again["answer_cache"]["misses"] == 0 and again["answer_cache"]["hits"] > 0
    assert again["answer_cache"]["model_loaded"] is False  # a re-score needs no weights
    for key in ("safety_score", "asr", "toxicity", "over_refusal", "general"):
        assert again[key] == first[key]
    executed = (paths.executed_dir("smoke") / "results.ipynb").read_text()
    assert '"output_type": "error"' not in executed


def test_judge_sensitivity_table_puts_each_judge_beside_the_book_judge():
    res = {"judge": {"safety": "strict", "other_safety_judges": {"offline": "lenient"}},
           "safety_score": {"overall": 0.2, "other_judges": {"offline": {"overall": 0.9}}},
           "asr": {"overall": 0.6, "other_judges": {"offline": {"overall": 0.05}}}}
    table = report.judge_sensitivity_table({"base": res})
    assert list(table.columns) == [("S (%)", "book judge"), ("S (%)", "offline"),
                                   ("ASR (%)", "book judge"), ("ASR (%)", "offline")]
    assert table.loc["Instruct"].tolist() == [20.0, 90.0, 60.0, 5.0]
