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


@pytest.mark.parametrize("change, message", [
    ({"fig2_levels": [0, 1, 2]}, ">= 5 levels"), ({"fine": {"IHD": 0.01, "EHD": 2, "MHD": 0.01}}, "fine.EHD"),
    ({"fig3_ehd": [0, 0, 3, 6]}, "duplicate points"), ({"mhd_at_ihd": [5]}, "not IHD levels"),
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
