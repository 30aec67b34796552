"""The results chapter's claim table: verdicts follow from the numbers by the stated rules (paired tests on
the same prompts; capability unpaired)."""

from safealign.report import discussion

N = 100  # prompts per benchmark in these fixtures; every model answers the same ones


def result(s, s_ci, asr, asr_ci, tox=0.2, tox_ci=(0.15, 0.25), capability=0.5, stderr=0.01):
    return {"safety_score": {"overall": s, "ci95": list(s_ci), "by_category": {"c": {"weight": 1.0}}},
            "asr": {"overall": asr, "ci95": list(asr_ci), "by_attack": {"suffix": {"weight": 1.0}},
                    "cell_weights": {"suffix | c": 1.0}},
            "toxicity": {"adversarial": {"average": tox, "average_ci95": list(tox_ci)}},
            "general": {"task": {"metric": "acc", "acc": capability, "acc_stderr": stderr}}}


def answers_of(r, n=N):
    """Per-prompt verdicts matching a result: the first round(S*n) ALERT prompts safe, and so on."""
    safe_alert, safe_adv = round(r["safety_score"]["overall"] * n), round((1 - r["asr"]["overall"]) * n)
    tox = r["toxicity"]["adversarial"]["average"]
    return ([{"benchmark": "alert", "prompt": f"a{i}", "category": "c", "safe": i < safe_alert} for i in range(n)]
            + [{"benchmark": "alert_adversarial", "prompt": f"x{i}", "attack": "suffix", "category": "c",
                "safe": i < safe_adv} for i in range(n)]
            + [{"benchmark": "decodingtrust", "system": "adversarial", "subset": "toxic", "prompt": f"t{i}",
                "toxicity": [tox]} for i in range(n)])


def verdicts(evals, n=N):
    table = discussion.claims(evals, {m: answers_of(r, n) for m, r in evals.items()})
    return dict(zip(table["claim"], table["verdict"]))


def test_a_clear_gain_for_every_method_reproduces_the_direction_claims():
    evals = {"base": result(0.2, (0.15, 0.25), 0.7, (0.66, 0.74), tox=0.3, tox_ci=(0.28, 0.32))}
    for m, s in (("dpo", 0.6), ("ipo", 0.8), ("orpo", 0.4), ("nca", 0.7)):
        evals[m] = result(s, (s - 0.04, s + 0.04), 1 - s, (0.96 - s, 1.04 - s), tox=0.1, tox_ci=(0.08, 0.12))
    v = verdicts(evals)
    assert v["every aligned model is safer than the base (S up)"] == "reproduces"
    assert v["every aligned model is harder to attack (ASR down)"] == "reproduces"
    assert v["Safe-ORPO is the least safe aligned model"] == "reproduces"
    assert v["Safe-IPO is the safest aligned model"] == "reproduces"
    assert v["alignment lowers average toxicity under the adversarial system prompt"] == "reproduces"


def test_a_method_below_the_base_is_named_and_a_small_paired_difference_is_not_resolved():
    evals = {"base": result(0.3, (0.2, 0.4), 0.5, (0.4, 0.6)),
             "dpo": result(0.6, (0.5, 0.7), 0.2, (0.1, 0.3)),
             "ipo": result(0.55, (0.45, 0.65), 0.25, (0.15, 0.35)),
             "orpo": result(0.25, (0.15, 0.35), 0.55, (0.45, 0.65))}
    v = verdicts(evals, n=40)   # IPO and DPO differ on 2 of 40 prompts
    assert v["every aligned model is safer than the base (S up)"] == "partly: fails for Safe-ORPO"
    assert v["Safe-IPO is the safest aligned model"] == "not resolved (paired difference within noise)"


def test_capability_changes_inside_the_noise_are_not_called_a_cost():
    evals = {"base": result(0.3, (0.2, 0.4), 0.5, (0.4, 0.6), capability=0.50, stderr=0.05),
             "dpo": result(0.6, (0.5, 0.7), 0.2, (0.1, 0.3), capability=0.48, stderr=0.05)}
    assert verdicts(evals)["safety costs some general capability"] == "not resolved (changes within noise)"
    evals["dpo"] = result(0.6, (0.5, 0.7), 0.2, (0.1, 0.3), capability=0.20, stderr=0.01)
    assert verdicts(evals)["safety costs some general capability"] == "reproduces"


def test_ordering_needs_at_least_four_methods_and_uses_the_papers_order():
    evals = {"base": result(0.3, (0.2, 0.4), 0.5, (0.4, 0.6)),
             "dpo": result(0.6, (0.5, 0.7), 0.2, (0.1, 0.3))}
    assert verdicts(evals)["the methods rank as in the paper by S"] == "not resolved (too few methods)"
    # paper A's order by S: ORPO < SPPO < NCA < KTO < DPO < ... < IPO; the same order here reproduces it
    order = ["orpo", "sppo", "nca", "kto", "dpo", "aotp", "exo", "aot", "slic", "rdpo", "ipo"]
    for i, m in enumerate(order):
        s = 0.3 + 0.05 * i
        evals[m] = result(s, (s - 0.01, s + 0.01), 0.5, (0.4, 0.6))
    assert verdicts(evals)["the methods rank as in the paper by S"] == "reproduces"


def test_no_claims_without_a_base_evaluation():
    assert discussion.claims({"dpo": result(0.6, (0.5, 0.7), 0.2, (0.1, 0.3))}, {}).empty
