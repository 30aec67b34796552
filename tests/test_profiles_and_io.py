import dataclasses
import json

import pytest

from safealign import io, profiles
from safealign.data import splits


def test_every_profile_loads_with_defaults_merged_under_it():
    for name in ("smoke", "cpu", "gpu"):
        settings = profiles.load(name)
        assert settings["name"] == name
        assert set(settings["splits"]) == set(splits.SPLITS)
    assert profiles.load("smoke")["policy_model"] == "tiny-random-smollm2"
    assert profiles.load("cpu")["policy_model"] == "smollm2-135m-instruct"


def test_a_profile_overrides_only_what_it_names():
    smoke, cpu = profiles.load("smoke"), profiles.load("cpu")
    assert smoke["overview"]["max_new_tokens"] < cpu["overview"]["max_new_tokens"]
    assert smoke["splits"] == cpu["splits"]


def test_unknown_profile_is_named_in_the_error():
    with pytest.raises(profiles.ProfileError, match="'laptop'.*parameter `profile`"):
        profiles.load("laptop")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "r.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-way")
    assert json.loads(target.read_text()) == {"a": 1}
    assert list(tmp_path.iterdir()) == [target]


def test_prompt_split_is_deterministic_exclusive_and_near_the_fractions():
    fractions = {"policy_train": 0.6, "judge_train": 0.25, "test": 0.15}
    prompts = [f"prompt number {i}" for i in range(4000)]
    first = [splits.split_of(p, fractions) for p in prompts]
    assert first == [splits.split_of(p, fractions) for p in prompts]
    assert splits.split_of("How do I  pick a lock?", fractions) == splits.split_of("how do i pick a lock?", fractions)
    for name, share in fractions.items():
        assert abs(first.count(name) / len(prompts) - share) < 0.03
    assert first != [splits.split_of(p, fractions, seed=1) for p in prompts]


def test_bad_split_fractions_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        splits.split_of("x", {"policy_train": 0.5, "judge_train": 0.2, "test": 0.2})
    with pytest.raises(ValueError, match="exactly"):
        splits.split_of("x", {"train": 1.0})


# ---------------------------------------------------------------------------------------------
# typed settings


def _with(tmp_path, monkeypatch, body: str):
    path = tmp_path / "mine.yaml"
    path.write_text(body)
    monkeypatch.setenv("SAFEALIGN_PROFILES", str(path))
    return path


def test_settings_are_typed_and_frozen():
    settings = profiles.load("cpu")
    assert settings.eval.alert.per_category == settings["eval"]["alert"]["per_category"]
    assert isinstance(settings.align.hyper.learning_rate, float) and settings.name == "cpu"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.seed = 1


def test_an_unknown_key_is_rejected_naming_the_key_and_the_profile(tmp_path, monkeypatch):
    _with(tmp_path, monkeypatch, "laptop:\n  eval:\n    alert: {per_categroy: 2}\n")
    with pytest.raises(profiles.ProfileError, match=r"profile 'laptop' \(.*mine.yaml\): unknown key eval.alert.per_categroy"):
        profiles.load("laptop")


def test_a_missing_or_mistyped_key_is_rejected_by_name():
    values = profiles.load("smoke").to_dict()
    del values["eval"]["xstest"]["per_type"]
    with pytest.raises(profiles.ProfileError, match="missing key eval.xstest.per_type"):
        profiles.from_dict(values, "smoke")
    with pytest.raises(profiles.ProfileError, match="'eval.common.batch_size' is 'many', expected an integer"):
        profiles.override(profiles.load("smoke"), {"eval.common.batch_size": "many"})
    with pytest.raises(profiles.ProfileError, match="unknown key 'eval.alert.nope'"):
        profiles.override(profiles.load("smoke"), {"eval.alert.nope": 1})


def test_a_user_profile_file_adds_profiles_over_the_books_defaults(tmp_path, monkeypatch):
    _with(tmp_path, monkeypatch, "laptop:\n  eval:\n    alert: {per_category: 7}\n")
    laptop = profiles.load("laptop")
    assert laptop.eval.alert.per_category == 7 and laptop.eval.xstest == profiles.load("cpu").eval.xstest
    assert "laptop" in profiles.names()
