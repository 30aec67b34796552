"""Paper B's training mixtures: exact counts, seeded, nested along a curve, no evaluation prompt inside."""

import pytest

from safealign.data import mixing

GRID = {"general": 100, "seeds": [0, 1], "fig2_levels": [0, 6, 12, 24, 48], "fig3_ihd": [3, 6, 12],
        "fig3_ehd": [0, 3, 6, 12], "mhd_small": 2, "mhd_at_ihd": [6], "fine": {"IHD": 0.015, "EHD": 0.04, "MHD": 0.01},
        "unselected_scale": [1, 2]}


def pools():
    general = [{"prompt": f"general {i}", "answer": f"g{i}", "source": "lima"} for i in range(150)]
    typed = {t: [{"prompt": f"{t} prompt {i}", "answer": f"safe {t} {i}", "source": "pku"} for i in range(40)]
             for t in mixing.HARM_TYPES}
    return general, typed


def test_the_sweep_has_every_figure_and_paper_b_ratios():
    points = {p.name: p for p in mixing.sweep(GRID)}
    assert sum(p.figure == "fig2" for p in points.values()) == 5
    assert sum(p.figure == "fig3" for p in points.values()) == 3 * 4 + 1 * 4   # the MHD curve at IHD 6 only
    assert points["fig2-12"].safety == {"unselected": 12}            # total safety data, the pools' own mix
    assert points["fig3-ihd6-ehd3-mhd2"].safety == {"IHD": 6, "EHD": 3, "MHD": 2}
    assert points["fig3-ihd12-ehd3"].safety == {"IHD": 12, "EHD": 3, "MHD": 0} and "fig3-ihd12-ehd3-mhd2" not in points
    assert points["fine-s1"].safety == {"IHD": 2, "EHD": 4, "MHD": 1} and points["fine-s1"].seed == 1
    assert points["unselected-x2-s0"].safety == {"unselected": 14}


def test_mixture_counts_are_exact_and_the_same_seed_gives_the_same_rows():
    general, typed = pools()
    point = mixing.MixturePoint("p", "fig3", 50, {"IHD": 6, "EHD": 3, "MHD": 2}, seed=0)
    rows = mixing.build(point, general, typed)
    assert mixing.counts(rows) == {"general": 50, "IHD": 6, "EHD": 3, "MHD": 2}
    assert rows == mixing.build(point, general, typed)
    other = mixing.build(mixing.MixturePoint("p", "fig3", 50, {"IHD": 6, "EHD": 3, "MHD": 2}, seed=1), general, typed)
    assert {r["prompt"] for r in other} != {r["prompt"] for r in rows}
    assert rows[0]["messages"][0]["role"] == "user" and rows[0]["messages"][1]["role"] == "assistant"


def test_a_larger_point_of_a_curve_holds_every_row_of_a_smaller_one():
    general, typed = pools()
    small = mixing.build(mixing.MixturePoint("a", "fig3", 50, {"IHD": 6, "EHD": 3}, 0), general, typed)
    large = mixing.build(mixing.MixturePoint("b", "fig3", 50, {"IHD": 6, "EHD": 12}, 0), general, typed)
    assert {r["prompt"] for r in small} <= {r["prompt"] for r in large}


def test_unselected_mixtures_draw_from_every_type():
    general, typed = pools()
    rows = mixing.build(mixing.MixturePoint("u", "unselected", 10, {"unselected": 60}, 0), general, typed)
    got = mixing.counts(rows)
    assert sum(got.get(t, 0) for t in mixing.HARM_TYPES) == 60 and all(got.get(t, 0) > 5 for t in mixing.HARM_TYPES)


def test_no_evaluation_prompt_may_be_in_a_mixture_and_a_short_pool_is_named():
    general, typed = pools()
    rows = mixing.build(mixing.MixturePoint("p", "fig2", 10, {"IHD": 5}, 0), general, typed)
    mixing.assert_disjoint(rows, ["something else"])
    with pytest.raises(ValueError, match="training prompts are evaluation prompts"):
        mixing.assert_disjoint(rows, ["  " + rows[0]["prompt"].upper() + " "])
    with pytest.raises(ValueError, match="asks for 41 IHD rows but the pool holds 40"):
        mixing.build(mixing.MixturePoint("p", "fig2", 10, {"IHD": 41}, 0), general, typed)
    with pytest.raises(ValueError, match="asks for -1 IHD rows"):   # not "all but the last row"
        mixing.build(mixing.MixturePoint("p", "fig2", 10, {"IHD": -1}, 0), general, typed)


@pytest.mark.parametrize("change, message", [
    ({"fig2_levels": [0, 1, 2]}, ">= 5 levels"), ({"fine": {"IHD": 0.01, "EHD": 2, "MHD": 0.01}}, "fine.EHD"),
    ({"fig3_ehd": [0, 0, 3, 6]}, "duplicate points"), ({"mhd_at_ihd": [5]}, "not IHD levels"),
    ({"seeds": []}, "seeds is empty"), ({"general": 0}, "general must be a whole number"),
    ({"fig2_levels": [-2, 6, 12, 24, 48]}, r"fig2_levels must hold whole numbers of rows >= 0, got \[-2\]"),
    ({"mhd_small": 1.5}, "mhd_small must hold whole numbers"), ({"unselected_scale": [1, 0]}, "unselected_scale must be > 0"),
])
def test_bad_grids_are_named(change, message):
    grid = {**GRID, **change}
    with pytest.raises(ValueError, match=message):
        mixing.sweep(grid)
    with pytest.raises(ValueError, match="missing key 'seeds'"):
        mixing.sweep({k: v for k, v in GRID.items() if k != "seeds"})


def test_a_mixture_never_holds_a_held_out_prompt(monkeypatch):
    from safealign.align import mixture
    from safealign.data import pools as data_pools

    general = [{"prompt": f"general {i}", "answer": "a", "source": "lima"} for i in range(10)]
    pools = {t: [{"prompt": f"{t} {i}", "answer": "No.", "source": "pku", "harm_type": t} for i in range(5)]
             for t in mixing.HARM_TYPES}
    monkeypatch.setattr(mixture, "general_rows", lambda settings: general)
    monkeypatch.setattr(data_pools, "type_pool", lambda settings, t, part: pools[t])
    point = mixing.MixturePoint("p", "fig3", 10, {"IHD": 5}, 0)
    assert len(mixture.mixture_rows(None, point, ["unrelated"])) == 15
    with pytest.raises(ValueError, match="held-out test or evaluation prompts"):
        mixture.mixture_rows(None, point, ["IHD 3"])


def test_each_named_point_is_a_stage_fingerprinted_by_its_own_mixture_not_by_the_list():
    from safealign import pipeline, profiles

    smoke = profiles.load("smoke")
    one = profiles.override(smoke, {"mixing.stages": ["fig2-4"]})
    none = profiles.override(smoke, {"mixing.stages": []})
    two = profiles.override(smoke, {"mixing.stages": ["fig2-4", "fig2-8"]})
    bigger = profiles.override(one, {"mixing.grid.general": 11})
    upstream = {name: "x" for name in ("data", "type-pools", "judges", "harm-judges")}
    fp = lambda settings, name: pipeline.fingerprint(  # noqa: E731
        next(s for s in pipeline.mixing_stages(settings) if s.name == name), "smoke", upstream)
    assert [s.name for s in pipeline.mixing_stages(two)] == ["mixing-fig2-4", "mixing-fig2-8", "mixing-study"]
    assert pipeline.mixing_stages(none) == []                        # no point run: no study page either
    assert fp(one, "mixing-fig2-4") == fp(two, "mixing-fig2-4")       # adding a point keeps the others fresh
    assert fp(one, "mixing-fig2-4") != fp(bigger, "mixing-fig2-4")    # its own mixture changed
    assert len(pipeline.mixing_stages(profiles.override(smoke, {"mixing.stages": None}))) == len(
        mixing.sweep(smoke.mixing.grid.to_dict())) + 1
    with pytest.raises(ValueError, match=r"mixing.stages names \['fig9-1'\]"):
        pipeline.mixing_stages(profiles.override(smoke, {"mixing.stages": ["fig9-1"]}))


@pytest.mark.slow
def test_the_mixing_points_and_the_study_write_what_the_issue_checks_on_the_smoke_profile():
    from safealign import io, pipeline, profiles

    pipeline.run("smoke", only=["data", "harm-types", "type-pools", "judges", "harm-judges"])
    points = [s.name for s in pipeline.mixing_stages(profiles.load("smoke"))]
    pipeline.run("smoke", force=["mixing-fine-s0", "mixing-study"], only=points)
    result = io.read_result("smoke", "mixing/fine-s0")
    assert result["mixture"] == result["built"] == {"general": 12, "IHD": 1, "EHD": 1, "MHD": 1} and result["seed"] == 0
    assert set(result["safety_by_type"]) == {"IHD", "EHD", "MHD"}
    assert all({"score", "ci95", "n"} <= set(v) for v in result["safety_by_type"].values())
    assert {"alert_s", "over_refusal", "general"} <= set(result) and result["training"]["rows"] == 15
    study = io.read_result("smoke", "mixing_study")
    verdicts = {c["claim (paper B §3.1, §4.1)"]: c["verdict"] for c in study["claims"]}
    assert verdicts["IHD saturates: the last step of safety data adds nothing on IHD (Fig. 2)"] == "not run"  # fig2-6
    assert {c["verdict"] for c in study["claims"]} <= {"reproduced", "contradicted", "unresolved", "not contradicted",
                                                       "not run"}
    ran = [c for c in study["claims"] if c["a"] == "unselected-x1-s0" and c["b"] == "fine-s0"]
    assert ran and all(c["verdict"] != "not run" for c in ran)


def test_a_no_gain_claim_is_contradicted_only_by_a_resolved_gain_and_unrun_points_are_listed():
    from safealign.report import mixing_study

    def answers(safe_count, n=40):
        return [{"benchmark": "pool:IHD", "prompt": f"p{i}", "source": "pku", "safe": i < safe_count} for i in range(n)]

    grid = {**GRID, "fig2_levels": [0, 6, 12, 24, 48]}
    point = lambda fig: {"figure": fig, "mixture": {"general": 100}, "seed": 0}  # noqa: E731
    results = {"fig2-24": point("fig2"), "fig2-48": point("fig2")}
    flat = mixing_study.claims({"fig2-24": answers(20), "fig2-48": answers(21)}, results, grid, 200, 0)
    rising = mixing_study.claims({"fig2-24": answers(5), "fig2-48": answers(35)}, results, grid, 200, 0)
    saturates = "IHD saturates: the last step of safety data adds nothing on IHD (Fig. 2)"
    pick = lambda rows: {r["claim (paper B §3.1, §4.1)"]: r["verdict"] for r in rows if r["measure"] == "IHD"}  # noqa: E731
    assert pick(flat)[saturates] == "not contradicted" and pick(rising)[saturates] == "contradicted"
    assert pick(flat)["more safety data makes the model safer on IHD (Fig. 2)"] == "not run"   # fig2-0 never ran
    # each row names the training rows it rests on: of the measure's type as built, or of all safety data
    results["fig2-24"]["built"], results["fig2-48"]["built"] = {"EHD": 0, "general": 100}, {"EHD": 1, "general": 100}
    results["fig2-24"]["mixture"]["unselected"], results["fig2-48"]["mixture"]["unselected"] = 24, 48
    assert mixing_study.rows_moved(results, "fig2-24", "fig2-48", "EHD") == "0 → 1 EHD"
    assert mixing_study.rows_moved(results, "fig2-24", "fig2-48", "natural") == "24 → 48 (all types)"
    assert mixing_study.rows_moved(results, "fig2-0", "fig2-48", "IHD") == "? → 0 IHD"


def test_the_gpu_profile_runs_every_point_of_a_larger_study_that_the_shipped_pools_can_fill():
    """The gpu profile scales paper B's study to the shipped general pool (8,000 rows) and is a stage per point.
    Every point must be buildable from the type pools the shipped data give: the cpu run's pool sizes, split
    again at the gpu profile's test_per_type (at most half a type's prompts are test)."""
    import json

    from safealign import paths, pipeline, profiles

    gpu = profiles.load("gpu")
    points = mixing.sweep(gpu.mixing.grid.to_dict())
    stages = [s.name for s in pipeline.stages("gpu") if s.name.startswith("mixing-") and s.name != "mixing-study"]
    assert stages == [f"mixing-{p.name}" for p in points] and len(points) > len(profiles.load("cpu").mixing.stages)
    assert gpu.mixing.grid.general <= 8503                                   # LIMA (1,030) + GSM8K train (7,473)
    shipped = json.loads((paths.results_dir("cpu") / "type_pools.json").read_text())["pools"]
    total = {t: shipped[t]["train"] + shipped[t]["test"] for t in mixing.HARM_TYPES}
    train = {t: n - min(gpu.type_pools.test_per_type, n // 2) for t, n in total.items()}
    for p in points:
        for kind, n in p.safety.items():
            assert n <= (sum(train.values()) if kind == mixing.UNSELECTED else train[kind]), (p.name, kind, n, train)


@pytest.mark.parametrize("safety, general, written", [
    (8, 64, "1:8"), (128, 64, "2:1"), (64, 64, "1:1"), (96, 64, "1.5:1"), (3, 64, "1:21"), (0, 64, "0:1"),
    (1_000, 260_000, "1:260"), (100_000, 260_000, "1:2.6"),
])
def test_safety_general_is_written_as_paper_b_writes_its_ratios(safety, general, written):
    from safealign.report import mixing_study

    assert mixing_study.ratio(safety, general) == written


def test_each_point_and_claim_carries_the_safety_general_ratio_of_the_rows_it_was_built_with():
    from safealign.report import mixing_study

    score = {"score": 0.5, "ci95": [0.4, 0.6], "n": 10}

    def result(figure, mixture, built):
        return {"figure": figure, "seed": 0, "mixture": mixture, "built": built,
                "safety_by_type": {t: score for t in mixing.HARM_TYPES}, "alert_s": score,
                "general": {"gsm8k": {"exact_match": 0.5, "n": 10}},
                "over_refusal": {"xstest_safe": {"rate": 0.1, "ci95": [0.0, 0.2], "n": 10}}}

    # an unselected draw counts by the type each drawn row has; the total by every safety row built
    results = {"unselected-x1-s0": result("unselected", {"general": 64, "unselected": 5},
                                          {"general": 64, "IHD": 3, "MHD": 2}),
               "fine-s0": result("fine", {"general": 64, "IHD": 1, "EHD": 3, "MHD": 1},
                                 {"general": 64, "IHD": 1, "EHD": 3, "MHD": 1})}
    rows = {r["point"]: r for r in mixing_study.curve_rows(results)}
    assert {k: rows["unselected-x1-s0"][k] for k in ("IHD:general", "EHD:general", "MHD:general", "safety:general")} \
        == {"IHD:general": "1:21", "EHD:general": "0:1", "MHD:general": "1:32", "safety:general": "1:13"}
    assert mixing_study.ratios_moved(results, "unselected-x1-s0", "fine-s0", "EHD") == "0:1 → 1:21"
    assert mixing_study.ratios_moved(results, "fig2-0", "fine-s0", "natural") == "? → 1:13"
    table = mixing_study.claims({}, results, GRID, 10, 0)
    assert all("safety:general a → b" in row for row in table)


def test_the_fine_mixture_is_flagged_where_rounding_makes_two_types_equal_or_clamps_one_to_a_row():
    from safealign.report import mixing_study

    # general 100: IHD 1.5 -> 2, EHD 4, MHD 1 row: three different counts, nothing rounded up from 0
    assert mixing_study.rounding_warnings(GRID) == []
    # general 64: IHD 0.96 -> 1 and MHD 0.64 -> 1 row: paper B's 1:100-1:50 and 1:100 become the same count
    warnings = mixing_study.rounding_warnings({**GRID, "general": 64})
    assert len(warnings) == 1 and "fine.IHD" in warnings[0] and "fine.MHD" in warnings[0]
    assert "as much IHD as MHD" in warnings[0]
    # general 40: MHD 0.4 rounds to 0 and is clamped to 1 row
    clamped = mixing_study.rounding_warnings({**GRID, "general": 40})
    assert any("fine.MHD" in w and "clamped to 1 row" in w for w in clamped)
    # types whose ratios are equal may have equal counts: that is the mixture asked for, not a rounding artefact
    assert mixing_study.rounding_warnings({**GRID, "fine": {"IHD": 0.02, "EHD": 0.04, "MHD": 0.02}}) == []
    rows = {r["setting"]: r for r in mixing_study.against_paper_b({**GRID, "general": 64})}
    assert rows["fine.IHD"]["rounding"] and rows["fine.MHD"]["rounding"] and not rows["fine.EHD"]["rounding"]


def test_each_level_of_the_grid_is_placed_against_paper_b_ratio_ranges():
    from safealign import profiles
    from safealign.report import mixing_study

    rows = mixing_study.against_paper_b(GRID)   # general 100
    ihd = [(r["safety:general"], r["where"]) for r in rows if r["setting"] == "fig3_ihd"]
    # paper B fixes IHD at 1,000-10,000 of ~260,000 general rows (1:260 to 1:26)
    assert ihd == [("1:33", "within"), ("1:17", "1.6× above paper B's highest"),
                   ("1:8.3", "3.1× above paper B's highest")]
    mhd = next(r for r in rows if r["setting"] == "mhd_small")
    assert (mhd["safety:general"], mhd["paper B"], mhd["where"]) == ("1:50", "1:100", "2.0× above paper B's highest")
    fine_ehd = next(r for r in rows if r["setting"] == "fine.EHD")
    assert (fine_ehd["rows"], fine_ehd["where"]) == (4, "within")          # 1:25, inside paper B's 1:30-1:20
    assert all(r["paper B's source"].startswith("§") for r in rows)
    assert {r["setting"] for r in rows} == set(mixing_study.PAPER_B_RANGES)
    outside = sum(r["where"] != "within" for r in rows)
    assert mixing_study.placement_summary(rows).startswith(f"{outside} of {len(rows)} safety levels")
    cpu = profiles.load("cpu").mixing                                      # the profile's settings section itself
    assert mixing_study.against_paper_b(cpu) == mixing_study.against_paper_b(cpu.grid.to_dict())


def test_each_figure_draws_its_own_points_and_the_table_has_a_row_per_point():
    from safealign.report import mixing_study

    def result(figure, mixture, score):
        s = {"score": score, "ci95": [score - 0.1, score + 0.1], "n": 10}
        return {"figure": figure, "seed": 0, "mixture": {"general": 64, **mixture}, "built": {"general": 64, **mixture},
                "safety_by_type": {t: s for t in mixing.HARM_TYPES}, "alert_s": s,
                "general": {"gsm8k": {"exact_match": 0.5, "n": 10}, "arc_easy": {"acc": 0.6, "metric": "acc", "n": 40}},
                "over_refusal": {"xstest_safe": {"rate": 0.0, "ci95": [0.0, 0.3], "n": 10},
                                 "coconot_contrast": {"rate": 0.1, "ci95": [0.0, 0.4], "n": 10}}}

    results = {"fig2-16": result("fig2", {"unselected": 16}, 0.5),
               "fig3-ihd3-ehd0": result("fig3", {"IHD": 3}, 0.6),
               "fig3-ihd3-ehd4-mhd5": result("fig3", {"IHD": 3, "EHD": 4, "MHD": 5}, 0.7),
               "fig3-ihd6-ehd4": result("fig3", {"IHD": 6, "EHD": 4}, 0.8),
               "fine-s0": result("fine", {"IHD": 1, "EHD": 3, "MHD": 1}, 0.9)}
    frame = mixing_study.curve_frame(results)
    assert frame.loc[0, "value"] == "0.500 [0.400, 0.600] (n=10)"
    parts = mixing_study.figure_parts(frame, {**GRID, "mhd_at_ihd": [3]})
    # the figures draw safety per type, ALERT S and every general task (GSM8K and the lm-eval ones), not over-refusal
    assert set(parts["fig2"].point) == {"fig2-16"}
    assert set(parts["fig2"].measure) == {*mixing_study.SAFETY_MEASURES, "GSM8K", "arc_easy acc"}
    arc = frame[(frame.point == "fig2-16") & (frame.measure == "arc_easy acc")].iloc[0]
    assert arc.n == 40 and arc.lo < 0.6 < arc.hi                                   # a Wilson interval on 40 items
    assert set(parts["fig5"].point) == {"fig3-ihd3-ehd0", "fig3-ihd6-ehd4"}          # no MHD
    assert set(parts["fig3"].point) == {"fig3-ihd3-ehd0", "fig3-ihd3-ehd4-mhd5"}     # IHD at mhd_at_ihd, with or without
    assert set(parts["fig3"].MHD) == {"MHD 0", "MHD 5"} and set(parts["fine"].mixture) == {"fine"}
    table = mixing_study.points_table(frame)
    assert len(table) == len(results) and {"natural", "over-refusal (XSTest safe)",
                                           "over-refusal (CoCoNot contrast)", "arc_easy acc"} <= set(table.columns)
    assert mixing_study.fine_figure(parts["fine"]) is not None
    assert mixing_study.fine_figure(parts["fine"].iloc[:0]) is None


def test_every_claim_of_paper_b_data_study_has_a_comparison_with_its_expected_direction():
    from safealign.report import mixing_study

    def gsm8k(correct, n=40):
        return [{"benchmark": "gsm8k", "prompt": f"q{i}", "correct": i < correct} for i in range(n)]

    point = lambda fig: {"figure": fig, "mixture": {"general": 100}, "seed": 0}  # noqa: E731
    results = {"fig2-0": point("fig2"), "fig2-48": point("fig2")}
    rows = mixing_study.claims({"fig2-0": gsm8k(30), "fig2-48": gsm8k(5)}, results, GRID, 200, 0)
    by_claim = {r["claim (paper B §3.1, §4.1)"]: r for r in rows}
    general = next(r for c, r in by_claim.items() if c.startswith("general capability suffers"))
    assert (general["a"], general["b"], general["measure"], general["verdict"]) == ("fig2-0", "fig2-48", "GSM8K", "reproduced")
    # Figs. 3a-c: IHD from the lowest to the middle level helps, beyond the middle it saturates (at the top EHD level)
    pairs = {(r["a"], r["b"]) for c, r in by_claim.items() if "middle" in c}
    assert pairs == {("fig3-ihd3-ehd12", "fig3-ihd6-ehd12"), ("fig3-ihd6-ehd12", "fig3-ihd12-ehd12")}
    assert all(r["verdict"] == "not run" for c, r in by_claim.items() if "middle" in c)
    # paper B's 0.95 is its 72B model, not Figure 2's curve
    assert "72B" in by_claim["more safety data makes the model safer on IHD (Fig. 2)"]["paper B"]
    # a fine mixture off paper B's ratios says so beside paper B's sentence (general 64: MHD 1 row = 1:64, not 1:100)
    off = mixing_study.claims({}, results, {**GRID, "general": 64}, 10, 0)
    fine = [r for r in off if r["b"].startswith("fine-")]
    assert fine and all("fine.MHD is 1:64" in r["paper B"] for r in fine)
    assert not any("[here" in r["paper B"] for r in off if not r["b"].startswith("fine-"))
