import gzip
import json
import shutil

import pytest

from safealign import data, paths
from safealign.data import paper_b_sources  # noqa: F401  (registers paper B's extra datasets)
from safealign.judges import label_sources as _judge_label_sets  # noqa: F401  (registers the judge-label loaders)

EXPECTED_ROWS = {
    "pku_saferlhf_pairs": 5135, "pku_saferlhf_full": 37, "alert": 2178, "alert_adversarial": 1330,
    "decodingtrust_toxicity": 4796, "hh_rlhf_harmless": 2312, "xstest_prompts": 450, "xstest_completions": 1800,
    "hurtlex": 8228, "lima": 1029, "gsm8k": 7473 + 1319, "mmlu": 14042, "mmlu_pro": 12032, "bbh": 6511,
    "ifeval": 541, "gpqa_diamond": 198, "math": 5000, "hellaswag": 10042,
    "gptfuzz": 6160, "safe_rlhf_mini": 4000, "jailjudge_mini": 1000, "diasafety": 9017 + 1097 + 1095,
    "coconot_pref": 927, "coconot_contrast": 379, "coconot_noncompliance": 1001, "openai_moderation": 1680, "xstest_gpteval": 1800, "xstest_streval": 1800,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ROWS))
def test_every_shipped_dataset_loads_with_its_documented_row_count(name):
    assert len(data.load(name)) == EXPECTED_ROWS[name]


def test_every_registered_dataset_is_covered_by_a_row_count():
    assert set(data.names()) - set(EXPECTED_ROWS) <= {"toxic_spans", "mc"}


def test_alert_prompts_lose_the_instruction_wrapper():
    row = data.load("alert")[0]
    assert row["raw_prompt"].startswith("### Instruction:")
    assert "###" not in row["prompt"] and row["prompt"]
    assert len(set(data.load("alert")["category"])) == 32
    assert set(data.load("alert_adversarial")["attack_type"]) == {
        "adversarial_suffix", "adversarial_prefix", "token_manipulation", "jailbreaking"}


def test_xstest_completion_labels_are_normalised():
    labels = set(data.load("xstest_completions")["final_label"])
    assert labels == {"full_compliance", "full_refusal", "partial_refusal"}


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of two shipped files plus the manifest, to corrupt safely."""
    src = paths.data_dir()
    for rel in ["MANIFEST.json", "safety/alert/alert_sample.jsonl", "safety/pku_saferlhf/v0_test_safe_vs_unsafe_5k.json",
                "safety/hh_rlhf/harmless_base_test.jsonl.gz"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, tmp_path / rel)
    monkeypatch.setenv("SAFEALIGN_DATA_DIR", str(tmp_path))
    return tmp_path


def _refresh_manifest(root, rel):
    from safealign import io

    manifest = json.loads((root / "MANIFEST.json").read_text())
    for entry in manifest:
        if entry["file"] == rel:
            entry["sha256"] = io.sha256_file(root / rel)
    (root / "MANIFEST.json").write_text(json.dumps(manifest))
    data._manifest.cache_clear()


def test_a_file_whose_hash_differs_from_the_manifest_is_refused(data_copy):
    rel = "safety/alert/alert_sample.jsonl"
    with open(data_copy / rel, "a") as f:
        f.write('{"category": "x", "prompt": "y", "id": 1}\n')
    data._manifest.cache_clear()
    with pytest.raises(data.DataError, match=r"alert_sample\.jsonl: sha256 .* does not match MANIFEST"):
        data.load("alert")


def _replace_line(root, rel, line_number, text):
    """Overwrite one line of a copied shipped file and re-hash it, so only the row check can fail."""
    lines = (root / rel).read_text().splitlines()
    lines[line_number - 1] = text
    (root / rel).write_text("\n".join(lines) + "\n")
    _refresh_manifest(root, rel)


def test_a_malformed_jsonl_line_is_named_by_file_and_line(data_copy):
    _replace_line(data_copy, "safety/alert/alert_sample.jsonl", 7, '{"category": "crime_theft", "prompt": ')
    with pytest.raises(data.DataError, match=r"alert_sample\.jsonl:7: invalid JSON"):
        data.load("alert")


def test_a_row_missing_a_field_is_named_by_file_and_line(data_copy):
    _replace_line(data_copy, "safety/alert/alert_sample.jsonl", 3,
                  json.dumps({"prompt": "### Instruction:\nhi\n### Response:\n", "id": 2}))
    with pytest.raises(data.DataError, match=r"alert_sample\.jsonl:3: missing field 'category'"):
        data.load("alert")


def test_a_malformed_preference_pair_is_named_by_file_and_line(data_copy):
    rel = "safety/pku_saferlhf/v0_test_safe_vs_unsafe_5k.json"
    rows = json.loads((data_copy / rel).read_text())
    rows[1]["response"] = ["only one answer"]
    (data_copy / rel).write_text(json.dumps(rows, indent=4))
    _refresh_manifest(data_copy, rel)
    # each item spans 7 lines in this layout ('[' on line 1): item 2 starts on line 9
    with pytest.raises(data.DataError, match=r"v0_test_safe_vs_unsafe_5k\.json:9: 'response' must be a list"):
        data.load("pku_saferlhf_pairs")


def test_moderation_labels_keep_unlabelled_apart_and_a_bad_label_is_named(tmp_path, monkeypatch):
    rows = data.load("openai_moderation")
    assert sum(rows["any_harm"]) == 522 and None in set(rows["S3"])
    rel = "safety/openai_moderation/samples-1680.jsonl.gz"
    shutil.copy(paths.data_dir() / "MANIFEST.json", tmp_path / "MANIFEST.json")
    (tmp_path / rel).parent.mkdir(parents=True)
    with gzip.open(paths.data_dir() / rel, "rt") as f:
        lines = f.read().splitlines()
    lines[4] = json.dumps({"prompt": "hello", "S": 2})
    with gzip.open(tmp_path / rel, "wt") as f:
        f.write("\n".join(lines) + "\n")
    monkeypatch.setenv("SAFEALIGN_DATA_DIR", str(tmp_path))
    _refresh_manifest(tmp_path, rel)
    with pytest.raises(data.DataError, match=r"samples-1680\.jsonl\.gz:5: label 'S' is 2"):
        data.load("openai_moderation")
    data._manifest.cache_clear()


def test_a_missing_data_dir_says_how_to_point_at_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFEALIGN_DATA_DIR", str(tmp_path / "nowhere"))
    data._manifest.cache_clear()
    with pytest.raises(data.DataError, match="SAFEALIGN_DATA_DIR"):
        data.load("alert")
    data._manifest.cache_clear()


def test_the_public_dataset_path_maps_hub_rows_to_the_same_schema():
    """Users with the hub dataset go through load_public; here it reads the shipped files as a local source."""
    shipped = data.load("pku_saferlhf_full")
    public = data.load("pku_saferlhf_full", source=str(paths.data_dir() / "safety/pku_saferlhf/alpaca7b_test_full_schema_sample.jsonl"))
    assert public.column_names == shipped.column_names
    assert public.to_list() == shipped.to_list()
    alert = data.load("alert", source=str(paths.data_dir() / "safety/alert/alert_sample.jsonl"))
    assert alert["prompt"] == data.load("alert")["prompt"]


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(data.DataError, match="unknown dataset 'beavertails'.*known"):
        data.load("beavertails")


def test_chat_pairs_give_trl_conversational_format():
    pairs = data.load("pku_saferlhf_pairs").select(range(3))
    chat = data.chat_pairs(pairs, chosen="safe_response", rejected="unsafe_response")
    row = chat[0]
    assert row["prompt"] == [{"role": "user", "content": pairs[0]["prompt"]}]
    assert row["chosen"][0]["role"] == "assistant" and row["chosen"][0]["content"] == pairs[0]["safe_response"]
