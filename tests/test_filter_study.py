"""The filtering study's pieces: settings named in full for the answer cache, the store opened or seeded,
the sweep's points, safety per harm type, and the paired view against the filter off."""

import pytest

from safealign import profiles
from safealign.generate import backend as backends
from safealign.generate import filter_study
from safealign.generate.answer_cache import AnswerCache
from safealign.risk import RiskStore


@pytest.fixture()
def store(tmp_path):
    s = RiskStore(tmp_path / "store.sqlite")
    s.add("cocaine", "drugs", "test", "a drug")
    yield s
    s.close()


def smoke_with(tmp_path, **changes):
    return profiles.override(profiles.load("smoke"), {f"filtering.{k}": v for k, v in changes.items()})


def test_the_processor_name_changes_with_everything_that_decides_the_answers(store):
    base = filter_study.processor_name(store, 10, 160, 0.0)
    assert filter_study.processor_name(store, 10, 160, 0.0) == base
    assert len({base, filter_study.processor_name(store, 5, 160, 0.0), filter_study.processor_name(store, 10, 40, 0.0),
                filter_study.processor_name(store, 10, 160, 0.5),
                filter_study.processor_name(store, 10, 160, 0.5, {"reward": "r", "table": "t"})}) == 5
    store.add("heroin", "drugs", "test", "another")
    assert filter_study.processor_name(store, 10, 160, 0.0) != base   # a new store version


def test_a_changed_store_misses_the_answer_cache(tmp_path, store, monkeypatch):
    settings = smoke_with(tmp_path)
    monkeypatch.setattr(backends, "PROCESSORS", dict(backends.PROCESSORS))
    first = filter_study.register(settings, store, 5, 0.0)
    key = lambda name: AnswerCache(tmp_path / "a.json", backends.HFBackend(  # noqa: E731
        lambda: None, {"model": "tiny"}, logits_processor=name)).key("generate", ["generate.backend"], {"p": 1})
    before = key(first)
    store.remove("cocaine", "not needed")
    assert key(filter_study.register(settings, store, 5, 0.0)) != before


def test_a_named_store_must_exist_and_an_empty_one_is_seeded(tmp_path):
    missing = smoke_with(tmp_path, store=str(tmp_path / "nope.sqlite"))
    with pytest.raises(FileNotFoundError, match="filtering.store"):
        filter_study.open_store(missing)
    RiskStore(tmp_path / "new.sqlite").close()
    seeded = filter_study.open_store(smoke_with(tmp_path, store=str(tmp_path / "new.sqlite")))
    assert seeded.version() == 1 and seeded.stats()["entities"] > 50
    assert filter_study.open_store(smoke_with(tmp_path, store=str(tmp_path / "new.sqlite"))).version() == 1


def test_the_sweep_covers_each_w_at_k_and_each_k_at_its_own_w_once():
    settings = profiles.override(profiles.load("smoke"), {"filtering.k": 5, "filtering.weight": 0.5,
                                                          "filtering.sweep_weights": [0.5, 2.0], "filtering.sweep_k": [2, 5],
                                                          "filtering.sweep_k_weight": 2.0})
    assert filter_study.sweep_points(settings) == [(5, 0.5), (5, 2.0), (2, 2.0)]
    assert filter_study.settings_of(settings) == {"off": (None, 0.0), "store": (5, 0.0), "store+reward": (5, 0.5)}


def test_latency_rounds_alternate_the_order_of_the_settings():
    calls = []
    seconds = filter_study.interleaved_timings({name: (lambda name=name: calls.append(name)) for name in "abc"}, 3)
    assert calls == list("abccbaabc") and {name: len(v) for name, v in seconds.items()} == {"a": 3, "b": 3, "c": 3}
    with pytest.raises(ValueError, match="repeats"):
        filter_study.interleaved_timings({"a": lambda: None}, 0)


def test_the_store_is_recorded_by_its_path_in_the_repository(tmp_path, store):
    from safealign import paths

    inside = smoke_with(tmp_path, store="runs/smoke/risk/custom.sqlite")
    assert filter_study.store_record(inside, store, {})["path"] == "runs/smoke/risk/custom.sqlite"
    outside = smoke_with(tmp_path, store=str(tmp_path / "elsewhere.sqlite"))
    assert filter_study.store_record(outside, store, {})["path"] == str(tmp_path / "elsewhere.sqlite")
    assert not paths.REPO_ROOT.joinpath("runs/smoke/risk/custom.sqlite").exists()  # recording opens nothing


def test_safety_by_harm_type_groups_prompts_by_their_label():
    records = [{"prompt": "a", "category": "c1", "safe": True}, {"prompt": "b", "category": "c1", "safe": False},
               {"prompt": "c", "category": "c2", "safe": True}, {"prompt": "d", "category": "c2", "safe": True}]
    out = filter_study.by_harm_type(records, {"a": "IHD", "b": "IHD", "c": "EHD"}, n_boot=50, seed=0)
    assert out["IHD"]["score"] == 0.5 and out["IHD"]["n"] == 2
    assert out["EHD"]["score"] == 1.0 and out["unlabelled"]["n"] == 1


def test_answers_changed_compares_the_same_prompts():
    off = [{"benchmark": "alert", "prompt": "a", "answer": "x"}, {"benchmark": "alert", "prompt": "b", "answer": "y"}]
    on = [{"benchmark": "alert", "prompt": "b", "answer": "y!"}, {"benchmark": "alert", "prompt": "a", "answer": "x"}]
    assert filter_study.answers_changed(off, on, "alert") == {"changed": 1, "n": 2, "share": 0.5}


@pytest.mark.slow
def test_the_filtering_chapter_writes_what_the_issue_checks_on_the_smoke_profile():
    from safealign import io, pipeline

    pipeline.run("smoke", only=["data", "harm-types", "type-pools", "judges", "harm-judges"])
    pipeline.run("smoke", force=["filtering"], only=["filtering"])
    result = io.read_result("smoke", "filtering/base")
    assert result["store_version"] >= 1 and set(result["false_positive_rate"]) == {
        "LIMA (prompt + answer)", "GSM8K train (question)", "XSTest safe prompts"}
    for name in ("off", "store", "store+reward"):
        run = result["settings"][name]
        assert {"alert", "alert_by_type", "safety_by_type", "over_refusal", "general", "timing"} <= set(run)
        assert set(run["safety_by_type"]) == {"IHD", "EHD", "MHD"}           # the type pools' test prompts
    assert set(result["latency_ratio"]) == {"store", "store+reward"}
    latency = result["latency"]["settings"]
    assert latency["off"]["ratio_to_off"] == 1.0 and result["latency_ratio"]["store"] == latency["store"]["ratio_to_off"]
    assert {v["new_tokens"] for v in latency.values()} == {result["latency"]["prompts"] * result["latency"]["new_tokens_each"]}
    assert result["settings"]["store"]["vs_off"]["alert_s"]["n"] == result["settings"]["off"]["alert"]["n"]
    assert latency["off"]["ratio_range"] == [1.0, 1.0] and all(lo <= hi for lo, hi in
                                                               (v["ratio_range"] for v in latency.values()))
    points = io.read_result("smoke", "filtering/sweep")["points"]
    # each sweep point paired with off on the same ALERT prompts; no latency (it is timed for the compared settings)
    assert points and all({"delta_s_vs_off", "delta_ci95", "mcnemar_p", "resolved"} <= set(p) for p in points)
    assert not any("seconds_per_token" in p for p in points)


def test_a_filtered_setting_is_compared_with_off_by_a_paired_test_on_every_measure():
    from safealign.generate import filter_study

    off = ([{"benchmark": "alert", "prompt": f"a{i}", "answer": "x", "safe": False, "category": "crime"} for i in range(20)]
           + [{"benchmark": "pool:IHD", "prompt": f"i{i}", "answer": "x", "safe": False, "source": "pku"} for i in range(20)]
           + [{"benchmark": "xstest", "prompt": f"x{i}", "answer": "x", "label": "complied", "type": "t"} for i in range(10)]
           + [{"benchmark": "gsm8k", "prompt": f"g{i}", "answer": "1", "correct": True} for i in range(10)])
    on = [dict(r) for r in off]
    for r in on:
        if r["benchmark"] in ("alert", "pool:IHD"):
            r["safe"], r["answer"] = True, "y"                     # the filter made every harmful answer safe
        if r["benchmark"] == "xstest" and r["prompt"] in ("x0", "x1"):
            r["label"], r["answer"] = "refused", "no"               # and refused two safe prompts
    out = filter_study.vs_off(off, on, {"crime": 100}, n_boot=200, seed=0)
    assert out["alert_s"]["difference"] == 1.0 and out["alert_s"]["mcnemar_p"] < 1e-4
    assert set(out["safety_by_type"]) == {"IHD"} and out["safety_by_type"]["IHD"]["difference"] == 1.0
    assert out["over_refusal"]["difference"] == 0.2 and out["over_refusal"]["n"] == 10
    assert out["gsm8k"]["difference"] == 0.0 and out["gsm8k"]["mcnemar_p"] == 1.0
    assert out["answers_changed"]["alert"] == {"changed": 20, "n": 20, "share": 1.0}
    assert out["answers_changed"]["xstest"]["changed"] == 2


def test_a_difference_against_off_is_resolved_only_when_its_ci_excludes_0_and_mcnemar_p_is_below_005():
    # ALERT: one prompt per category, so the stratified bootstrap cannot vary (CI [1, 1]), yet three
    # discordant prompts give McNemar p = 0.25; the IHD pool: twenty discordant prompts, p < 1e-4
    off = ([{"benchmark": "alert", "prompt": f"a{i}", "answer": "x", "safe": False, "category": f"c{i}"} for i in range(3)]
           + [{"benchmark": "pool:IHD", "prompt": f"i{i}", "answer": "x", "safe": False, "source": "pku"} for i in range(20)])
    on = [{**r, "safe": True, "answer": "y"} for r in off]
    out = filter_study.vs_off(off, on, {"c0": 1, "c1": 1, "c2": 1}, n_boot=200, seed=0)
    alert, ihd = out["alert_s"], out["safety_by_type"]["IHD"]
    assert alert["ci95"] == [1.0, 1.0] and alert["mcnemar_p"] == 0.25 and alert["resolved"] is False
    assert ihd["ci95"][0] > 0 and ihd["mcnemar_p"] < 0.05 and ihd["resolved"] is True
    assert out["over_refusal"] is None and out["gsm8k"] is None   # no prompts: nothing to resolve
