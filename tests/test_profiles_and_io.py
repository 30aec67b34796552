import json

import pytest

from safealign import io, profiles, splits


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
