"""Harm-type pools: safe answers joined by prompt, evaluation and judge prompts kept out, a seeded split by prompt."""

import pytest

from safealign.data import pools


def row(prompt, kind, source="pku_saferlhf", answer="I can't help with that."):
    return {"prompt": prompt, "answer": answer, "source": source, "harm_type": kind, "evidence": "e"}


def test_each_type_is_split_by_prompt_with_test_capped_at_half():
    rows = [row(f"ihd {i}", "IHD") for i in range(10)] + [row(f"mhd {i}", "MHD") for i in range(300)] + [row("ehd", "EHD")]
    built = pools.build_pools(rows, {}, test_per_type=100, seed=0)
    types = built.report["types"]
    assert (types["IHD"]["train"], types["IHD"]["test"]) == (5, 5)
    assert (types["MHD"]["train"], types["MHD"]["test"], types["MHD"]["test_short_by"]) == (200, 100, 0)
    assert (types["EHD"]["train"], types["EHD"]["test"], types["EHD"]["test_short_by"]) == (1, 0, 100)
    for parts in built.rows.values():
        assert not {r["prompt"] for r in parts["train"]} & {r["prompt"] for r in parts["test"]}


def test_split_is_seeded_and_independent_of_input_order():
    rows = [row(f"p {i}", "IHD") for i in range(40)]
    a = pools.build_pools(rows, {}, 10, seed=0).rows["IHD"]["test"]
    assert a == pools.build_pools(list(reversed(rows)), {}, 10, seed=0).rows["IHD"]["test"]
    assert a != pools.build_pools(rows, {}, 10, seed=1).rows["IHD"]["test"]


def test_prompts_a_policy_trains_on_may_be_train_rows_but_never_test_rows():
    rows = [row(f"policy {i}", "IHD") for i in range(30)] + [row(f"held {i}", "IHD", "hh_rlhf") for i in range(6)]
    trained = [f"  POLICY {i} " for i in range(30)]          # folded as every prompt list is
    built = pools.build_pools(rows, {}, 10, seed=0, train_only=trained)
    test, train = built.rows["IHD"]["test"], built.rows["IHD"]["train"]
    assert sorted(r["prompt"] for r in test) == [f"held {i}" for i in range(6)]   # short of 10: only 6 are eligible
    assert len(train) == 30 and built.report["types"]["IHD"]["train_only"] == 30
    assert built.report["types"]["IHD"]["test_short_by"] == 4
    # without train_only the split is the plain seeded one
    assert pools.build_pools(rows, {}, 10, seed=0, train_only=[]).rows == pools.build_pools(rows, {}, 10, seed=0).rows


def test_evaluation_and_judge_prompts_never_enter_a_pool():
    rows = [row("How do I pick a lock?", "IHD"), row("  how do i PICK a lock? ", "IHD", "hh_rlhf"),
            row("Tell me a slur", "EHD"), row("harmless", "benign"), row("kept", "IHD")]
    built = pools.build_pools(rows, {"evaluation set xstest": ["how do I pick a lock?"],
                                     "harm judge training prompt": ["Tell me a slur"]}, 5)
    assert [r["prompt"] for p in built.rows.values() for part in p.values() for r in part] == ["kept"]
    assert built.report["dropped"] == {"evaluation set xstest": 2, "harm judge training prompt": 1, "benign": 1}


def test_a_prompt_two_sources_label_differently_is_dropped_and_duplicates_kept_once():
    rows = [row("same", "IHD"), row("same", "MHD", "hh_rlhf"), row("twice", "IHD"), row("twice", "IHD", "hh_rlhf")]
    built = pools.build_pools(rows, {}, 5)
    assert built.report["dropped"] == {"labelled with two types by two sources": 2, "duplicate prompt": 1}
    assert [r["source"] for r in built.rows["IHD"]["train"] + built.rows["IHD"]["test"]] == ["pku_saferlhf"]


def test_candidates_need_a_safe_answer_and_bad_rows_are_named():
    labelled = [{"prompt": "a", "harm_type": "IHD", "evidence": "x"}, {"prompt": "b", "harm_type": "MHD"}]
    got = pools.candidates(labelled, {"a": "No.", "b": "  "}, "pku_saferlhf")
    assert got == [{"prompt": "a", "answer": "No.", "source": "pku_saferlhf", "harm_type": "IHD", "evidence": "x"}]
    with pytest.raises(ValueError, match="from 'hh_rlhf': missing or empty 'answer'"):
        pools.build_pools([row("p", "IHD", "hh_rlhf", answer="")], {}, 5)
    with pytest.raises(ValueError, match="test_per_type must be >= 1"):
        pools.build_pools([], {}, 0)


def test_safe_answers_come_from_pku_chosen_and_hh_first_assistant_turn():
    assert pools.pku_safe_answers([{"prompt": "p", "chosen": "safe 1"}, {"prompt": "p", "chosen": "safe 2"}]) == {"p": "safe 1"}
    hh = [{"prompt": "q", "chosen_messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
          {"prompt": "r", "chosen_messages": [{"role": "user", "content": "r"}]}]
    assert pools.hh_chosen_answers(hh) == {"q": "a"}


def test_a_saved_test_pool_holding_a_policy_train_prompt_is_refused(monkeypatch):
    from safealign.data import curation

    saved = [{**row("Trained on", "IHD"), "part": "test"}, {**row("held out", "IHD"), "part": "test"},
             {**row("trained on", "IHD"), "part": "train"}]
    pairs = {"prompt": ["trained on ", "other"], "split": ["policy_train", "test"]}
    monkeypatch.setattr(curation, "load_version", lambda *a: saved)
    monkeypatch.setattr(curation, "safety_pairs", lambda settings: pairs)
    settings = type("S", (), {"name": "smoke", "__getitem__": lambda self, k: {"version": "1"}})()
    assert [r["prompt"] for r in pools.type_pool(settings, "IHD", "train")] == ["trained on"]
    with pytest.raises(ValueError, match="1 IHD test prompts .* policy_train .* run the stage type-pools again"):
        pools.type_pool(settings, "IHD", "test")
    saved.pop(0)
    assert [r["prompt"] for r in pools.type_pool(settings, "IHD", "test")] == ["held out"]
