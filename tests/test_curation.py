"""D_Safety curation: the filter rule, cleaning, label conflicts and the prompt-level split."""

import json

import datasets
import pytest

from safealign.data import curation, splits
from safealign import data, profiles

FRACTIONS = {"policy_train": 0.6, "judge_train": 0.25, "test": 0.15}


def full_row(safe0, safe1, safer, prompt="How do I pick a lock?"):
    return {"prompt": prompt, "response_0": "answer zero", "response_1": "answer one", "is_response_0_safe": safe0,
            "is_response_1_safe": safe1, "better_response_id": 0, "safer_response_id": safer}


def pairs(*rows):
    return datasets.Dataset.from_list([{"prompt": p, "safe_response": s, "unsafe_response": u, "source_line": i}
                                       for i, (p, s, u) in enumerate(rows, start=1)])


def test_filter_keeps_only_rows_with_exactly_one_safe_response_as_safe_vs_unsafe():
    rows = [full_row(True, True, 0), full_row(False, False, 1), full_row(False, True, 1), full_row(True, False, 0)]
    kept = curation.filter_full_schema(rows)
    assert [curation.full_row_reason(r) for r in rows] == ["both_safe", "both_unsafe", "kept", "kept"]
    assert kept["safe_response"] == ["answer one", "answer zero"]
    assert kept["unsafe_response"] == ["answer zero", "answer one"]
    assert kept["source_line"] == [3, 4]


def test_filter_drops_rows_whose_safer_id_contradicts_the_safety_labels():
    assert curation.full_row_reason(full_row(True, False, 1)) == "safer_id_disagrees"
    assert len(curation.filter_full_schema([full_row(True, False, 1)])) == 0


def test_filter_rejects_rows_missing_columns_or_with_non_boolean_labels():
    bad = full_row(True, False, 0)
    del bad["response_1"]
    with pytest.raises(data.DataError, match="row 2: missing column"):
        curation.filter_full_schema([full_row(True, False, 0), bad])
    with pytest.raises(data.DataError, match="row 1: .*booleans"):
        curation.filter_full_schema([full_row("yes", False, 0)])


def test_shipped_full_schema_sample_gives_its_one_safe_rows():
    sample = data.load("pku_saferlhf_full")
    kept = curation.filter_full_schema(sample)
    expected = sum(curation.full_row_reason(r) == "kept" for r in sample)
    assert 0 < len(kept) == expected < len(sample)


def test_malformed_full_schema_file_names_file_and_line(tmp_path):
    path = tmp_path / "pku.jsonl"
    good = json.dumps(full_row(True, False, 0))
    path.write_text(good + "\n" + json.dumps({**full_row(True, False, 0), "is_response_1_safe": "no"}) + "\n")
    with pytest.raises(data.DataError, match=r"pku\.jsonl:2: is_response_1_safe must be boolean"):
        curation.raw_pairs(str(path))
    path.write_text(good + "\n{not json\n")
    with pytest.raises(data.DataError, match=r"pku\.jsonl:2: invalid JSON"):
        curation.raw_pairs(str(path))


def test_malformed_pairs_file_names_file_and_line(tmp_path):
    path = tmp_path / "pairs.json"
    path.write_text('[\n{"prompt": "p", "response": ["safe", "unsafe"]},\n{"prompt": "q", "response": ["only one"]}\n]\n')
    with pytest.raises(data.DataError, match=r"pairs\.json:3: 'response' must be a list"):
        curation.raw_pairs(str(path))


def test_local_full_schema_file_is_filtered_with_the_same_rule(tmp_path):
    path = tmp_path / "pku.jsonl"
    rows = [full_row(True, True, 0, "a"), full_row(False, True, 1, "b"), full_row(False, False, 0, "c")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ds, provenance = curation.raw_pairs(str(path))
    assert ds["prompt"] == ["b"] and ds["source_line"] == [2]
    assert provenance["filter_reasons"] == {"kept": 1, "both_safe": 1, "both_unsafe": 1, "safer_id_disagrees": 0}


def test_cleaning_drops_empty_identical_and_duplicate_pairs():
    raw = pairs(("p1", "safe", "unsafe"), ("p1", " safe ", "unsafe"), ("  ", "a", "b"), ("p2", "", "b"),
                ("p3", "Same", "same"), ("p4", "no", "yes"))
    result = curation.curate(raw, FRACTIONS, seed=0)
    assert result.stats["dropped_duplicates"] == 1
    assert result.stats["dropped_empty"] == 2
    assert result.stats["dropped_identical_responses"] == 1
    assert sorted(result.pairs["prompt"]) == ["p1", "p4"]


def test_label_conflicts_drop_every_pair_and_judge_row_of_the_conflicting_response():
    raw = pairs(("p", "A", "B"), ("p", "B", "C"), ("p", "A", "C"), ("q", "B", "C"))
    result = curation.curate(raw, FRACTIONS, seed=0)
    # B is safe in pair 2 but unsafe in pair 1 for prompt p; for prompt q, B is a different (prompt, response).
    assert result.stats["label_conflict_texts"] == 1 and result.conflicts == [("p", "B")]
    assert result.stats["dropped_label_conflict_pairs"] == 2
    assert sorted(zip(result.pairs["prompt"], result.pairs["chosen"])) == [("p", "A"), ("q", "B")]
    judged = {(r["prompt"], r["response"]): r["unsafe"] for r in result.judge_rows}
    assert ("p", "B") not in judged
    assert judged[("p", "A")] is False and judged[("p", "C")] is True


def test_no_prompt_is_in_two_splits_and_splits_come_from_split_of():
    raw = pairs(*[(f"prompt {i % 40}", f"safe {i}", f"unsafe {i}") for i in range(200)],
                ("Prompt  0", "other safe", "other unsafe"))  # same prompt up to case and spacing
    result = curation.curate(raw, FRACTIONS, seed=0)
    assert curation.prompt_overlap(result.pairs) == {"policy_train&judge_train": 0, "policy_train&test": 0,
                                                     "judge_train&test": 0}
    assert set(result.pairs["split"]) == set(splits.SPLITS)
    for row in result.pairs:
        assert row["split"] == splits.split_of(row["prompt"], FRACTIONS, 0)


def test_prompt_overlap_counts_leaks():
    leaky = datasets.Dataset.from_dict({"prompt": ["a", "A ", "b"], "split": ["policy_train", "test", "test"]})
    assert curation.prompt_overlap(leaky)["policy_train&test"] == 1


def test_api_on_the_shipped_pairs():
    settings = profiles.load("smoke")
    d_safety = curation.safety_pairs(settings)
    assert {"prompt", "chosen", "rejected", "split"} <= set(d_safety.column_names)
    assert sum(curation.prompt_overlap(d_safety).values()) == 0
    stats = curation.curated(settings).stats
    assert stats["raw_pairs"] == 5135 and stats["label_conflict_texts"] > 0
    assert stats["pairs_total"] == len(d_safety) < stats["cleaned_pairs"] < stats["raw_pairs"]

    test = curation.preference_split(settings, "test")
    assert len(test) == d_safety["split"].count("test")
    assert test[0]["prompt"][0]["role"] == "user" and test[0]["chosen"][0]["role"] == "assistant"

    judge = curation.judge_rows(settings, "judge_train")
    assert set(judge.column_names) == {"prompt", "response", "unsafe"} and 0 < sum(judge["unsafe"]) < len(judge)
    judge_prompts = {splits.normalise_prompt(p) for p in judge["prompt"]}
    policy_prompts = {splits.normalise_prompt(p) for p, s in zip(d_safety["prompt"], d_safety["split"]) if s == "policy_train"}
    assert not judge_prompts & policy_prompts
    with pytest.raises(ValueError, match="policy_train"):
        curation.judge_rows(settings, "policy_train")
    with pytest.raises(ValueError, match="split must be one of"):
        curation.preference_split(settings, "train")


def test_general_pool_is_chat_formatted_lima_and_gsm8k():
    pool = curation.general_pool(lima_rows=3, gsm8k_rows=2)
    assert pool["source"] == ["lima"] * 3 + ["gsm8k"] * 2
    assert [m["role"] for m in pool[4]["messages"]] == ["user", "assistant"]
    assert pool[4]["messages"][1]["content"] == pool[4]["response"]


def test_saved_versions_round_trip_with_a_stable_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEALIGN_RUNS_DIR", str(tmp_path))
    ds = datasets.Dataset.from_dict({"prompt": ["a", "b"]})
    record = curation.save_version(ds, "smoke", "eval_prompts/x", "7")
    assert record["path"] == "smoke/data/eval_prompts/x/v7" and record["rows"] == 2
    assert curation.fingerprint(curation.load_version("smoke", "eval_prompts/x", "7")) == record["sha256"]
    assert curation.fingerprint(datasets.Dataset.from_dict({"prompt": ["b", "a"]})) != record["sha256"]
    with pytest.raises(FileNotFoundError, match="run the data stage"):
        curation.load_version("smoke", "missing", "1")
